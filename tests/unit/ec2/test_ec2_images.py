"""Images: registered from S3 (manifests and disk objects), described, shared, deregistered, made from instances."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from silvereye.services.ec2.models.bundles import Manifest, Part
from tests.unit.ec2.harness import aws_error, image_files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def s3(server, acme):
    return server.client("s3", acme)


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket="acme-images")
    return "acme-images"


def upload_bundle(s3, bucket: str, prefix: str, data: bytes, kind: str, fmt: str, parts: int = 3, **config) -> str:
    """Parts and a manifest in S3, the way a user (or euca-upload-bundle) puts them there."""
    size = -(-len(data) // parts)
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    listed = []
    for i, chunk in enumerate(chunks):
        name = f"{prefix}.part.{i}"
        s3.put_object(Bucket=bucket, Key=f"bundles/{name}", Body=chunk)
        listed.append(Part(name, sha(chunk)))
    manifest = Manifest(kind=kind, name=prefix, format=fmt, size=len(data), sha256=sha(data), parts=tuple(listed), **config)
    key = f"bundles/{prefix}.manifest.xml"
    s3.put_object(Bucket=bucket, Key=key, Body=manifest.to_xml())
    return f"{bucket}/{key}"


@pytest.fixture(scope="module")
def registered(server, ec2, s3, bucket, tmp_path_factory):
    """A kernel, a ramdisk and a machine image registered from multi-part bundles in the account's bucket."""
    files = image_files(tmp_path_factory.mktemp("bundle"))
    kernel = ec2.register_image(Name="bundle-kernel", ImageLocation=upload_bundle(
        s3, bucket, "kernel", files["kernel"].read_bytes(), "kernel", "blob"))["ImageId"]
    ramdisk = ec2.register_image(Name="bundle-ramdisk", ImageLocation=upload_bundle(
        s3, bucket, "ramdisk", files["ramdisk"].read_bytes(), "ramdisk", "blob"))["ImageId"]
    machine = ec2.register_image(Name="bundle-machine", Description="from parts", ImageLocation=upload_bundle(
        s3, bucket, "machine", files["root"].read_bytes(), "machine", "qcow2", kernel_cmdline="console=ttyS0"),
        KernelId=kernel, RamdiskId=ramdisk)["ImageId"]
    return {"kernel": kernel, "ramdisk": ramdisk, "machine": machine, "files": files}


def test_bundles_register_as_aki_ari_ami_cached_by_content(server, ec2, registered, acme):
    images = {i["ImageId"]: i for i in ec2.describe_images(Owners=["self"])["Images"]}
    machine = images[registered["machine"]]
    assert registered["kernel"].startswith("aki-") and registered["ramdisk"].startswith("ari-")
    assert (machine["ImageType"], machine["State"], machine["OwnerId"]) == ("machine", "available", acme.account_id)
    assert (machine["KernelId"], machine["RamdiskId"]) == (registered["kernel"], registered["ramdisk"])
    assert machine["ImageLocation"] == "acme-images/bundles/machine.manifest.xml"
    assert machine["Public"] is False and machine["RootDeviceType"] == "instance-store"
    assert images[registered["kernel"]]["ImageType"] == "kernel"
    root_sha = sha(registered["files"]["root"].read_bytes())
    assert server.runtime.driver.images.get(root_sha, "qcow2").sha256 == root_sha


def test_a_registered_image_boots_its_kernel_line(server, ec2, registered):
    iid = ec2.run_instances(ImageId=registered["machine"], MinCount=1, MaxCount=1,
                            InstanceType="t1.micro")["Instances"][0]["InstanceId"]
    server.settle()
    dom = server.runtime.driver.nodes[0].connection().lookupByName(f"silvereye-{iid}")
    xml = dom.XMLDesc(0)
    assert "<cmdline>console=ttyS0</cmdline>" in xml
    kernel_sha = sha(registered["files"]["kernel"].read_bytes())
    assert f"{kernel_sha}.blob" in xml


def test_a_disk_image_object_registers_directly(server, ec2, s3, bucket, tmp_path):
    disk = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(disk), "8M"], check=True)
    s3.put_object(Bucket=bucket, Key="disks/plain.raw", Body=disk.read_bytes())
    image_id = ec2.register_image(Name="plain-disk", ImageLocation=f"{bucket}/disks/plain.raw", BootMode="uefi")["ImageId"]
    found = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert (found["ImageType"], found.get("KernelId"), found["BootMode"]) == ("machine", None, "uefi")


def test_registration_errors(ec2, s3, bucket, server, other):
    good = upload_bundle(s3, bucket, "solo", b"k" * 100, "kernel", "blob", parts=1)
    with aws_error("InvalidAMIName.Duplicate", match="bundle-kernel"):
        ec2.register_image(Name="bundle-kernel", ImageLocation=good)
    s3.put_object(Bucket=bucket, Key="bundles/solo.part.0", Body=b"x" * 100)  # the part changed under the manifest
    with aws_error("InvalidManifest", match="does not match its digest"):
        ec2.register_image(Name="tampered", ImageLocation=good)
    s3.put_object(Bucket=bucket, Key="bundles/evil.manifest.xml", Body=(
        b"<manifest><image><name>x</name><type>kernel</type><size>1</size><digest algorithm='SHA256'>" + b"0" * 64
        + b"</digest><parts count='1'><part index='0'><filename>../../etc/passwd</filename><digest algorithm='SHA256'>"
        + b"0" * 64 + b"</digest></part></parts></image></manifest>"))
    with aws_error("InvalidManifest", match="plain name"):
        ec2.register_image(Name="escape", ImageLocation=f"{bucket}/bundles/evil.manifest.xml")
    s3.put_object(Bucket=bucket, Key="bundles/euca.manifest.xml", Body=(
        b"<manifest><image><name>x</name><type>machine</type><ec2_encrypted_key>abc</ec2_encrypted_key></image></manifest>"))
    with aws_error("InvalidManifest", match="Encrypted bundles"):
        ec2.register_image(Name="euca", ImageLocation=f"{bucket}/bundles/euca.manifest.xml")
    with aws_error("InvalidManifest", match="does not exist or you are not allowed"):
        ec2.register_image(Name="missing", ImageLocation=f"{bucket}/bundles/none.manifest.xml")
    # Another account may not register images from our private bucket.
    with aws_error("InvalidManifest", match="not allowed"):
        server.client("ec2", other).register_image(Name="stolen", ImageLocation=good)
    with aws_error("InvalidAMIName.Malformed"):
        ec2.register_image(Name="no <tags> here", ImageLocation=good)
    with aws_error("MissingParameter", match="ImageLocation"):
        ec2.register_image(Name="nowhere")


def test_visibility_owners_executable_by_and_launch_permissions(server, ec2, other, registered, image):
    theirs = server.client("ec2", other)
    machine = registered["machine"]
    with aws_error("InvalidAMIID.NotFound"):
        theirs.describe_images(ImageIds=[machine])
    with aws_error("InvalidAMIID.NotFound"):
        theirs.run_instances(ImageId=machine, MinCount=1, MaxCount=1)
    # The admin's installed image is public and the cloud's own (owner alias amazon).
    amazon = {i["ImageId"] for i in theirs.describe_images(Owners=["amazon"])["Images"]}
    assert image.image_id in amazon and machine not in amazon
    ec2.modify_image_attribute(ImageId=machine, LaunchPermission={"Add": [{"UserId": other.account_id}]})
    assert theirs.describe_images(ImageIds=[machine])["Images"][0]["Public"] is False
    assert machine in {i["ImageId"] for i in theirs.describe_images(ExecutableUsers=["self"])["Images"]}
    assert machine not in {i["ImageId"] for i in theirs.describe_images(Owners=["self"])["Images"]}
    assert ec2.describe_image_attribute(ImageId=machine, Attribute="launchPermission")["LaunchPermissions"] == [
        {"UserId": other.account_id}]
    with aws_error("AuthFailure"):  # only the owner changes who may launch
        theirs.modify_image_attribute(ImageId=machine, LaunchPermission={"Add": [{"Group": "all"}]})
    # The kernel and ramdisk are the owner's and private: shared machine images need them shared too.
    with aws_error("InvalidAMIID.NotFound"):
        theirs.run_instances(ImageId=machine, MinCount=1, MaxCount=1, InstanceType="t1.micro")
    for part in (registered["kernel"], registered["ramdisk"]):
        ec2.modify_image_attribute(ImageId=part, Attribute="launchPermission", OperationType="add",
                                   UserGroups=["all"])
    theirs.run_instances(ImageId=machine, MinCount=1, MaxCount=1, InstanceType="t1.micro")
    ec2.modify_image_attribute(ImageId=machine, LaunchPermission={"Remove": [{"UserId": other.account_id}],
                                                                  "Add": [{"Group": "all"}]})
    assert ec2.describe_images(ImageIds=[machine])["Images"][0]["Public"] is True
    assert machine in {i["ImageId"] for i in theirs.describe_images(ExecutableUsers=["all"])["Images"]}
    ec2.reset_image_attribute(ImageId=machine, Attribute="launchPermission")
    with aws_error("InvalidAMIID.NotFound"):
        theirs.describe_images(ImageIds=[machine])
    server.settle()


def test_filters_description_and_tags(ec2, registered):
    found = ec2.describe_images(Filters=[{"Name": "image-type", "Values": ["kernel", "ramdisk"]},
                                         {"Name": "name", "Values": ["bundle-*"]}])["Images"]
    assert {i["ImageId"] for i in found} == {registered["kernel"], registered["ramdisk"]}
    ec2.modify_image_attribute(ImageId=registered["machine"], Description={"Value": "now described"})
    assert ec2.describe_image_attribute(ImageId=registered["machine"], Attribute="description")[
        "Description"] == {"Value": "now described"}
    ec2.create_tags(Resources=[registered["machine"]], Tags=[{"Key": "os", "Value": "tiny"}])
    found = ec2.describe_images(Filters=[{"Name": "tag:os", "Values": ["tiny"]}])["Images"]
    assert [i["ImageId"] for i in found] == [registered["machine"]]
    with aws_error("InvalidParameterCombination"):
        ec2.describe_images(ImageIds=[registered["machine"]], MaxResults=5)


def test_create_image_from_a_stopped_instance_then_deregister(server, ec2, image):
    iid = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0][
        "InstanceId"]
    server.settle()
    ec2.stop_instances(InstanceIds=[iid])
    server.settle()
    overlay = server.runtime.driver.instance_dir(iid) / "root.qcow2"
    subprocess.run(["qemu-io", "-c", "write -P 0x5a 1M 64k", str(overlay)], check=True, capture_output=True)
    made = ec2.create_image(InstanceId=iid, Name="from-instance", Description="a snapshot",
                            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "from", "Value": iid}]}])
    server.settle()
    new = ec2.describe_images(ImageIds=[made["ImageId"]])["Images"][0]
    assert (new["State"], new["KernelId"], new["RamdiskId"]) == ("available", image.kernel_id, image.ramdisk_id)
    assert new["Tags"] == [{"Key": "from", "Value": iid}]
    assert new["ImageLocation"].startswith("silvereye-system-images/")
    assert one_state(ec2, iid) == "stopped"
    # The new image is flat (no backing file) and holds what the instance wrote.
    row_sha = server.runtime.driver.images.list()
    flat = [c for c in row_sha if c.format == "qcow2" and _has_pattern(c.path)]
    assert flat, "the image cache holds no file with the instance's data"
    info = subprocess.run(["qemu-img", "info", str(flat[0].path)], capture_output=True, text=True, check=True).stdout
    assert "backing file" not in info
    second = ec2.run_instances(ImageId=made["ImageId"], MinCount=1, MaxCount=1, InstanceType="t1.micro")
    server.settle()
    assert one_state(ec2, second["Instances"][0]["InstanceId"]) == "running"
    assert ec2.deregister_image(ImageId=made["ImageId"])["Return"] is True
    with aws_error("InvalidAMIID.NotFound"):
        ec2.describe_images(ImageIds=[made["ImageId"]])
    assert one_state(ec2, second["Instances"][0]["InstanceId"]) == "running"  # what runs keeps running


def test_create_image_of_a_running_instance_cycles_it(server, ec2, image):
    iid = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0][
        "InstanceId"]
    server.settle()
    made = ec2.create_image(InstanceId=iid, Name="while-running")
    assert one_state(ec2, iid) in ("stopping", "stopped", "pending", "running")
    server.settle()
    assert ec2.describe_images(ImageIds=[made["ImageId"]])["Images"][0]["State"] == "available"
    assert one_state(ec2, iid) == "running"
    quick = ec2.create_image(InstanceId=iid, Name="no-reboot", NoReboot=True)
    assert one_state(ec2, iid) == "running"
    server.settle()
    assert ec2.describe_images(ImageIds=[quick["ImageId"]])["Images"][0]["State"] == "available"


def one_state(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def _has_pattern(path) -> bool:
    out = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k", str(path)],
                         capture_output=True, text=True)
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout + out.stderr
