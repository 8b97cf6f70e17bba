"""README's cloud command on this machine, for real: the default paths, port 8773, the `silvereye`
network; then a user's first instance with boto3; then `silvereye uninstall` leaves nothing behind.

This is the acceptance run, so it uses the real host paths (/etc/silvereye, /var/lib/silvereye,
/var/log/silvereye, /run/silvereye, ~/.aws, ~/.silvereye). It refuses to run where silvereye is
already installed for real, so it never takes someone's cloud away.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MANIFEST = Path("/var/lib/silvereye/install/manifest.json")
HOST_PATHS = [Path("/etc/silvereye"), Path("/var/lib/silvereye"), Path("/var/log/silvereye"), Path("/run/silvereye"),
              Path("/etc/sysctl.d/60-silvereye.conf"), Path("/etc/logrotate.d/silvereye"),
              Path("/etc/systemd/system/silvereye.service"), Path.home() / ".silvereye"]


def silvereye(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "silvereye", *args], capture_output=True, text=True, cwd=REPO,
                       timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"})
    if check and r.returncode != 0:
        raise AssertionError(f"silvereye {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def readme_cloud_command() -> list[str]:
    """The command README gives for bringing the cloud up (and the script's own last line)."""
    readme = (REPO / "README.md").read_text()
    m = re.search(r"\*\*Bring up the cloud\*\*.*?\n\n    (\S+)\n", readme, re.S)
    assert m, "README has no 'Bring up the cloud' command"
    script = REPO / m.group(1)
    assert script.read_text().rstrip().splitlines()[-1].endswith("silvereye install --cloud-in-a-box --yes \"$@\"")
    return [str(script)]


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def cloud():
    if MANIFEST.exists():
        pytest.skip(f"silvereye is installed on this host for real ({MANIFEST}); this test would remove it")
    pytest.importorskip("silvereye.services.ec2", reason="EC2 has not landed on this branch yet")
    r = subprocess.run(readme_cloud_command(), capture_output=True, text=True, cwd=REPO, timeout=3600,
                       env={**os.environ, "NO_COLOR": "1"})
    try:
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
        yield r.stdout
    finally:
        if MANIFEST.exists():
            silvereye("uninstall", "--yes", check=False)


def test_readme_cloud_command_runs_an_instance_and_uninstall_leaves_nothing(cloud):
    import boto3

    assert "silvereye is installed (cloud-in-a-box)" in cloud or "Nothing changed" in cloud
    image_id = re.search(r"default image\s+(\S+)", cloud).group(1)

    ec2 = boto3.Session(profile_name="silvereye").client("ec2")
    assert [i["ImageId"] for i in ec2.describe_images(ImageIds=[image_id])["Images"]] == [image_id]
    run = ec2.run_instances(ImageId=image_id, InstanceType="t1.micro", MinCount=1, MaxCount=1)
    instance_id = run["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 2, "MaxAttempts": 60})

    status = json.loads(silvereye("status", "--json").stdout)
    assert status["healthy"], status

    silvereye("uninstall", "--yes")
    domains = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True).stdout
    assert instance_id not in domains
    assert list(Path("/var/log/libvirt/qemu").glob(f"*{instance_id}*")) == []
    assert subprocess.run(["virsh", "-c", "qemu:///system", "net-info", "silvereye"], capture_output=True).returncode != 0
    assert "table ip silvereye\n" not in nft_tables() + "\n"
    assert [str(p) for p in HOST_PATHS if p.exists()] == []
    aws_files = [Path.home() / ".aws" / "config", Path.home() / ".aws" / "credentials"]
    assert not any("silvereye" in p.read_text() for p in aws_files if p.exists())
