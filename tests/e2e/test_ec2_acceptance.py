"""Acceptance: a user's classic first steps with the aws CLI and OpenSSH, against the endpoint.

create-key-pair, run-instances with the tiny image, describe-instances until
running, get-console-output, ssh in with the key, terminate-instances. The
cloud runs with its default domain type, ``auto`` (the KVM probe decides).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.e2e.ec2_cloud import auto_cloud  # noqa: F401 - a fixture
from tests.e2e.ec2_cloud import BOOT_LINE, BOOT_TIMEOUT, host_key_from_console

pytestmark = pytest.mark.e2e


def test_first_steps_with_the_aws_cli(auto_cloud, tmp_path):
    cloud = auto_cloud
    cloud.server.cli("images", "install", "tiny", timeout=900)
    aws = cloud.server.aws

    key = aws("ec2", "create-key-pair", "--key-name", "first-steps", "--query", "KeyMaterial", "--output", "text").stdout
    key_file = tmp_path / "first-steps.pem"
    key_file.write_text(key.strip() + "\n")
    key_file.chmod(0o600)

    image = aws("ec2", "describe-images", "--owners", "amazon", "--filters", "Name=name,Values=silvereye-tiny",
                "--query", "Images[0].ImageId", "--output", "text").stdout.strip()
    assert image.startswith("ami-")
    # As on AWS, the default group admits only its own members: open SSH for the host.
    aws("ec2", "authorize-security-group-ingress", "--group-name", "default", "--protocol", "tcp", "--port", "22",
        "--cidr", "0.0.0.0/0")
    run = json.loads(aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t2.nano", "--key-name",
                         "first-steps", "--count", "1").stdout)
    iid = run["Instances"][0]["InstanceId"]
    assert run["Instances"][0]["State"]["Name"] == "pending"

    deadline = time.monotonic() + 180
    while True:
        described = json.loads(aws("ec2", "describe-instances", "--instance-ids", iid).stdout)
        found = described["Reservations"][0]["Instances"][0]
        if found["State"]["Name"] == "running":
            break
        assert time.monotonic() < deadline, f"{iid} is still {found['State']['Name']}"
        time.sleep(1)
    address = found["PrivateIpAddress"]

    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        console = aws("ec2", "get-console-output", "--instance-id", iid, "--latest", "--query", "Output",
                      "--output", "text").stdout
        if BOOT_LINE in console:
            break
        assert time.monotonic() < deadline, f"no boot line from {iid}; console ends {console[-400:]!r}"
        time.sleep(2)
    assert f"instance-id={iid}" in console

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{address} ssh-ed25519 {host_key_from_console(console)}\n")
    ssh = subprocess.run(
        ["ssh", "-i", str(key_file), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=20", f"root@{address}",
         "cat /run/instance-id; wget -q -O - http://169.254.169.254/latest/meta-data/public-keys/0/openssh-key"],
        capture_output=True, text=True, timeout=120)
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.startswith(iid)
    assert "ssh-rsa" in ssh.stdout and "first-steps" in ssh.stdout

    ended = json.loads(aws("ec2", "terminate-instances", "--instance-ids", iid).stdout)
    assert ended["TerminatingInstances"][0]["CurrentState"]["Name"] == "shutting-down"
    aws("ec2", "wait", "instance-terminated", "--instance-ids", iid)
    state = aws("ec2", "describe-instances", "--instance-ids", iid, "--query",
                "Reservations[0].Instances[0].State.Name", "--output", "text").stdout.strip()
    assert state == "terminated"
