"""EBS volumes and snapshots as a user lives them, through the real server with boto3, on QEMU (TCG) guests.

Two tiny instances; a 1 GiB volume attached to the first while it runs, a
pattern written by the guest onto the device, detached, attached to the
second: the pattern is there. A snapshot of it (taken while the second
guest runs with it attached), a new volume from the snapshot on the first:
the same pattern. Attaching an attached volume and deleting an in-use one
get EC2's errors and change nothing; a volume attached to a stopped
instance shows up when it starts; terminating an instance frees its volumes and deletes those
marked DeleteOnTermination.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pytest

from tests.e2e.ec2_cloud import cloud  # noqa: F401 - a fixture
from tests.e2e.ec2_cloud import BOOT_LINE, host_key_from_console, instance, ssh, wait_console, wait_state

pytestmark = pytest.mark.e2e

MiB = 1 << 20


def wait_volume(ec2, volume_id: str, state: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        if found["State"] == state and all(a["State"] == "attached" for a in found["Attachments"]):
            return found
        assert time.monotonic() < deadline, f"{volume_id} is {found['State']}, not {state}: {found}"
        time.sleep(0.5)


def wait_snapshot(ec2, snapshot_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
        if found["State"] != "pending":
            return found
        assert time.monotonic() < deadline, f"{snapshot_id} is still pending at {found['Progress']}"
        time.sleep(0.5)


def expect_error(code: str, call, **kw) -> None:
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    assert info.value.response["Error"]["Code"] == code, info.value.response["Error"]


class Shell:
    """Root on a guest over SSH with the key pair, the host key read from its console."""

    def __init__(self, ec2, instance_id: str, key_pem: str, after: int = 0):
        self.instance_id = instance_id
        self.address = wait_state(ec2, instance_id, "running")["PrivateIpAddress"]
        self.key, self.host_key = key_pem, host_key_from_console(wait_console(ec2, instance_id, BOOT_LINE, after=after))

    def __call__(self, command: str) -> str:
        return ssh(self.address, self.key, self.host_key, command, timeout=120)

    def device_of(self, volume_id: str, timeout: float = 60) -> str:
        """The guest's name for a volume (vdb...), found by the serial EBS gives it (the id without its dash)."""
        serial = volume_id.replace("-", "")
        script = f'for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = {serial} ] && echo ${{d##*/}}; done; true'
        deadline = time.monotonic() + timeout
        while not (found := self(script).strip()):
            assert time.monotonic() < deadline, f"{self.instance_id} never showed {volume_id}"
            time.sleep(1)
        return found

    def gone(self, device: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self(f"test -e /sys/block/{device} && echo here || true").strip():
            assert time.monotonic() < deadline, f"{device} is still in {self.instance_id}"
            time.sleep(1)

    def write_pattern(self, device: str, word: str) -> None:
        self(f"yes {word} | head -c {4 * MiB} | dd of=/dev/{device} bs=1M seek=16 conv=fsync 2>/dev/null")

    def pattern_sha256(self, device: str) -> str:
        return self(f"dd if=/dev/{device} bs=1M skip=16 count=4 2>/dev/null | sha256sum").split()[0]


class Tenant:
    """A user of the cloud with the tiny image installed and a key pair, who runs tiny instances."""

    def __init__(self, ec2_cloud, key_name: str):
        self.tiny = ec2_cloud.install_tiny()
        self.ec2 = ec2_cloud.server.client("ec2")
        self.key_name = key_name
        self.key = self.ec2.create_key_pair(KeyName=key_name)["KeyMaterial"]
        # As on AWS, the default group admits only its own members: open SSH for the host.
        self.ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    def run(self, image_id: str | None = None, **kw) -> str:
        return self.ec2.run_instances(ImageId=image_id or self.tiny["image_id"], MinCount=1, MaxCount=1,
                                      InstanceType="t2.nano", KeyName=self.key_name, **kw)["Instances"][0]["InstanceId"]

    def shell(self, instance_id: str, after: int = 0) -> Shell:
        return Shell(self.ec2, instance_id, self.key, after=after)


def test_a_volume_moves_its_data_between_instances_and_through_a_snapshot(cloud):
    user = Tenant(cloud, "ebs-e2e")
    ec2 = user.ec2
    first_id, second_id = user.run(), user.run()
    zone = instance(ec2, first_id)["Placement"]["AvailabilityZone"]
    first, second = user.shell(first_id), user.shell(second_id)
    word = secrets.token_hex(8)
    digest = hashlib.sha256(((word + "\n") * (4 * MiB))[:4 * MiB].encode()).hexdigest()

    # A 1 GiB volume, attached to the running first instance; its guest writes the pattern.
    vol = ec2.create_volume(AvailabilityZone=zone, Size=1, VolumeType="gp3",
                            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}])
    vid = vol["VolumeId"]
    wait_volume(ec2, vid, "available")
    assert ec2.attach_volume(VolumeId=vid, InstanceId=first_id, Device="/dev/sdf")["State"] == "attached"
    attached = wait_volume(ec2, vid, "in-use")
    assert attached["Attachments"][0]["InstanceId"] == first_id and attached["Attachments"][0]["Device"] == "/dev/sdf"
    mappings = instance(ec2, first_id)["BlockDeviceMappings"]
    assert [(m["DeviceName"], m["Ebs"]["VolumeId"]) for m in mappings] == [("/dev/sdf", vid)]
    dev = first.device_of(vid)
    assert int(first(f"cat /sys/block/{dev}/size")) * 512 == 1 << 30
    first.write_pattern(dev, word)
    assert first.pattern_sha256(dev) == digest

    # An attached volume cannot be attached again nor deleted: EC2's errors, nothing changed.
    expect_error("VolumeInUse", ec2.attach_volume, VolumeId=vid, InstanceId=second_id, Device="/dev/sdg")
    expect_error("VolumeInUse", ec2.delete_volume, VolumeId=vid)
    still = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
    assert still["State"] == "in-use" and still["Attachments"][0]["InstanceId"] == first_id
    assert first(f"test -e /sys/block/{dev} && echo here").strip() == "here"
    spare = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    wait_volume(ec2, spare, "available")
    expect_error("InvalidParameterValue", ec2.attach_volume, VolumeId=spare, InstanceId=first_id, Device="/dev/sdf")
    assert ec2.describe_volumes(VolumeIds=[spare])["Volumes"][0]["State"] == "available"

    # Detach; attach to the second instance: the pattern is intact.
    assert ec2.detach_volume(VolumeId=vid)["State"] == "detaching"
    wait_volume(ec2, vid, "available")
    first.gone(dev)
    assert instance(ec2, first_id)["BlockDeviceMappings"] == []
    ec2.attach_volume(VolumeId=vid, InstanceId=second_id, Device="/dev/xvdg")
    dev = second.device_of(vid)
    assert second.pattern_sha256(dev) == digest

    # Grow it while attached: the running guest sees the new size.
    assert ec2.modify_volume(VolumeId=vid, Size=2)["VolumeModification"]["TargetSize"] == 2
    deadline = time.monotonic() + 60
    while int(second(f"cat /sys/block/{dev}/size")) * 512 != 2 << 30:
        assert time.monotonic() < deadline, "the guest never saw the volume grow"
        time.sleep(1)
    assert ec2.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"][0]["ModificationState"] == "completed"

    # Snapshot it while attached to the running second instance; a volume from it has the same pattern.
    snap = ec2.create_snapshot(VolumeId=vid, Description="pattern")
    assert snap["State"] == "pending"
    done = wait_snapshot(ec2, snap["SnapshotId"])
    assert (done["State"], done["Progress"], done["VolumeSize"]) == ("completed", "100%", 2)
    assert second.pattern_sha256(dev) == digest  # the guest still has its volume after the freeze and merge
    copy = ec2.create_volume(AvailabilityZone=zone, SnapshotId=snap["SnapshotId"])["VolumeId"]
    wait_volume(ec2, copy, "available")
    ec2.attach_volume(VolumeId=copy, InstanceId=first_id, Device="/dev/sdh")
    assert first.pattern_sha256(first.device_of(copy)) == digest

    # A volume given to a stopped instance is there when it starts.
    late = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    wait_volume(ec2, late, "available")
    ec2.stop_instances(InstanceIds=[second_id])
    wait_state(ec2, second_id, "stopped", timeout=180)
    ec2.attach_volume(VolumeId=late, InstanceId=second_id, Device="/dev/sdi")
    assert wait_volume(ec2, late, "in-use")["Attachments"][0]["InstanceId"] == second_id
    ec2.start_instances(InstanceIds=[second_id])
    second = user.shell(second_id, after=1)
    assert second.pattern_sha256(second.device_of(vid)) == digest
    second.device_of(late)

    # Terminating frees what was attached, and deletes what was marked DeleteOnTermination;
    # then everything is deleted and no file is left.
    ec2.modify_instance_attribute(InstanceId=first_id, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdh", "Ebs": {"DeleteOnTermination": True}}])
    marked = ec2.describe_instance_attribute(InstanceId=first_id, Attribute="blockDeviceMapping")["BlockDeviceMappings"]
    assert [(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["DeleteOnTermination"]) for m in marked] == [
        ("/dev/sdh", copy, True)]
    ec2.terminate_instances(InstanceIds=[first_id, second_id])
    wait_state(ec2, first_id, "terminated", timeout=180)
    wait_state(ec2, second_id, "terminated", timeout=180)
    for v in (vid, late, spare):
        wait_volume(ec2, v, "available")
    deadline = time.monotonic() + 60
    while copy in [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]:
        assert time.monotonic() < deadline, f"{copy} outlived its instance though marked DeleteOnTermination"
        time.sleep(0.5)
    for v in ec2.describe_volumes()["Volumes"]:
        ec2.delete_volume(VolumeId=v["VolumeId"])
    ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    assert ec2.describe_volumes()["Volumes"] == [] and ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    volumes_dir = cloud.cfg.volumes_path
    deadline = time.monotonic() + 60
    while left := [p.name for p in volumes_dir.iterdir() if p.name.endswith(".qcow2")]:  # the files go in the background
        assert time.monotonic() < deadline, f"volume files were left behind: {left}"
        time.sleep(0.5)


def test_a_volume_and_its_snapshot_with_the_aws_cli_leave_nothing_behind(cloud):
    """The volume part of the seed scenario, with the aws CLI and its waiters."""
    cloud.server.cli("images", "install", "tiny", timeout=900)
    aws = cloud.server.aws
    image = aws("ec2", "describe-images", "--owners", "amazon", "--filters", "Name=name,Values=silvereye-tiny",
                "--query", "Images[0].ImageId", "--output", "text").stdout.strip()
    iid = aws("ec2", "run-instances", "--image-id", image, "--instance-type", "t2.nano", "--query",
              "Instances[0].InstanceId", "--output", "text").stdout.strip()
    aws("ec2", "wait", "instance-running", "--instance-ids", iid)
    vid = aws("ec2", "create-volume", "--size", "1", "--availability-zone", "silvereye-1a", "--volume-type", "gp3",
              "--query", "VolumeId", "--output", "text").stdout.strip()
    aws("ec2", "wait", "volume-available", "--volume-ids", vid)
    aws("ec2", "attach-volume", "--volume-id", vid, "--instance-id", iid, "--device", "/dev/sdf")
    aws("ec2", "wait", "volume-in-use", "--volume-ids", vid)
    sid = aws("ec2", "create-snapshot", "--volume-id", vid, "--description", "seed", "--query", "SnapshotId",
              "--output", "text").stdout.strip()
    aws("ec2", "wait", "snapshot-completed", "--snapshot-ids", sid)
    shown = aws("ec2", "describe-snapshots", "--owner-ids", "self", "--query", "Snapshots[].[SnapshotId,State]",
                "--output", "text").stdout.split()
    assert shown == [sid, "completed"]

    busy = aws("ec2", "delete-volume", "--volume-id", vid, check=False)
    assert busy.returncode != 0 and "VolumeInUse" in busy.stderr
    aws("ec2", "detach-volume", "--volume-id", vid)
    aws("ec2", "wait", "volume-available", "--volume-ids", vid)
    aws("ec2", "delete-volume", "--volume-id", vid)
    aws("ec2", "delete-snapshot", "--snapshot-id", sid)
    aws("ec2", "terminate-instances", "--instance-ids", iid)
    aws("ec2", "wait", "volume-deleted", "--volume-ids", vid)
    aws("ec2", "wait", "instance-terminated", "--instance-ids", iid)
    assert aws("ec2", "describe-snapshots", "--owner-ids", "self", "--query", "Snapshots", "--output",
               "text").stdout.strip() == ""
    volumes_dir = cloud.cfg.volumes_path
    assert not [p.name for p in volumes_dir.iterdir() if p.name.endswith(".qcow2")]
    snapshots_dir = volumes_dir / ".snapshots"
    assert not snapshots_dir.exists() or not list(snapshots_dir.iterdir())
