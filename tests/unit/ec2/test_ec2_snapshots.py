"""EBS snapshots through the API (detached volumes; the live, crash-consistent case runs under QEMU in
tests/e2e/test_ec2_volumes.py): taking, the object in the system bucket, restoring byte for byte,
copying, sharing, deleting, and their errors."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from silvereye.services.ec2.models import snapshots as records
from silvereye.services.s3 import internal
from tests.unit.ec2.harness import aws_error

MiB = 1 << 20


def raw_sha256(path) -> str:
    """The sha256 of the 8 MiB a guest sees at offset 100 MiB of a qcow2 volume."""
    out = path.with_name(path.name + ".window")
    try:
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), str(out)], check=True)  # sparse
        with open(out, "rb") as f:
            f.seek(100 * MiB)
            data = f.read(8 * MiB)
    finally:
        out.unlink(missing_ok=True)
    assert len(data) == 8 * MiB
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def written(server, ec2, tmp_path_factory):
    """A 1 GiB volume holding 8 MiB of random bytes at offset 100 MiB."""
    vid = ec2.create_volume(AvailabilityZone="silvereye-1a", Size=1)["VolumeId"]
    server.settle()
    path = server.config.volumes_path / f"{vid}.qcow2"
    data = tmp_path_factory.mktemp("data") / "pattern"
    data.write_bytes(os.urandom(8 * MiB))
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -s {data} {100 * MiB} {8 * MiB}", str(path)],
                   check=True, capture_output=True)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert raw_sha256(path) == digest  # the pattern is in
    return vid, digest


def snapshot(ec2, snapshot_id):
    return ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def test_a_snapshot_goes_pending_to_completed_into_the_system_bucket(server, ec2, acme, written):
    vid, _ = written
    s = ec2.create_snapshot(VolumeId=vid, Description="before",
                            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert s["SnapshotId"].startswith("snap-") and s["State"] == "pending" and s["Progress"].endswith("%")
    assert (s["VolumeId"], s["VolumeSize"], s["OwnerId"], s["Description"]) == (vid, 1, acme.account_id, "before")
    server.settle()
    got = snapshot(ec2, s["SnapshotId"])
    assert (got["State"], got["Progress"]) == ("completed", "100%")
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    stored = internal.head(server.store, records.BUCKET, records.object_key(s["SnapshotId"]))
    assert stored is not None and 0 < stored.size < 64 * MiB  # only the clusters with data


def test_a_volume_from_a_snapshot_has_the_same_bytes(server, ec2, written):
    vid, digest = written
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    with aws_error("InvalidParameterValue", match="too small"):
        ec2.create_volume(AvailabilityZone="silvereye-1a", SnapshotId=sid, Size=0)
    restored = ec2.create_volume(AvailabilityZone="silvereye-1a", SnapshotId=sid)
    assert (restored["SnapshotId"], restored["Size"]) == (sid, 1)
    bigger = ec2.create_volume(AvailabilityZone="silvereye-1a", SnapshotId=sid, Size=2)["VolumeId"]
    server.settle()
    assert ec2.describe_volumes(VolumeIds=[restored["VolumeId"]])["Volumes"][0]["State"] == "available"
    assert raw_sha256(server.config.volumes_path / f"{restored['VolumeId']}.qcow2") == digest
    assert ec2.describe_volumes(Filters=[{"Name": "snapshot-id", "Values": [sid]}])["Volumes"][0]["SnapshotId"] == sid
    vols = {v["VolumeId"]: v for v in ec2.describe_volumes(VolumeIds=[bigger])["Volumes"]}
    assert vols[bigger]["Size"] == 2


def test_copy_is_byte_identical(server, ec2, written):
    vid, _ = written
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    with aws_error("InvalidParameterValue", match="region"):
        ec2.copy_snapshot(SourceSnapshotId=sid, SourceRegion="us-east-1")
    copy = ec2.copy_snapshot(SourceSnapshotId=sid, SourceRegion="silvereye-1", Description="the copy")["SnapshotId"]
    assert copy != sid
    server.settle()
    got = snapshot(ec2, copy)
    assert (got["State"], got["Description"], got["VolumeSize"]) == ("completed", "the copy", 1)
    a, b = (content_digest(server, records.object_key(s)) for s in (sid, copy))
    assert a == b and a[0] > 0


def content_digest(server, key: str) -> tuple[int, str]:
    """(size, sha256) of a stored snapshot's bytes (ETags differ in form: a snapshot's is CRC32C-based)."""
    digest, size = hashlib.sha256(), 0
    with internal.open_object(server.store, server.config, records.BUCKET, key) as reader:
        for chunk in reader.iter_chunks():
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def test_sharing_with_accounts_and_everyone(server, ec2, other, written):
    vid, digest = written
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    theirs = server.client("ec2", other)
    with aws_error("InvalidSnapshot.NotFound"):
        theirs.describe_snapshots(SnapshotIds=[sid])
    with aws_error("InvalidSnapshot.NotFound"):
        theirs.create_volume(AvailabilityZone="silvereye-1a", SnapshotId=sid)

    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Add": [{"UserId": other.account_id}]})
    perms = ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
    assert perms["CreateVolumePermissions"] == [{"UserId": other.account_id}]
    assert sid in [s["SnapshotId"] for s in theirs.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]]
    assert sid not in [s["SnapshotId"] for s in theirs.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    assert sid in [s["SnapshotId"] for s in theirs.describe_snapshots(OwnerIds=[ec2_account(ec2)])["Snapshots"]]
    made = theirs.create_volume(AvailabilityZone="silvereye-1a", SnapshotId=sid)["VolumeId"]
    server.settle()
    assert raw_sha256(server.config.volumes_path / f"{made}.qcow2") == digest
    with aws_error("InvalidSnapshot.NotFound"):  # a grantee may not share it further or delete it
        theirs.delete_snapshot(SnapshotId=sid)

    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission", OperationType="remove",
                                  UserIds=[other.account_id])
    with aws_error("InvalidSnapshot.NotFound"):
        theirs.describe_snapshots(SnapshotIds=[sid])
    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Add": [{"Group": "all"}]})
    assert theirs.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["OwnerId"] == ec2_account(ec2)
    ec2.reset_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
    assert ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")["CreateVolumePermissions"] == []
    with aws_error("InvalidParameterValue", match="12-digit"):
        ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission",
                                      CreateVolumePermission={"Add": [{"UserId": "bob"}]})


def ec2_account(ec2) -> str:
    return ec2.describe_security_groups()["SecurityGroups"][0]["OwnerId"]


def test_delete_removes_the_object_unless_an_image_uses_it(server, ec2, written):
    vid, _ = written
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()

    def user(conn, snapshot_id):
        return "ami-0123456789abcdef0" if snapshot_id == sid else None

    records.register_user(user)
    try:
        with aws_error("InvalidSnapshot.InUse", match="ami-0123456789abcdef0"):
            ec2.delete_snapshot(SnapshotId=sid)
    finally:
        records._users.remove(user)
    assert snapshot(ec2, sid)["State"] == "completed"
    ec2.delete_snapshot(SnapshotId=sid)
    server.settle()
    assert internal.head(server.store, records.BUCKET, records.object_key(sid)) is None
    with aws_error("InvalidSnapshot.NotFound"):
        ec2.describe_snapshots(SnapshotIds=[sid])
    with aws_error("InvalidSnapshotID.Malformed"):
        ec2.delete_snapshot(SnapshotId="snapshot-1")


def test_filters_and_pages(server, ec2, written):
    vid, _ = written
    made = [ec2.create_snapshot(VolumeId=vid, Description=f"page {n}")["SnapshotId"] for n in range(6)]
    server.settle()
    by = lambda *f: sorted(s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=list(f))["Snapshots"])  # noqa: E731
    assert set(made) <= set(by({"Name": "volume-id", "Values": [vid]}, {"Name": "status", "Values": ["completed"]}))
    assert by({"Name": "description", "Values": ["page 3"]}) == [made[3]]
    assert by({"Name": "progress", "Values": ["100%"]}) == by()
    with aws_error("InvalidParameterValue", match="filter"):
        ec2.describe_snapshots(Filters=[{"Name": "colour", "Values": ["x"]}])
    seen, token = [], None
    while True:
        page = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5, **({"NextToken": token} if token else {}))
        seen += [s["SnapshotId"] for s in page["Snapshots"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == by() and len(seen) > 5


def test_a_snapshot_of_a_missing_volume_errors(server, ec2):
    with aws_error("InvalidVolume.NotFound"):
        ec2.create_snapshot(VolumeId="vol-0123456789abcdef0")


def test_deleting_an_account_names_then_removes_its_volumes_and_snapshots(server):
    import pytest as _pytest

    from silvereye.errors import SilvereyeError
    from silvereye.services.ec2 import housekeep
    from silvereye.services.iam import accounts

    keys = server.account("leaving")
    ec2 = server.client("ec2", keys)
    vid = ec2.create_volume(AvailabilityZone="silvereye-1a", Size=1)["VolumeId"]
    server.settle()
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    with server.store.write() as conn, _pytest.raises(SilvereyeError, match="1 EBS volume, 1 EBS snapshot"):
        accounts.delete(conn, "leaving")
    with server.store.write() as conn:
        accounts.delete(conn, "leaving", force=True)
    housekeep(server.runtime)
    server.settle()
    assert not (server.config.volumes_path / f"{vid}.qcow2").exists()
    assert internal.head(server.store, records.BUCKET, records.object_key(sid)) is None
    with server.store.read() as conn:
        assert records.get(conn, sid) is None


def test_other_features_make_volumes_from_snapshots(server, ec2, acme, written):
    """What RunInstances from an EBS-backed image calls: a volume made before it returns."""
    from silvereye.services.ec2 import ebs

    vid, digest = written
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    made = ebs.volume_from_snapshot(server.runtime, acme.account_id, sid, "silvereye-1a", size_gib=2,
                                    delete_on_termination=True)
    got = ec2.describe_volumes(VolumeIds=[made])["Volumes"][0]
    assert (got["State"], got["Size"], got["SnapshotId"]) == ("available", 2, sid)
    assert raw_sha256(server.config.volumes_path / f"{made}.qcow2") == digest
    from silvereye.services.gateway.errors import ServiceError

    with pytest.raises(ServiceError, match="InvalidSnapshot.NotFound"):
        ebs.volume_from_snapshot(server.runtime, "000000000000", sid, "silvereye-1a")


def test_tags_on_volumes_and_snapshots(server, ec2, written):
    vid, _ = written
    ec2.create_tags(Resources=[vid], Tags=[{"Key": "team", "Value": "storage"}])
    assert {"Key": "team", "Value": "storage"} in ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Tags"]
    assert vid in [t["ResourceId"] for t in ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["volume"]}])["Tags"]]
    with aws_error("InvalidVolume.NotFound"):
        ec2.create_tags(Resources=["vol-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])


def test_a_snapshot_deleted_while_pending_leaves_no_object(server, ec2, written):
    vid, _ = written
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    ec2.delete_snapshot(SnapshotId=sid)  # whether or not its job has finished
    server.settle()
    from silvereye.services.ec2 import housekeep

    housekeep(server.runtime)
    server.settle()
    assert internal.head(server.store, records.BUCKET, records.object_key(sid)) is None
    with server.store.read() as conn:
        assert records.get(conn, sid) is None


def test_a_snapshot_a_crash_left_pending_says_error(server, ec2, acme, written):
    import datetime as dt

    from silvereye.services.ec2 import snapshot_store
    from silvereye.services.ec2.models.common import new_id, now

    vid, _ = written
    sid = new_id("snap")
    with server.store.write() as conn:  # as a server that died mid-snapshot left it
        records.insert(conn, sid, acme.account_id, vid, 1, "interrupted")
        records.update(conn, sid, created=now() - dt.timedelta(minutes=10))
    snapshot_store.housekeep(server.runtime)
    got = snapshot(ec2, sid)
    assert got["State"] == "error" and "stopped" in got["StateMessage"]
    ec2.delete_snapshot(SnapshotId=sid)
    server.settle()
