"""An EBS-backed image made and used as a user would, through the real server on QEMU (TCG) guests.

A tiny instance formats a new volume and leaves a file on it; the volume is
snapshotted and the snapshot registered as the root of an image (with the
tiny kernel and ramdisk). An instance of that image boots from its own root
volume made from the snapshot: the tiny guest mounts its root disk on
/data, where the file is; the launch's BlockDeviceMappings add an empty
volume and another from the snapshot. Stop and start keep the root volume and what the
guest wrote; terminate deletes it (DeleteOnTermination). The snapshot stays
in use until the image is deregistered. CreateImage of the running instance
(NoReboot) snapshots its root volume into a new EBS-backed image.
"""

from __future__ import annotations

import secrets
import time

import botocore.exceptions
import pytest

from tests.e2e.ec2_cloud import cloud  # noqa: F401 - a fixture
from tests.e2e.ec2_cloud import instance, wait_state
from tests.e2e.test_ec2_volumes import Tenant, wait_snapshot, wait_volume

pytestmark = pytest.mark.e2e


def root_of(described: dict) -> str:
    return next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"]
                if m["DeviceName"] == described["RootDeviceName"])


def test_an_image_registered_from_a_snapshot_boots_from_its_own_root_volume(cloud):
    user = Tenant(cloud, "ebs-image")
    ec2, tiny = user.ec2, user.tiny
    builder_id = user.run()
    builder = user.shell(builder_id)

    # A root file system on a new volume, with a file on it.
    word = secrets.token_hex(8)
    vid = ec2.create_volume(AvailabilityZone="silvereye-1a", Size=1)["VolumeId"]
    wait_volume(ec2, vid, "available")
    ec2.attach_volume(VolumeId=vid, InstanceId=builder_id, Device="/dev/sdf")
    dev = builder.device_of(vid)
    builder(f"mke2fs -q -L ebs-root /dev/{dev} && mkdir -p /mnt/v && mount -t ext4 /dev/{dev} /mnt/v && "
            f"echo {word} > /mnt/v/marker && umount /mnt/v && sync")
    ec2.detach_volume(VolumeId=vid)
    wait_volume(ec2, vid, "available")
    snap = wait_snapshot(ec2, ec2.create_snapshot(VolumeId=vid, Description="ebs root")["SnapshotId"])
    assert snap["State"] == "completed"

    # Registered as an image's root; an instance of it boots from a volume made from the snapshot.
    ami = ec2.register_image(Name="tiny-ebs", RootDeviceName="/dev/xvda", Architecture="x86_64",
                             KernelId=tiny["kernel_id"], RamdiskId=tiny["ramdisk_id"],
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                                   "Ebs": {"SnapshotId": snap["SnapshotId"], "VolumeSize": 2}}])["ImageId"]
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["RootDeviceType"] == "ebs"
    iid = user.run(ami, BlockDeviceMappings=[  # and two more volumes: an empty one, one more from the snapshot
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}},
        {"DeviceName": "/dev/sdg", "Ebs": {"SnapshotId": snap["SnapshotId"], "DeleteOnTermination": False}}])
    guest = user.shell(iid)
    deadline = time.monotonic() + 60
    while len((described := instance(ec2, iid))["BlockDeviceMappings"]) < 3:
        assert time.monotonic() < deadline, f"the launch's volumes did not all come: {described['BlockDeviceMappings']}"
        time.sleep(0.5)
    assert (described["RootDeviceType"], described["RootDeviceName"]) == ("ebs", "/dev/xvda")
    by_device = {m["DeviceName"]: m["Ebs"] for m in described["BlockDeviceMappings"]}
    assert sorted(by_device) == ["/dev/sdf", "/dev/sdg", "/dev/xvda"]
    root, empty, copy = (by_device[d]["VolumeId"] for d in ("/dev/xvda", "/dev/sdf", "/dev/sdg"))
    assert [by_device[d]["DeleteOnTermination"] for d in ("/dev/xvda", "/dev/sdf", "/dev/sdg")] == [True, True, False]
    copy_dev = guest.device_of(copy)
    assert int(guest(f"cat /sys/block/{guest.device_of(empty)}/size")) * 512 == 1 << 30
    assert guest(f"mkdir -p /mnt/c && mount -t ext4 -o ro /dev/{copy_dev} /mnt/c && cat /mnt/c/marker; "
                 "umount /mnt/c").strip() == word
    volume = ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]
    assert (volume["SnapshotId"], volume["Size"], volume["Attachments"][0]["Device"]) == (snap["SnapshotId"], 2, "/dev/xvda")
    assert guest("cat /data/marker").strip() == word  # the root disk is the snapshot's file system
    assert int(guest("cat /sys/block/vda/size")) * 512 == 2 << 30

    # Stop and start keep the root volume and what the guest wrote to it.
    guest("echo kept > /data/after; sync")
    ec2.stop_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "stopped", timeout=180)
    assert ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]["State"] == "in-use"
    ec2.start_instances(InstanceIds=[iid])
    guest = user.shell(iid, after=1)
    assert guest("cat /data/after").strip() == "kept"
    assert root_of(instance(ec2, iid)) == root

    # CreateImage of the running EBS-backed instance: a crash-consistent snapshot of its root volume
    # becomes the root of a new EBS-backed image, whose instances see what the first had written.
    child = ec2.create_image(InstanceId=iid, Name="tiny-ebs-child", NoReboot=True)["ImageId"]
    deadline = time.monotonic() + 300
    while (made := ec2.describe_images(ImageIds=[child])["Images"][0])["State"] == "pending":
        assert time.monotonic() < deadline, "CreateImage did not finish"
        time.sleep(1)
    assert (made["State"], made["RootDeviceType"]) == ("available", "ebs")
    assert root_of(wait_state(ec2, iid, "running")) == root  # never stopped
    grandchild_id = user.run(child)
    grandchild = user.shell(grandchild_id)
    assert grandchild("cat /data/marker /data/after").split() == [word, "kept"]

    # The image holds its snapshot; terminating deletes the root volume (DeleteOnTermination).
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    assert refused.value.response["Error"]["Code"] == "InvalidSnapshot.InUse"
    ec2.terminate_instances(InstanceIds=[iid, builder_id, grandchild_id])
    wait_state(ec2, iid, "terminated", timeout=180)
    wait_state(ec2, grandchild_id, "terminated", timeout=180)
    wait_state(ec2, builder_id, "terminated", timeout=180)
    deadline = time.monotonic() + 60
    while {root, empty} & {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}:
        assert time.monotonic() < deadline, "volumes marked DeleteOnTermination outlived their instance"
        time.sleep(0.5)
    wait_volume(ec2, copy, "available")  # kept, as its mapping said
    ec2.delete_volume(VolumeId=copy)
    for image_id, snapshot_id in ((ami, snap["SnapshotId"]),
                                  (child, made["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])):
        ec2.deregister_image(ImageId=image_id)
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    ec2.delete_volume(VolumeId=vid)
    deadline = time.monotonic() + 60
    while left := [p.name for p in cloud.cfg.volumes_path.iterdir() if p.name.endswith(".qcow2")]:
        assert time.monotonic() < deadline, f"volume files were left behind: {left}"
        time.sleep(0.5)
