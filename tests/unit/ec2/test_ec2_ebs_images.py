"""EBS-backed images through the API on libvirt's test driver: registered from a snapshot, launched
with a root volume made from it, the volume kept through stop and start, deleted on termination; the
snapshot in use while the image is registered. (Booting one for real: tests/e2e/test_ec2_ebs_images.py.)"""

from __future__ import annotations

import pytest

from tests.unit.ec2.harness import aws_error


@pytest.fixture(scope="module")
def snapshot(server, ec2):
    vid = ec2.create_volume(AvailabilityZone="silvereye-1a", Size=1)["VolumeId"]
    server.settle()
    sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    server.settle()
    return sid


def register(ec2, image, snapshot, name, **ebs):
    return ec2.register_image(Name=name, RootDeviceName="/dev/xvda", KernelId=image.kernel_id,
                              RamdiskId=image.ramdisk_id, Architecture="x86_64",
                              BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot, **ebs}}]
                              )["ImageId"]


def test_register_and_describe_an_ebs_backed_image(ec2, image, snapshot):
    ami = register(ec2, image, snapshot, "ebs-described", VolumeSize=2)
    got = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert (got["RootDeviceType"], got["RootDeviceName"], got["State"]) == ("ebs", "/dev/xvda", "available")
    assert got["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "SnapshotId": snapshot, "VolumeSize": 2, "VolumeType": "gp2", "DeleteOnTermination": True, "Encrypted": False}}]
    assert ami in [i["ImageId"] for i in ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "root-device-type", "Values": ["ebs"]}])["Images"]]
    attr = ec2.describe_image_attribute(ImageId=ami, Attribute="blockDeviceMapping")
    assert attr["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == snapshot

    with aws_error("InvalidSnapshot.InUse", match=ami):
        ec2.delete_snapshot(SnapshotId=snapshot)
    with aws_error("InvalidParameterValue", match="too small"):
        ec2.register_image(Name="ebs-too-small", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot, "VolumeSize": 0}}])
    with aws_error("InvalidSnapshot.NotFound"):
        register(ec2, image, "snap-0123456789abcdef0", "ebs-nowhere")
    with aws_error("InvalidParameterValue", match="root device"):
        ec2.register_image(Name="ebs-wrong-root", RootDeviceName="/dev/sda1", BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}])


def test_an_instance_boots_from_its_own_root_volume_and_it_goes_with_it(server, ec2, image, snapshot):
    ami = register(ec2, image, snapshot, "ebs-launched")
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    server.settle()
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert (inst["State"]["Name"], inst["RootDeviceType"], inst["RootDeviceName"]) == ("running", "ebs", "/dev/xvda")
    (mapping,) = inst["BlockDeviceMappings"]
    root = mapping["Ebs"]["VolumeId"]
    assert (mapping["DeviceName"], mapping["Ebs"]["Status"], mapping["Ebs"]["DeleteOnTermination"]) == (
        "/dev/xvda", "attached", True)
    vol = ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]
    assert (vol["SnapshotId"], vol["State"], vol["Attachments"][0]["InstanceId"]) == (snapshot, "in-use", iid)
    assert server.runtime.driver.describe(iid).root_volume == root  # the domain boots from the volume's file

    with aws_error("IncorrectState", match="root volume"):
        ec2.detach_volume(VolumeId=root)
    with aws_error("VolumeInUse"):
        ec2.delete_volume(VolumeId=root)

    ec2.stop_instances(InstanceIds=[iid])
    server.settle()
    ec2.start_instances(InstanceIds=[iid])
    server.settle()
    assert server.runtime.driver.describe(iid).root_volume == root
    assert ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]["State"] == "in-use"

    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    with aws_error("InvalidVolume.NotFound"):
        ec2.describe_volumes(VolumeIds=[root])
    assert not (server.config.volumes_path / f"{root}.qcow2").exists()


def test_a_root_volume_kept_after_termination(server, ec2, image, snapshot):
    ami = register(ec2, image, snapshot, "ebs-kept", DeleteOnTermination=False)
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    server.settle()
    root = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    assert ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]["State"] == "available"
    ec2.deregister_image(ImageId=ami)


def test_create_image_of_an_ebs_backed_instance_snapshots_its_root(server, ec2, acme, image, snapshot):
    ami = register(ec2, image, snapshot, "ebs-parent")
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    server.settle()
    root = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]
    child = ec2.create_image(InstanceId=iid, Name="ebs-child")["ImageId"]  # stopped for it (the test driver cannot freeze a running disk)
    server.settle()
    got = ec2.describe_images(ImageIds=[child])["Images"][0]
    assert (got["State"], got["RootDeviceType"], got["RootDeviceName"]) == ("available", "ebs", "/dev/xvda")
    (mapping,) = got["BlockDeviceMappings"]
    made = ec2.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"][0]
    assert (made["VolumeId"], made["State"], made["OwnerId"]) == (root["Ebs"]["VolumeId"], "completed", acme.account_id)
    assert child in made["Description"]
    again = ec2.run_instances(ImageId=child, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    server.settle()
    assert ec2.describe_instances(InstanceIds=[again])["Reservations"][0]["Instances"][0]["RootDeviceType"] == "ebs"
    ec2.terminate_instances(InstanceIds=[iid, again])
    server.settle()


def test_another_account_launches_a_shared_ebs_backed_image(server, ec2, other, image, snapshot):
    ami = register(ec2, image, snapshot, "ebs-shared")
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": other.account_id}]})
    theirs = server.client("ec2", other)
    iid = theirs.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    server.settle()
    inst = theirs.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "running", inst.get("StateReason")
    root = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert theirs.describe_volumes(VolumeIds=[root])["Volumes"][0]["SnapshotId"] == snapshot  # their volume
    with aws_error("InvalidSnapshot.NotFound"):  # the snapshot itself stays private
        theirs.describe_snapshots(SnapshotIds=[snapshot])
    theirs.terminate_instances(InstanceIds=[iid])
    server.settle()


def test_run_instances_may_grow_the_root_volume_and_keep_it(server, ec2, image, snapshot):
    ami = register(ec2, image, snapshot, "ebs-overridden")
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 3, "VolumeType": "gp3", "DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}])["Instances"][0]["InstanceId"]
    server.settle()
    mapping = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]
    assert mapping["Ebs"]["DeleteOnTermination"] is False
    root = ec2.describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"][0]
    assert (root["Size"], root["VolumeType"]) == (3, "gp3")
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    assert ec2.describe_volumes(VolumeIds=[root["VolumeId"]])["Volumes"][0]["State"] == "available"

    with aws_error("InvalidParameterValue", match="too small"):
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro", BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 0}}])
    with aws_error("InvalidParameterValue", match="device name"):
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro", BlockDeviceMappings=[
            {"DeviceName": "/dev/hda", "Ebs": {"VolumeSize": 1}}])
    with aws_error("MissingParameter", match="VolumeSize"):
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro", BlockDeviceMappings=[
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeType": "gp3"}}])
    with aws_error("InvalidSnapshot.NotFound"):
        ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro", BlockDeviceMappings=[
            {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}])
    with aws_error("Unsupported", match="instance-store"):
        ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                          BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 9}}])
