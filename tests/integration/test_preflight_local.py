"""`silvereye preflight` on this very machine, through the real CLI.

First as the machine is (it must pass: on the project's machines KVM is
present but unusable, which is a warning, not a failure); then made to look
sick with a facts file — no vmx/svm, no /dev/kvm, 1 GiB of memory, a hostname
on 127.0.1.1 — while the API port is taken by a real listener this test opens.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from silvereye.preflight.model import REGISTRY
from silvereye.preflight.roles import Role
from silvereye.preflight.runner import checks_for
from tests.fixtures.sshd import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS and k != "SILVEREYE_CONFIG"}
    return {**env, **extra}


def preflight(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "silvereye", "preflight", *args],
        capture_output=True, text=True, cwd=REPO, env=env or clean_env(), timeout=300,
    )  # fmt: skip


@pytest.fixture
def cfg_file(tmp_path) -> Path:
    """This machine's defaults, but with ports no other test uses.

    (The data directory stays the default: one under pytest's private /tmp
    directory would rightly fail image-path-access, QEMU's user cannot reach it.)
    """
    path = tmp_path / "silvereye.yaml"
    path.write_text(yaml.safe_dump({
        "api": {"port": free_port()},
        "network": {"metadata_port": free_port()},
    }))  # fmt: skip
    return path


def findings(stdout: str) -> dict[str, dict]:
    (host,) = json.loads(stdout)["hosts"]
    return {f["id"]: f for f in host["findings"]}


def test_this_machine_passes_and_kvm_is_at_worst_a_warning(cfg_file):
    r = preflight("--config", str(cfg_file))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for c in checks_for(Role.ciab):
        assert any(ln.startswith(f"Checking for {c.title} ") for ln in lines), c.title
    kvm = next(ln for ln in lines if ln.startswith("Checking for a usable KVM"))
    if os.path.exists("/dev/kvm") and "WARN" in kvm:
        assert "KVM is present but unusable" in kvm
        assert "instances will run under software emulation (TCG), several times slower" in kvm
    else:
        assert re.search(r": (PASS|WARN) ", kvm), kvm
    assert re.search(r"^localhost: \d+ checks: \d+ passed, .* 0 failures$", r.stdout, re.M)
    assert "Traceback" not in r.stderr


def test_json_lists_30_or_more_findings_with_every_field(cfg_file):
    r = preflight("--config", str(cfg_file), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    (host,) = doc["hosts"]
    assert len(host["findings"]) >= 30
    assert len(host["findings"]) == len(REGISTRY)
    for f in host["findings"]:
        assert {"id", "title", "status", "detail", "remedy", "fixable"} <= set(f)
        assert f["detail"]


def sick_facts(tmp_path: Path) -> Path:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpuinfo = re.sub(r"\b(vmx|svm)\b", "", cpuinfo)
    facts = {
        "files": {
            "/proc/cpuinfo": cpuinfo,
            "/proc/meminfo": "MemTotal:        1048576 kB\nMemFree:          524288 kB\n",
            "/proc/sys/kernel/hostname": "preflight-sick\n",
            "/sys/module/kvm_intel": None,
            "/sys/module/kvm_amd": None,
        },
        "stats": {"/dev/kvm": None},
        "commands": {"getent ahostsv4 preflight-sick": "127.0.1.1       STREAM preflight-sick\n127.0.1.1       DGRAM\n"},
    }
    path = tmp_path / "sick.json"
    path.write_text(json.dumps(facts))
    return path


def test_a_sick_host_fails_with_remedies_and_ignore_turns_it_to_zero(tmp_path, cfg_file):
    facts = sick_facts(tmp_path)
    port = yaml.safe_load(cfg_file.read_text())["api"]["port"]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()

        r = preflight("--config", str(cfg_file), "--facts", str(facts), "--json")
        assert r.returncode == 1, r.stdout + r.stderr
        got = findings(r.stdout)
        assert got["memory"]["status"] == "fail"
        assert got["memory"]["detail"].startswith("1.0 GiB of memory")
        assert "add memory" in got["memory"]["remedy"]
        assert got["api-ports-free"]["status"] == "fail"
        assert f"port {port}/tcp (api.port) is taken by python" in got["api-ports-free"]["detail"]
        assert f"pid {os.getpid()}" in got["api-ports-free"]["detail"]
        assert f"api.port in {cfg_file}" in got["api-ports-free"]["remedy"]
        assert got["hostname-resolves"]["status"] == "warn"  # a cloud-in-a-box reaches itself by address
        assert "resolves to 127.0.1.1, a loopback address" in got["hostname-resolves"]["detail"]
        assert got["hostname-resolves"]["remedy"].endswith(" preflight-sick' to /etc/hosts")
        assert got["hostname-resolves"]["fixable"] is True
        for kvm_check in ("cpu-virt-flags", "kvm-device", "kvm-usable"):
            assert got[kvm_check]["status"] == "warn", got[kvm_check]
            assert "software emulation (TCG)" in got[kvm_check]["detail"]
        assert got["cpu-virt-flags"]["detail"].startswith("the CPU shows neither vmx nor svm")
        assert "VT-x" in got["cpu-virt-flags"]["remedy"]

        text = preflight("--config", str(cfg_file), "--facts", str(facts))
        assert text.returncode == 1
        assert "To ignore these failures, rerun with --ignore memory,api-ports-free (or --ignore all)." in text.stdout

        ignored = preflight("--config", str(cfg_file), "--facts", str(facts), "--ignore", "memory,API-PORTS-FREE")
        assert ignored.returncode == 0, ignored.stdout
        assert "Failures ignored by --ignore: memory, api-ports-free." in ignored.stdout

        # A frontend and its nodes find each other by name: there a loopback hostname is a failure.
        frontend = preflight("--config", str(cfg_file), "--facts", str(facts), "--role", "frontend", "--json")
        assert frontend.returncode == 1
        assert findings(frontend.stdout)["hostname-resolves"]["status"] == "fail"
        assert preflight("--config", str(cfg_file), "--facts", str(facts), "--role", "frontend",
                         "--ignore", "memory,api-ports-free,hostname-resolves").returncode == 0  # fmt: skip


def test_bad_options_are_one_line(cfg_file):
    r = preflight("--config", str(cfg_file), "--ignore", "memroy")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error: --ignore: no check is called memroy")
    r = preflight("--role", "cloud")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = preflight("--config", str(cfg_file), "--interface", "em9")
    assert r.returncode == 1
    assert re.search(r"primary interface \.+ : FAIL \(em9 does not exist", r.stdout)
