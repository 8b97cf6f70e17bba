"""The Host implementations and the parsers of the facts layer."""

from __future__ import annotations

import ipaddress
import json
import os

import pytest

from silvereye.errors import SilvereyeError
from silvereye.preflight.dict_host import DictHost, load_facts
from silvereye.preflight.facts import HostFacts, parse_proc_route, parse_proc_sockets
from silvereye.preflight.host import HostError
from silvereye.preflight.local_host import LocalHost
from silvereye.preflight.ssh_host import SSHTarget, parse_target


def test_dict_host_files_imply_their_directories():
    h = DictHost({"files": {"/sys/class/net/eth0/carrier": "1\n", "/sys/class/net/lo/flags": "0x9"}})
    assert h.read_file("/sys/class/net/eth0/carrier") == "1\n"
    assert h.stat("/sys/class/net/eth0").is_dir
    assert h.listdir("/sys/class/net") == ["eth0", "lo"]
    assert h.stat("/nope") is None and h.listdir("/nope") is None and h.read_file("/nope") is None


def test_dict_host_commands_and_missing_programs():
    h = DictHost({"commands": {"id -u": "0\n", "getent ahostsv4 x": {"rc": 2}}})
    assert h.run(["id", "-u"]).stdout == "0\n"
    assert h.run(["getent", "ahostsv4", "x"]).rc == 2
    assert h.run(["rm", "-rf", "/"]).rc == 127
    assert h.ran[-1] == ["rm", "-rf", "/"]


def test_dict_host_over_a_real_host_overrides_only_what_it_names(tmp_path):
    (tmp_path / "a").write_text("real a")
    (tmp_path / "b").write_text("real b")
    h = DictHost({"files": {str(tmp_path / "a"): "fake a", str(tmp_path / "b"): None}}, fallback=LocalHost())
    assert h.read_file(str(tmp_path / "a")) == "fake a"
    assert h.read_file(str(tmp_path / "b")) is None and h.stat(str(tmp_path / "b")) is None
    assert h.listdir(str(tmp_path)) == ["a"]
    assert h.run(["echo", "real"]).stdout == "real\n"
    with pytest.raises(SilvereyeError, match="leave out --facts"):
        h.write_file(str(tmp_path / "a"), "x")


def test_a_facts_file_is_validated(tmp_path):
    good = tmp_path / "facts.json"
    good.write_text(json.dumps({"files": {"/proc/meminfo": "MemTotal: 1 kB"}}))
    assert load_facts(good)["files"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"filez": {}}')
    with pytest.raises(SilvereyeError, match="expected an object with 'files'"):
        load_facts(bad)
    with pytest.raises(SilvereyeError, match="file not found"):
        load_facts(tmp_path / "missing.json")


def test_local_host_runs_argument_lists_and_never_raises_for_missing_programs(tmp_path):
    h = LocalHost()
    assert h.run(["printf", "%s", "a b; rm -rf /"]).stdout == "a b; rm -rf /"
    assert h.run(["no-such-program-preflight"]).rc == 127
    assert h.run(["sleep", "5"], timeout=0.2).rc == 124
    assert h.run(["ip", "-V"]).rc != 127  # sbin is searched even when PATH lacks it
    path = str(tmp_path / "f")
    h.write_file(path, "hello", mode=0o600)
    assert h.read_file(path) == "hello"
    assert oct(h.stat(path).mode & 0o777) == "0o600"
    assert os.listdir(tmp_path) == ["f"]  # no temporary file left behind


@pytest.mark.parametrize(
    "text, target",
    [
        ("node1", SSHTarget("root", "node1", 22)),
        ("root@node2:2222", SSHTarget("root", "node2", 2222)),
        ("admin@10.0.0.5", SSHTarget("admin", "10.0.0.5", 22)),
        ("root@[fd00::2]:2200", SSHTarget("root", "fd00::2", 2200)),
    ],
)
def test_host_targets(text, target):
    assert parse_target(text) == target


def test_known_hosts_names_follow_openssh():
    assert parse_target("root@127.0.0.1:2222").known_hosts_name == "[127.0.0.1]:2222"
    assert parse_target("node1").known_hosts_name == "node1"


@pytest.mark.parametrize("text", ["root@", "root@node1:0", "root@node1:70000", "a b", "root@node1;reboot"])
def test_bad_targets_are_one_line(text):
    with pytest.raises(HostError, match="expected \\[USER@\\]HOST\\[:PORT\\]"):
        parse_target(text)


def test_proc_net_sockets_parse_v4_and_v6():
    header = "  sl  local_address rem_address   st ...\n"
    v4 = header + "   0: 0100007F:2245 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1609 1\n"
    v6 = header + "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 77 1\n"
    (a,) = parse_proc_sockets(v4, "tcp")
    assert (str(a.address), a.port, a.wildcard) == ("127.0.0.1", 8773, False)
    (b,) = parse_proc_sockets(v6, "tcp")
    assert (str(b.address), b.port) == ("::1", 22)
    assert parse_proc_sockets(v4.replace(" 0A ", " 01 "), "tcp") == []  # established, not listening


def test_proc_net_route_gives_the_default_route():
    text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    (r,) = parse_proc_route(text)
    assert (r.dev, str(r.network), r.gateway) == ("eth0", "0.0.0.0/0", ipaddress.IPv4Address("192.0.2.1"))


def test_facts_of_this_machine_are_sane():
    f = HostFacts(LocalHost())
    assert f.uid == os.getuid()
    assert f.cpu_count == os.cpu_count()
    assert f.meminfo_kib["MemTotal"] > 0
    assert f.which("sh") and f.which("no-such-program-preflight") is None
    free, mount = f.disk_free("/definitely/not/here/yet")
    assert free > 0 and mount == "/"


def test_every_package_preflight_names_is_one_the_installer_installs():
    from silvereye.laydown import packages
    from silvereye.preflight import programs

    for family in ("debian", "el"):
        installed = {p for comp in packages.COMPONENTS.values() for p in comp[family]}
        for role_programs in list(programs.REQUIRED.values()) + list(programs.OPTIONAL.values()):
            for prog in role_programs:
                assert programs.package_for(prog, family) in installed, (family, prog.label)
