"""EBS volumes through the API on libvirt's test driver: creating, attaching, detaching, growing,
deleting, their errors, filters and pages, and records kept true to the files."""

from __future__ import annotations

import pytest

from silvereye.compute.disks import qemu_img_info
from tests.unit.ec2.harness import aws_error

GiB = 1 << 30


@pytest.fixture(scope="module")
def running(server, ec2, image):
    """Two running instances in zone a, one in zone b."""
    a = ec2.run_instances(ImageId=image.image_id, MinCount=2, MaxCount=2, InstanceType="t1.micro")
    b = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                          Placement={"AvailabilityZone": "silvereye-1b"})
    server.settle()
    return [i["InstanceId"] for i in a["Instances"] + b["Instances"]]


def volume(ec2, volume_id):
    return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]


def made(server, ec2, **kw):
    kw.setdefault("AvailabilityZone", "silvereye-1a")
    kw.setdefault("Size", 1)
    v = ec2.create_volume(**kw)
    assert v["State"] == "creating"
    server.settle()
    return v["VolumeId"]


def test_a_volume_is_created_then_available_with_its_file(server, ec2):
    v = ec2.create_volume(AvailabilityZone="silvereye-1a", Size=2, VolumeType="gp3", Iops=4000, Throughput=250,
                          TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}])
    assert v["VolumeId"].startswith("vol-") and v["State"] == "creating" and v["Size"] == 2
    server.settle()
    got = volume(ec2, v["VolumeId"])
    assert got["State"] == "available" and got["Attachments"] == []
    assert (got["VolumeType"], got["Iops"], got["Throughput"], got["Encrypted"]) == ("gp3", 4000, 250, False)
    assert got["Tags"] == [{"Key": "Name", "Value": "data"}]
    path = server.config.volumes_path / f"{v['VolumeId']}.qcow2"
    assert int(qemu_img_info(path, "qcow2")["virtual-size"]) == 2 * GiB
    gp2 = volume(ec2, made(server, ec2, Size=10))
    assert (gp2["VolumeType"], gp2["Iops"]) == ("gp2", 100)
    zone_id = ec2.describe_availability_zones(ZoneNames=["silvereye-1b"])["AvailabilityZones"][0]["ZoneId"]
    by_id = ec2.create_volume(AvailabilityZoneId=zone_id, Size=1)
    assert by_id["AvailabilityZone"] == "silvereye-1b"
    server.settle()


def test_create_checks_its_parameters(ec2):
    with aws_error("InvalidParameterValue", match="availability zone"):
        ec2.create_volume(AvailabilityZone="elsewhere-1a", Size=1)
    with aws_error("Unsupported", match="Encrypted"):
        ec2.create_volume(AvailabilityZone="silvereye-1a", Size=1, Encrypted=True)
    with aws_error("MissingParameter"):
        ec2.create_volume(AvailabilityZone="silvereye-1a")
    with aws_error("InvalidParameterValue", match="16384"):
        ec2.create_volume(AvailabilityZone="silvereye-1a", Size=20000)
    with aws_error("MissingParameter", match="iops"):
        ec2.create_volume(AvailabilityZone="silvereye-1a", Size=10, VolumeType="io1")
    with aws_error("InvalidParameterCombination"):
        ec2.create_volume(AvailabilityZone="silvereye-1a", Size=10, VolumeType="gp2", Iops=300)
    with aws_error("InvalidSnapshot.NotFound"):
        ec2.create_volume(AvailabilityZone="silvereye-1a", SnapshotId="snap-0123456789abcdef0")
    with aws_error("InvalidVolume.NotFound"):
        ec2.describe_volumes(VolumeIds=["vol-0123456789abcdef0"])
    with aws_error("InvalidVolumeID.Malformed"):
        ec2.describe_volumes(VolumeIds=["volume-1"])


def test_attach_and_detach_refuse_what_cannot_be(server, ec2, running):
    """Refusals decided before the disk layer is asked (hot-plug itself needs a hypervisor: see
    tests/e2e/test_ec2_volumes.py); nothing changes."""
    first, _, far = running
    vid = made(server, ec2)
    with aws_error("InvalidParameterValue", match="not valid"):
        ec2.attach_volume(VolumeId=vid, InstanceId=first, Device="/dev/hda")
    with aws_error("InvalidParameterValue", match="root device"):
        ec2.attach_volume(VolumeId=vid, InstanceId=first, Device="/dev/sda1")
    with aws_error("InvalidInstanceID.NotFound"):
        ec2.attach_volume(VolumeId=vid, InstanceId="i-0123456789abcdef0", Device="/dev/sdg")
    with aws_error("InvalidVolume.ZoneMismatch"):
        ec2.attach_volume(VolumeId=vid, InstanceId=far, Device="/dev/sdg")
    with aws_error("InvalidVolume.NotFound"):
        ec2.attach_volume(VolumeId="vol-0123456789abcdef0", InstanceId=first, Device="/dev/sdg")
    with aws_error("IncorrectState"):
        ec2.detach_volume(VolumeId=vid)
    assert volume(ec2, vid)["State"] == "available" and volume(ec2, vid)["Attachments"] == []


def test_grow_only_and_its_modification(server, ec2):
    vid = made(server, ec2, Size=1)
    with aws_error("InvalidParameterValue", match="only grow"):
        ec2.modify_volume(VolumeId=vid, Size=0)
    mod = ec2.modify_volume(VolumeId=vid, Size=3)["VolumeModification"]
    assert (mod["ModificationState"], mod["OriginalSize"], mod["TargetSize"]) == ("modifying", 1, 3)
    server.settle()
    assert volume(ec2, vid)["Size"] == 3
    path = server.config.volumes_path / f"{vid}.qcow2"
    assert int(qemu_img_info(path, "qcow2")["virtual-size"]) == 3 * GiB
    mods = ec2.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"]
    assert mods[0]["ModificationState"] == "completed" and mods[0]["TargetSize"] == 3
    ec2.modify_volume(VolumeId=vid, VolumeType="gp3", Iops=5000)
    server.settle()
    got = volume(ec2, vid)
    assert (got["Size"], got["VolumeType"], got["Iops"], got["Throughput"]) == (3, "gp3", 5000, 125)
    with aws_error("InvalidParameterValue", match="same"):
        ec2.modify_volume(VolumeId=vid, Size=3)


def test_filters_pages_status_and_attributes(server, ec2):
    a = made(server, ec2, Size=4, TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "f"}]}])
    b = made(server, ec2, Size=4, AvailabilityZone="silvereye-1b", VolumeType="standard")
    ids = lambda *f: sorted(v["VolumeId"] for v in ec2.describe_volumes(Filters=list(f))["Volumes"])  # noqa: E731
    assert ids({"Name": "tag:k", "Values": ["f"]}) == [a]
    assert ids({"Name": "size", "Values": ["4"]}) == sorted([a, b])
    assert ids({"Name": "availability-zone", "Values": ["silvereye-1b"]}, {"Name": "size", "Values": ["4"]}) == [b]
    assert ids({"Name": "volume-type", "Values": ["standard"]}) == [b]
    assert ids({"Name": "attachment.instance-id", "Values": ["i-*"]}) == []
    assert {a, b} <= set(ids({"Name": "status", "Values": ["available"]}))
    with aws_error("InvalidParameterValue", match="filter"):
        ec2.describe_volumes(Filters=[{"Name": "colour", "Values": ["x"]}])
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_volumes(MaxResults=5, **kw)
        seen += [v["VolumeId"] for v in page["Volumes"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == len(ec2.describe_volumes()["Volumes"]) > 5
    # The aws CLI asks for 1000 at a time; AWS returns at most 500 rather than refusing.
    assert len(ec2.describe_volumes(MaxResults=1000)["Volumes"]) == len(seen)
    status = ec2.describe_volume_status(VolumeIds=[a])["VolumeStatuses"][0]
    assert status["VolumeStatus"]["Status"] == "ok"
    ec2.modify_volume_attribute(VolumeId=b, AutoEnableIO={"Value": True})
    assert ec2.describe_volume_attribute(VolumeId=b, Attribute="autoEnableIO")["AutoEnableIO"]["Value"] is True


def test_records_follow_the_files(server, ec2):
    """A record whose file went (a crash, a hand) says error once settled; a crash mid-create is redone."""
    from silvereye.services.ec2 import ebs
    from silvereye.services.ec2.models import volumes as records

    gone = made(server, ec2)
    (server.config.volumes_path / f"{gone}.qcow2").unlink()
    redo = made(server, ec2, Size=2)
    (server.config.volumes_path / f"{redo}.qcow2").unlink()
    with server.store.write() as conn:
        records.update(conn, redo, state="creating")  # as if the server died while it made the file
    ebs.settle(server.runtime)
    server.settle()
    assert volume(ec2, gone)["State"] == "error"
    assert ec2.describe_volume_status(VolumeIds=[gone])["VolumeStatuses"][0]["VolumeStatus"]["Status"] == "impaired"
    assert volume(ec2, redo)["State"] == "available"
    assert (server.config.volumes_path / f"{redo}.qcow2").exists()


def test_delete_removes_record_and_file(server, ec2):
    vid = made(server, ec2)
    ec2.delete_volume(VolumeId=vid)
    server.settle()
    assert not (server.config.volumes_path / f"{vid}.qcow2").exists()
    with aws_error("InvalidVolume.NotFound"):
        ec2.delete_volume(VolumeId=vid)


def test_other_accounts_do_not_see_volumes(server, ec2, other):
    vid = made(server, ec2)
    theirs = server.client("ec2", other)
    assert vid not in [v["VolumeId"] for v in theirs.describe_volumes()["Volumes"]]
    with aws_error("InvalidVolume.NotFound"):
        theirs.delete_volume(VolumeId=vid)


def test_iam_policies_name_volumes_and_snapshots(server, ec2, acme):
    vid, other = made(server, ec2), made(server, ec2)
    user = server.user(acme, "vol-keeper", {"Effect": "Allow", "Action": "ec2:*", "Resource": [
        f"arn:aws:ec2:silvereye-1:{acme.account_id}:volume/{vid}", "arn:aws:ec2:silvereye-1::snapshot/*"]},
        {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"})
    theirs = server.client("ec2", user)
    with aws_error("UnauthorizedOperation", 403):
        theirs.delete_volume(VolumeId=other)
    with aws_error("UnauthorizedOperation", 403):
        theirs.create_volume(AvailabilityZone="silvereye-1a", Size=1)
    sid = theirs.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    with aws_error("DryRunOperation", 412):
        theirs.delete_volume(VolumeId=vid, DryRun=True)
    theirs.delete_snapshot(SnapshotId=sid)
    assert volume(ec2, other)["State"] == "available"
