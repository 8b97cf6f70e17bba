"""EC2 through `silvereye serve` in its own process, on libvirt's test driver, with the aws CLI and the CLI.

What lives across a restart: key pairs, images and records persist; the
test driver forgets its domains when the server restarts (a fresh node per
connection), which is what a host that lost its VMs looks like, and the
restarted server settles those instances as terminated with the reason.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.server import RunningServer

pytestmark = pytest.mark.integration

TEST_NODE = Path(__file__).resolve().parents[1] / "unit" / "compute" / "testnode.xml"


@pytest.fixture
def server(tmp_path):
    tag = secrets.token_hex(3)
    s = RunningServer(tmp_path, extra={
        "compute": {"libvirt_uri": f"test://{TEST_NODE}", "domain_type": "qemu"},
        "network": {"name": f"ec2-int-{tag}", "bridge": f"ei{tag}", "subnet": "10.215.0.0/24"},
    }).start()
    yield s
    s.kill()


def image_file(tmp_path: Path) -> Path:
    disk = tmp_path / "cirros.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    return disk


def wait_state(server, iid: str, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = json.loads(server.aws("ec2", "describe-instances", "--instance-ids", iid).stdout)[
            "Reservations"][0]["Instances"][0]
        if found["State"]["Name"] == state or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_images_install_from_file_and_the_aws_cli_session(server, tmp_path):
    installed = json.loads(server.cli("images", "install", "cirros-0.6.2", "--from-file", str(image_file(tmp_path)),
                                      "--json").stdout)
    again = json.loads(server.cli("images", "install", "cirros-0.6.2", "--from-file", str(image_file(tmp_path)),
                                  "--json").stdout)
    assert again == {**installed, "created": False}
    images = json.loads(server.aws("ec2", "describe-images", "--owners", "amazon").stdout)["Images"]
    assert [(i["ImageId"], i["Name"], i.get("KernelId")) for i in images] == [(installed["image_id"], "cirros-0.6.2", None)]

    server.aws("ec2", "create-key-pair", "--key-name", "cli", "--key-type", "ed25519")
    run = json.loads(server.aws("ec2", "run-instances", "--image-id", installed["image_id"], "--count", "3",
                                "--instance-type", "t1.micro", "--key-name", "cli",
                                "--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=cli}]").stdout)
    ids = sorted(i["InstanceId"] for i in run["Instances"])
    for iid in ids:
        assert wait_state(server, iid, "running")["State"]["Name"] == "running"
    listed = json.loads(server.aws("ec2", "describe-instances", "--filters", "Name=tag:Name,Values=cli",
                                   "Name=instance-state-name,Values=running", "--page-size", "5",
                                   "--query", "Reservations[].Instances[].InstanceId").stdout)
    assert sorted(listed) == ids
    server.aws("ec2", "stop-instances", "--instance-ids", ids[0])
    assert wait_state(server, ids[0], "stopped")["StateReason"]["Code"] == "Client.UserInitiatedShutdown"

    # The store keeps its records across a restart; the test node forgets its domains, which the
    # restarted server finds and settles (libvirt is the ground truth).
    server.restart()
    for iid in ids:
        gone = wait_state(server, iid, "terminated")
        assert gone["State"]["Name"] == "terminated", gone
        assert gone["StateReason"]["Code"] == "Server.InternalError"
    keys = json.loads(server.aws("ec2", "describe-key-pairs").stdout)["KeyPairs"]
    assert [(k["KeyName"], k["KeyType"]) for k in keys] == [("cli", "ed25519")]
    again = json.loads(server.aws("ec2", "run-instances", "--image-id", installed["image_id"], "--count", "1",
                                  "--instance-type", "t1.micro").stdout)["Instances"][0]["InstanceId"]
    assert wait_state(server, again, "running")["State"]["Name"] == "running"


def test_cli_errors_are_one_line(server, tmp_path):
    r = server.cli("images", "install", "no-such-image", check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no image called 'no-such-image'" in r.stderr
    r = server.cli("images", "install", "tiny", "--from-file", str(tmp_path), check=False)
    assert r.returncode == 1 and "drop --from-file" in r.stderr and "Traceback" not in r.stderr


def test_an_account_holding_instances_is_not_deleted_without_force(server, tmp_path):
    installed = json.loads(server.cli("images", "install", "cirros-0.6.2", "--from-file", str(image_file(tmp_path)),
                                      "--json").stdout)
    env = server.cli("account", "create", "tenant").stdout
    key_id = env.split("AWS_ACCESS_KEY_ID=")[1].split()[0].strip("'\"")
    secret = env.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0].strip("'\"")
    iid = json.loads(server.aws("ec2", "run-instances", "--image-id", installed["image_id"], "--count", "1",
                                "--instance-type", "t1.micro", access_key=key_id, secret_key=secret).stdout)[
        "Instances"][0]["InstanceId"]
    r = server.cli("account", "delete", "tenant", check=False)
    assert r.returncode == 1 and "1 EC2 instance" in r.stderr
    server.cli("account", "delete", "tenant", "--force")
    names = [a["name"] for a in json.loads(server.cli("account", "list", "--json").stdout)]
    assert "tenant" not in names and iid.startswith("i-")


def test_a_user_registers_shares_and_inspects_with_the_aws_cli(server, tmp_path):
    disk = image_file(tmp_path)
    server.aws("s3", "mb", "s3://my-images")
    server.aws("s3", "cp", str(disk), "s3://my-images/disks/mine.qcow2")
    image_id = json.loads(server.aws("ec2", "register-image", "--name", "mine", "--image-location",
                                     "my-images/disks/mine.qcow2").stdout)["ImageId"]
    server.aws("ec2", "modify-image-attribute", "--image-id", image_id, "--launch-permission", "Add=[{Group=all}]")
    assert json.loads(server.aws("ec2", "describe-image-attribute", "--image-id", image_id, "--attribute",
                                 "launchPermission").stdout)["LaunchPermissions"] == [{"Group": "all"}]
    assert json.loads(server.aws("ec2", "describe-images", "--image-ids", image_id).stdout)["Images"][0]["Public"]

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    imported = json.loads(server.aws("ec2", "import-key-pair", "--key-name", "mine", "--public-key-material",
                                     f"fileb://{key}.pub").stdout)
    printed = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True).stdout.split()[1]
    assert imported["KeyFingerprint"] == printed.removeprefix("SHA256:") + "="

    verbose = json.loads(server.aws("ec2", "describe-availability-zones", "--zone-names", "verbose").stdout)
    names = [z["ZoneName"] for z in verbose["AvailabilityZones"]]
    assert names[:2] == ["silvereye-1a", "|- vm types"] and "|- m1.small" in names
    small = next(z for z in verbose["AvailabilityZones"] if z["ZoneName"] == "|- m1.small")["State"]
    assert small.split()[1] == "/" and small.split()[3:5] == ["1", "256"]

    dry = server.aws("ec2", "run-instances", "--image-id", image_id, "--count", "1", "--dry-run", check=False)
    assert dry.returncode != 0 and "DryRunOperation" in dry.stderr
    missing = server.aws("ec2", "describe-instances", "--instance-ids", "i-0123456789abcdef0", check=False)
    assert "InvalidInstanceID.NotFound" in missing.stderr
