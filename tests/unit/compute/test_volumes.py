"""Volumes as files and as libvirt sees them: create, grow, delete, devices, and attachment rules.

Real qemu-img on real files; attachments read from libvirt's test driver
(which cannot hot-plug: tests/e2e/test_compute_volumes.py does that under QEMU).
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import libvirt
import pytest

from silvereye.compute import InstanceNotFound
from silvereye.compute.errors import ImageError, InvalidArgument
from silvereye.compute.volumes import (
    DeviceInUse,
    VolumeExists,
    VolumeInUse,
    VolumeNotAttached,
    VolumeNotFound,
    Volumes,
    device_target,
    volume_serial,
)

MiB = 1 << 20
VOL, VOL2 = "vol-0123456789abcdef0", "vol-00000000000000001"


def qemu_io(path, command: str) -> None:
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, str(path)], check=True, capture_output=True)


@pytest.fixture
def volumes(driver):
    return Volumes(driver)


def test_a_new_volume_is_an_empty_qcow2_of_its_size(volumes, cfg):
    info = volumes.create(VOL, 64 * MiB)
    assert info.path == cfg.volumes_path / f"{VOL}.qcow2"
    assert (info.size, info.state, info.attachment) == (64 * MiB, "available", None)
    assert info.allocated < MiB  # sparse
    assert [v.volume_id for v in volumes.list()] == [VOL]
    with pytest.raises(VolumeExists):
        volumes.create(VOL, 64 * MiB)


@pytest.mark.parametrize("volume_id, size, message", [
    ("vol-XYZ", MiB, "not a volume id"),
    ("../etc/passwd", MiB, "not a volume id"),
    (VOL, 0, "positive multiple of 512"),
    (VOL, 1000, "positive multiple of 512"),
    (VOL, 17 << 40, "up to 16 TiB"),
    (VOL, None, "needs a size"),
])
def test_bad_volumes_are_refused_before_anything_is_written(volumes, cfg, volume_id, size, message):
    with pytest.raises(InvalidArgument, match=message):
        volumes.create(volume_id, size)
    assert not cfg.volumes_path.exists() or not list(cfg.volumes_path.iterdir())


@pytest.mark.parametrize("device, target", [("/dev/sdf", "vdf"), ("/dev/xvdg", "vdg"), ("/dev/vdb", "vdb"),
                                            ("/dev/sdz", "vdz")])
def test_ec2_device_names_map_to_virtio_targets(device, target):
    assert device_target(device) == target


@pytest.mark.parametrize("device", ["/dev/sda", "/dev/sda1", "sdf", "/dev/hdf", "/dev/sdf/../x", "/dev/nvme1n1"])
def test_other_device_names_are_refused(device):
    with pytest.raises(InvalidArgument, match="device name"):
        device_target(device)


def test_a_detached_volume_grows_and_never_shrinks(volumes):
    volumes.create(VOL, 64 * MiB)
    qemu_io(volumes.path_of(VOL), "write -P 0x5a 0 1M")
    assert volumes.grow(VOL, 128 * MiB).size == 128 * MiB
    assert volumes.grow(VOL, 128 * MiB).size == 128 * MiB
    with pytest.raises(InvalidArgument, match="only grow"):
        volumes.grow(VOL, 64 * MiB)
    qemu_io(volumes.path_of(VOL), "read -P 0x5a 0 1M")  # the data is still there


def test_delete_removes_the_file_and_unknown_volumes_are_not_found(volumes):
    volumes.create(VOL, MiB)
    volumes.delete(VOL)
    assert not volumes.path_of(VOL).exists()
    for call in (lambda: volumes.delete(VOL), lambda: volumes.describe(VOL), lambda: volumes.grow(VOL, 2 * MiB),
                 lambda: volumes.detach(VOL)):
        with pytest.raises(VolumeNotFound):
            call()


def test_a_volume_from_an_image_holds_its_bytes(volumes, tmp_path):
    raw = tmp_path / "disk.raw"
    raw.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    info = volumes.create(VOL, 4 * MiB, source=raw)
    assert info.size == 4 * MiB
    subprocess.run(["qemu-img", "dd", "-f", "qcow2", "-O", "raw", f"if={info.path}", f"of={tmp_path / 'out'}",
                    "bs=1M", "count=1"], check=True)
    assert (tmp_path / "out").read_bytes() == raw.read_bytes()
    with pytest.raises(InvalidArgument, match="smaller than the image"):
        volumes.create(VOL2, 512 * 1024, source=raw)
    backed = tmp_path / "backed.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(raw), str(backed)], check=True)
    with pytest.raises(ImageError, match="backing file"):
        volumes.create(VOL2, None, source=backed)
    assert not volumes.path_of(VOL2).exists()


def attach_in_definition(driver, instance_id: str, path, volume_id: str, target: str) -> None:
    """Record an attachment in a stopped domain's definition the way libvirt keeps one."""
    conn = driver.nodes[0].connection()
    dom = conn.lookupByName(f"silvereye-{instance_id}")
    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    disk = ET.SubElement(root.find("devices"), "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2")
    ET.SubElement(disk, "source", file=str(path))
    ET.SubElement(disk, "target", dev=target, bus="virtio")
    ET.SubElement(disk, "serial").text = volume_serial(volume_id)
    conn.defineXML(ET.tostring(root, encoding="unicode"))


def test_libvirt_says_where_a_volume_is_attached_and_attached_volumes_are_kept(driver, volumes, launch):
    info = launch()
    driver.stop(info.instance_id, force=True)
    volumes.create(VOL, MiB)
    volumes.create(VOL2, MiB)
    attach_in_definition(driver, info.instance_id, volumes.path_of(VOL), VOL, "vdf")
    attached = volumes.describe(VOL)
    assert attached.state == "attached"
    assert (attached.attachment.instance_id, attached.attachment.target, attached.attachment.device) == \
        (info.instance_id, "vdf", "/dev/sdf")
    assert volumes.attachments_of(info.instance_id) == [(VOL, attached.attachment)]
    with pytest.raises(VolumeInUse, match=f"cannot delete volume {VOL}: it is attached to {info.instance_id}"):
        volumes.delete(VOL)
    with pytest.raises(VolumeInUse):
        volumes.attach(VOL, info.instance_id, "/dev/sdg")
    with pytest.raises(DeviceInUse, match="/dev/xvdf"):
        volumes.attach(VOL2, info.instance_id, "/dev/xvdf")
    with pytest.raises(VolumeNotAttached, match="not attached"):
        volumes.detach(VOL2)
    with pytest.raises(VolumeNotAttached, match=f"attached to {info.instance_id}, not to i-0000000000000000f"):
        volumes.detach(VOL, instance_id="i-0000000000000000f")
    with pytest.raises(InstanceNotFound):
        volumes.attach(VOL2, "i-0000000000000000f", "/dev/sdg")
    assert volumes.path_of(VOL).exists() and volumes.describe(VOL2).state == "available"
    driver.terminate(info.instance_id)
    assert volumes.describe(VOL).state == "available"  # a volume outlives its instance
