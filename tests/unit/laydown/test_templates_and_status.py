"""The host files' templates, and how status counts room per instance type."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from silvereye.laydown import status
from silvereye.laydown.hostfiles import render
from silvereye.laydown.service import serve_argv


def test_the_systemd_unit_runs_this_silvereye_and_appends_to_its_log():
    unit = render("silvereye.service.j2", role="cloud-in-a-box", log_file=Path("/var/log/silvereye/silvereye.log"),
                  exec_start=" ".join(serve_argv(Path("/etc/silvereye/silvereye.yaml"))))
    lines = unit.splitlines()
    assert "[Service]" in lines and "[Install]" in lines and "WantedBy=multi-user.target" in lines
    exec_start = next(ln for ln in lines if ln.startswith("ExecStart="))
    assert exec_start.endswith(" serve --config /etc/silvereye/silvereye.yaml")
    assert "StandardOutput=append:/var/log/silvereye/silvereye.log" in lines and "Restart=on-failure" in lines


def test_logrotate_copies_and_truncates_the_open_log():
    text = render("logrotate.j2", log_dir=Path("/var/log/silvereye"))
    assert text.startswith("# silvereye's logs") and "/var/log/silvereye/*.log {" in text and "copytruncate" in text


def test_the_aws_profile_names_the_endpoint_and_path_style_s3():
    body = render("aws-config-profile.j2", account="admin", profile="silvereye", region="silvereye-1",
                  endpoint="http://192.0.2.2:8773")
    assert "region = silvereye-1\nendpoint_url = http://192.0.2.2:8773\ns3 =\n    addressing_style = path\n" in body


@dataclasses.dataclass(frozen=True)
class Cap:
    node: str = "n1"
    cpus: int = 2
    memory_mib: int = 8192
    disk_total: int = 100 << 30
    disk_free: int = 40 << 30
    vcpus_used: int = 4
    memory_used_mib: int = 2048
    domains_running: int = 2


@dataclasses.dataclass(frozen=True)
class Room:
    node: str
    vcpus: float
    memory_mib: float
    disk_bytes: int


class Scheduler:
    """The scheduler's arithmetic (16 vCPUs per core, 512 MiB and 1 GiB kept back)."""

    def free_room(self, cap):
        return Room(cap.node, cap.cpus * 16 - cap.vcpus_used, cap.memory_mib - 512 - cap.memory_used_mib,
                    cap.disk_free - (1 << 30))


@dataclasses.dataclass(frozen=True)
class Type:
    name: str
    vcpus: int
    memory_mib: int
    root_gib: int = 0


def test_free_and_max_count_what_fits_now_and_on_the_empty_node():
    rows = status.room_per_type(Scheduler(), Cap(), [Type("t1.micro", 1, 256, 5), Type("m5.large", 2, 8192), Type("t2.small", 1, 2048)])
    got = {r.instance_type: (r.free, r.max) for r in rows}
    # t1.micro: memory 5632/256 = 22 now, 30 empty; disk 39 GiB/5 = 7 now, 99 GiB/5 = 19 empty; vCPUs 28 / 32.
    assert got["t1.micro"] == (7, 19)
    assert got["m5.large"] == (0, 0)  # 8 GiB never fits beside what is kept back
    assert got["t2.small"] == (2, 3)


def test_status_output_shows_each_component_and_the_zone_table():
    report = status.StatusReport("ciab", "silvereye-1a", "http://127.0.0.1:8773", [
        status.Component("service", status.OK, "running"),
        status.Component("metadata listener", status.DOWN, "nothing listens on 172.31.0.1:8775"),
    ], [status.NodeRoom("local", "qemu:///system", [status.TypeRoom("t1.micro", 7, 19, 1, 256, 5)])])
    out = io.StringIO()
    status.show(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "metadata listener  DOWN   nothing listens on 172.31.0.1:8775" in text
    assert "AVAILABILITYZONE  |- t1.micro     0007 / 0019     1   256     5" in text
    assert not report.healthy and "some components are down" in text
    assert report.to_dict()["components"][1] == {"name": "metadata listener", "state": "down",
                                                 "detail": "nothing listens on 172.31.0.1:8775"}


@pytest.mark.parametrize("url,shown", [
    ("postgresql://se:s3cret@db.example/se", "postgresql://se:***@db.example/se"),
    ("sqlite:////var/lib/silvereye/silvereye.db", "sqlite:////var/lib/silvereye/silvereye.db"),
])
def test_the_store_url_never_shows_a_password(url, shown):
    assert status._redact(url) == shown


def test_libvirt_leftovers_of_a_removed_network_go_but_a_live_one_stays(tmp_path):
    import os

    from silvereye.compute.hostfiles import LocalHost
    from silvereye.laydown.cloudsetup import forget_stale_runtime

    (tmp_path / "gone.pid").write_text("999999999\n")
    (tmp_path / "gone" / "ports").mkdir(parents=True)
    (tmp_path / "alive.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "odd name; rm -rf x").mkdir()
    forget_stale_runtime(LocalHost(), "gone", str(tmp_path))
    forget_stale_runtime(LocalHost(), "odd name; rm -rf x", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alive.pid"]


def test_only_this_clouds_instance_logs_are_forgotten(tmp_path):
    from silvereye.compute.hostfiles import LocalHost
    from silvereye.laydown.cloudsetup import forget_instance_logs

    logs = tmp_path / "qemu"
    logs.mkdir()
    (logs / "silvereye-i-0123456789abcdef0.log").write_text("-drive file=/srv/cloud/instances/i-0123456789abcdef0/root.qcow2\n")
    (logs / "silvereye-i-00000000000000000.log").write_text("-drive file=/srv/other/instances/i-00000000000000000/root.qcow2\n")
    (logs / "somebody-else.log").write_text("/srv/cloud/instances/\n")
    gone = forget_instance_logs(LocalHost(), Path("/srv/cloud/instances"), str(logs))
    assert gone == [str(logs / "silvereye-i-0123456789abcdef0.log")]
    assert sorted(p.name for p in logs.iterdir()) == ["silvereye-i-00000000000000000.log", "somebody-else.log"]
