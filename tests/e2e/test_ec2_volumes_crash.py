"""kill -9 of the server while it snapshots a volume a running guest writes to, then a restart.

The snapshot freezes the volume by switching the guest's writes to an
overlay; a crash before the merge would leave the guest writing somewhere
no record knows. After the restart the overlay is merged back (the guest
writes to its volume file again), the snapshot says completed or error,
never pending, the volume is still in-use on its instance, and the next
snapshot works.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pytest

from tests.e2e.ec2_cloud import cloud  # noqa: F401 - a fixture
from tests.e2e.test_ec2_volumes import MiB, Tenant, wait_snapshot, wait_volume

pytestmark = pytest.mark.e2e


def overlays(cloud) -> list[str]:
    root = cloud.cfg.volumes_path
    return [p.name for p in root.iterdir() if "overlay" in p.name] if root.exists() else []


def test_kill_9_during_a_live_snapshot_then_restart_leaves_no_lie(cloud):
    user = Tenant(cloud, "ebs-crash")
    ec2 = user.ec2
    iid = user.run()
    guest = user.shell(iid)
    vid = ec2.create_volume(AvailabilityZone="silvereye-1a", Size=1)["VolumeId"]
    wait_volume(ec2, vid, "available")
    ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    dev = guest.device_of(vid)
    before, after = secrets.token_hex(8), secrets.token_hex(8)
    guest.write_pattern(dev, before)
    guest(f"dd if=/dev/urandom of=/dev/{dev} bs=1M seek=64 count=192 conv=fsync 2>/dev/null")  # something to copy

    ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    time.sleep(0.3)  # frozen by now, most likely copying or storing
    cloud.server.kill()
    cloud.server.restart()
    ec2 = cloud.server.client("ec2")

    assert not overlays(cloud), "an overlay outlived the restart"
    snap = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"][0]
    assert snap["State"] in ("completed", "error"), snap
    volume = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
    assert volume["State"] == "in-use" and volume["Attachments"][0]["InstanceId"] == iid

    # The guest writes to its volume file again: the new pattern survives a detach and attach.
    guest.write_pattern(dev, after)
    ec2.detach_volume(VolumeId=vid)
    wait_volume(ec2, vid, "available")
    guest.gone(dev)
    ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdg")
    dev = guest.device_of(vid)
    pattern = lambda word: hashlib.sha256(((word + "\n") * (4 * MiB))[:4 * MiB].encode()).hexdigest()  # noqa: E731
    assert guest.pattern_sha256(dev) == pattern(after)

    # A snapshot after the crash works; one that completed before it holds the first pattern.
    if snap["State"] == "error":
        ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    again = wait_snapshot(ec2, ec2.create_snapshot(VolumeId=vid)["SnapshotId"])
    assert again["State"] == "completed"
    checks = [(again["SnapshotId"], after)] + ([(snap["SnapshotId"], before)] if snap["State"] == "completed" else [])
    for n, (sid, word) in enumerate(checks):
        restored = ec2.create_volume(AvailabilityZone="silvereye-1a", SnapshotId=sid)["VolumeId"]
        wait_volume(ec2, restored, "available")
        ec2.attach_volume(VolumeId=restored, InstanceId=iid, Device=f"/dev/sd{'hi'[n]}")
        assert guest.pattern_sha256(guest.device_of(restored)) == pattern(word)
    assert not overlays(cloud)
