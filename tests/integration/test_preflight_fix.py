"""`silvereye preflight --fix` for real, fenced off from the shared machine.

The command runs in its own mount and network namespaces (unshare): /etc/hosts,
/etc/sysctl.d and /etc/modules-load.d are bind-mounted copies, and the
primary interface is one end of a veth pair with a default route, so the fixes
really write files and run commands while the machine's own files stay as
they were.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.sshd import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
FENCED = ("/etc/hosts", "/etc/sysctl.d", "/etc/modules-load.d")


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_fix_changes_the_fenced_host_reports_each_change_and_checks_again(tmp_path):
    if not all(os.path.exists(p) for p in FENCED):
        pytest.skip("a fenced path is missing, so --fix would write to the real /etc")
    name = socket.gethostname()
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n")
    sysctl_d, modules_d = tmp_path / "sysctl.d", tmp_path / "modules-load.d"
    sysctl_d.mkdir()
    modules_d.mkdir()
    cfg = tmp_path / "silvereye.yaml"
    cfg.write_text(yaml.safe_dump({"api": {"port": free_port()}, "network": {"metadata_port": free_port()}}))
    real_hosts = Path("/etc/hosts").read_bytes()
    script = "\n".join([
        "set -e",
        f"mount --bind {shlex.quote(str(hosts))} /etc/hosts",
        f"mount --bind {shlex.quote(str(sysctl_d))} /etc/sysctl.d",
        f"mount --bind {shlex.quote(str(modules_d))} /etc/modules-load.d",
        "mount -t sysfs sysfs /sys",  # /sys/class/net of this namespace, not the machine's
        "ip link set lo up",
        "ip link add pf0 type veth peer name pf1",
        "ip addr add 10.77.0.2/24 dev pf0",
        "ip link set pf1 up",
        "ip link set pf0 up",
        "ip route add default via 10.77.0.1 dev pf0",
        "echo 0 > /proc/sys/net/ipv4/ip_forward",
        f"exec {shlex.quote(sys.executable)} -m silvereye preflight --fix --role node --config {shlex.quote(str(cfg))}",
    ])  # fmt: skip
    r = subprocess.run(["unshare", "--mount", "--net", "sh", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    out = r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    first, _, second = out.partition("Checking again after those changes:")
    assert second, out + r.stderr

    assert f"FAIL ('{name}' resolves to 127.0.1.1, a loopback address" in first
    assert f"  changed: /etc/hosts now maps {name} to 10.77.0.2 (and no longer to a loopback address)" in first
    assert hosts.read_text() == f"127.0.0.1\tlocalhost\n10.77.0.2\t{name}\n"
    assert f"PASS ('{name}' resolves to 10.77.0.2 (pf0))" in second

    assert "WARN (net.ipv4.ip_forward is 0" in first
    assert "  changed: wrote net.ipv4.ip_forward = 1 to /etc/sysctl.d/60-silvereye.conf" in first
    assert (sysctl_d / "60-silvereye.conf").read_text().endswith("net.ipv4.ip_forward = 1\n")
    assert "PASS (on, and kept on by /etc/sysctl.d/60-silvereye.conf)" in second

    assert r.returncode == (1 if " : FAIL (" in second else 0)
    assert Path("/etc/hosts").read_bytes() == real_hosts
