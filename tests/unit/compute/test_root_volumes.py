"""Instances that boot from an EBS root volume, as libvirt's test driver records them.

The domain document, the volume's attachment as Volumes reports it, the
refusals (a volume in use, two roots, a bad device name) that must come
before anything is made, and a terminate that hands the volume back intact.
Booting for real: tests/e2e/test_compute_root_volume.py.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import replace
import xml.etree.ElementTree as ET

import pytest

from silvereye.compute import BootSource, HeldVolume, LaunchRequest, instance_types
from silvereye.compute.domain_xml import DomainSpec, UefiFirmware, build_domain, read_metadata
from silvereye.compute.errors import InvalidArgument, InvalidState
from silvereye.compute.volumes import DeviceInUse, VolumeInUse, VolumeNotFound, Volumes, check_root_device
from tests.unit.compute.conftest import OWNER
from tests.unit.compute.test_volumes import attach_in_definition

MiB = 1 << 20
VOL, VOL2 = "vol-0123456789abcdef0", "vol-00000000000000001"


@pytest.fixture
def volumes(driver):
    return Volumes(driver)


@pytest.fixture
def volume_boot(kernel_pair):
    def make(volume_id=VOL, **kw) -> BootSource:
        kernel, ramdisk = kernel_pair
        return BootSource(root_volume=volume_id, kernel=kernel, ramdisk=ramdisk, **kw)
    return make


def request(boot: BootSource, instance_id: str = "i-0000000000000000a") -> LaunchRequest:
    return LaunchRequest(instance_id, OWNER, "t2.nano", boot, image_id="ami-0e850e85")


def disks_of(driver, instance_id: str) -> list[ET.Element]:
    dom = driver.nodes[0].connection().lookupByName(f"silvereye-{instance_id}")
    return ET.fromstring(dom.XMLDesc(0)).findall("devices/disk")


def nothing_made(driver, instance_id: str) -> bool:
    conn = driver.nodes[0].connection()
    return (instance_id not in [i.instance_id for i in driver.list_instances()]
            and all(r.name != instance_id for r in driver.network.reservations(conn))
            and not driver.instance_dir(instance_id).exists())


def test_an_instance_boots_from_its_volume_and_the_volume_shows_attached_as_its_root(driver, volumes, volume_boot):
    volumes.create(VOL, 64 * MiB)
    info = driver.launch(request(volume_boot(root_device_name="/dev/xvda")))
    (disk,) = disks_of(driver, info.instance_id)
    assert disk.find("source").get("file") == str(volumes.path_of(VOL))
    assert (disk.find("target").get("dev"), disk.findtext("serial"), disk.find("alias").get("name")) == \
        ("vda", "vol0123456789abcdef0", f"ua-{VOL}")
    assert not driver.instance_dir(info.instance_id).joinpath("root.qcow2").exists()  # no overlay: the volume itself
    assert (info.root_volume, info.root_device) == (VOL, "/dev/xvda")

    described = volumes.describe(VOL)
    assert described.state == "attached"
    att = described.attachment
    assert (att.instance_id, att.target, att.device, att.root) == (info.instance_id, "vda", "/dev/xvda", True)
    assert volumes.attachments_of(info.instance_id) == [(VOL, att)]

    # Stop and start keep it; a stopped instance's root can be detached, never a running one's.
    with pytest.raises(InvalidState, match="root volume of running instance"):
        volumes.detach(VOL)
    driver.stop(info.instance_id, force=True)
    driver.start(info.instance_id)
    assert volumes.describe(VOL).attachment == att
    with pytest.raises(VolumeInUse, match="cannot delete"):
        volumes.delete(VOL)


def test_a_volume_in_use_is_refused_before_anything_is_made(driver, volumes, volume_boot, launch):
    volumes.create(VOL, 64 * MiB)
    first = driver.launch(request(volume_boot()))
    with pytest.raises(VolumeInUse, match=f"cannot boot i-0000000000000000b from volume {VOL}: "
                                          f"it is attached to {first.instance_id}"):
        driver.launch(request(volume_boot(), "i-0000000000000000b"))
    assert nothing_made(driver, "i-0000000000000000b")

    # Attached as a data volume elsewhere: refused the same way.
    other = launch()
    driver.stop(other.instance_id, force=True)
    volumes.create(VOL2, MiB)
    attach_in_definition(driver, other.instance_id, volumes.path_of(VOL2), VOL2, "vdf")
    with pytest.raises(VolumeInUse, match=f"attached to {other.instance_id}"):
        driver.launch(request(volume_boot(VOL2), "i-0000000000000000c"))
    assert nothing_made(driver, "i-0000000000000000c")


@pytest.mark.parametrize("change, error, message", [
    (dict(root_volume="vol-0000000000000000f"), VolumeNotFound, "does not exist"),
    (dict(root_volume="vol-../../etc"), InvalidArgument, "not a volume id"),
    (dict(root_device_name="/dev/sdf"), InvalidArgument, "root device name"),
    (dict(root_device_name="/dev/sda1\n<x/>"), InvalidArgument, "root device name"),
])
def test_bad_root_volumes_are_refused_and_leave_nothing(driver, volumes, volume_boot, change, error, message):
    volumes.create(VOL, MiB)
    boot = volume_boot(**{"volume_id": change.pop("root_volume", VOL), **change})
    with pytest.raises(error, match=message):
        driver.launch(request(boot))
    assert nothing_made(driver, "i-0000000000000000a")
    assert volumes.describe(VOL).state == "available"


def test_an_image_root_and_a_volume_root_together_are_refused(driver, volumes, volume_boot, base_image):
    volumes.create(VOL, MiB)
    with pytest.raises(InvalidArgument, match="not both"):
        driver.launch(request(replace(volume_boot(), root=base_image)))
    assert nothing_made(driver, "i-0000000000000000a")


def test_a_failed_launch_leaves_the_volume_available_and_untouched(driver, volumes, volume_boot, monkeypatch):
    volumes.create(VOL, 64 * MiB)
    before = subprocess.run(["sha256sum", str(volumes.path_of(VOL))], capture_output=True, text=True).stdout
    real = driver._lay_down_and_start

    def fails_after_define(*args, **kw):
        real(*args, **kw)
        raise RuntimeError("the node lost power")

    monkeypatch.setattr(driver, "_lay_down_and_start", fails_after_define)
    with pytest.raises(RuntimeError):
        driver.launch(request(volume_boot()))
    assert nothing_made(driver, "i-0000000000000000a")
    assert volumes.describe(VOL).state == "available"
    assert subprocess.run(["sha256sum", str(volumes.path_of(VOL))], capture_output=True, text=True).stdout == before


def test_terminate_reports_the_volumes_it_released_and_deletes_none(driver, volumes, volume_boot):
    volumes.create(VOL, 64 * MiB)
    volumes.create(VOL2, MiB)
    info = driver.launch(request(volume_boot(root_device_name="/dev/xvda")))
    driver.stop(info.instance_id, force=True)
    attach_in_definition(driver, info.instance_id, volumes.path_of(VOL2), VOL2, "vdg")
    report = driver.terminate_with_report(info.instance_id)
    assert report.found
    assert report.volumes == (HeldVolume(VOL, "/dev/xvda", True), HeldVolume(VOL2, "/dev/sdg", False))
    assert [(v.volume_id, v.state) for v in volumes.list()] == [(VOL2, "available"), (VOL, "available")]
    assert driver.terminate_with_report(info.instance_id).found is False

    # The same volume boots the next instance.
    again = driver.launch(request(volume_boot(), "i-0000000000000000d"))
    assert volumes.describe(VOL).attachment.instance_id == again.instance_id


def test_a_root_volume_is_attached_at_a_root_device_name_only_to_a_stopped_instance_without_one(
        driver, volumes, volume_boot, kernel_pair):
    volumes.create(VOL, 64 * MiB)
    volumes.create(VOL2, 64 * MiB)
    info = driver.launch(request(volume_boot(root_device_name="/dev/xvda")))
    with pytest.raises(DeviceInUse):
        volumes.attach(VOL2, info.instance_id, "/dev/xvda")
    kernel, ramdisk = kernel_pair  # an instance without any root disk, running
    diskless = driver.launch(request(BootSource(kernel=kernel, ramdisk=ramdisk), "i-0000000000000000e"))
    with pytest.raises(InvalidState, match="must be stopped"):
        volumes.attach(VOL2, diskless.instance_id, "/dev/sda1")
    assert volumes.describe(VOL2).state == "available"


@pytest.mark.parametrize("name", ["/dev/sda1", "/dev/xvda", "/dev/vda", "/dev/sda"])
def test_root_device_names(name):
    assert check_root_device(name) == name


def test_the_domain_document_of_a_volume_root_with_uefi(tmp_path, volumes, driver):
    volumes.create(VOL, MiB)
    disk = volumes.root_disk(VOL, "i-0123456789abcdef0")
    firmware = UefiFirmware(tmp_path / "OVMF_CODE.fd", tmp_path / "OVMF_VARS.fd")
    spec = DomainSpec(instance_id="i-0123456789abcdef0", owner=OWNER, instance_type=instance_types.get("t2.micro"),
                      domain_type="qemu", network="silvereye", mac="d0:0d:12:34:56:78", private_ip="172.31.0.4",
                      console_log=tmp_path / "console.log", root_volume=disk, root_device="/dev/sda1",
                      firmware="uefi", uefi=firmware, uefi_vars=tmp_path / "vars.fd")
    xml = build_domain(spec).to_xml()
    root = ET.fromstring(xml)
    assert root.findtext("os/loader") == str(firmware.code) and root.find("os/boot").get("dev") == "hd"
    (el,) = root.findall("devices/disk")
    assert (el.find("target").get("dev"), el.findtext("serial")) == ("vda", "vol0123456789abcdef0")
    assert read_metadata(xml).root_device == "/dev/sda1"
    with pytest.raises(InvalidArgument, match="one root disk"):
        build_domain(DomainSpec(**{**spec.__dict__, "root_disk": tmp_path / "root.qcow2"}))


def test_every_volumes_of_one_driver_serialises_the_same_volume(driver, volumes):
    """The EC2 layer's Volumes(driver) and the driver's own (launching from root volumes) share locks."""
    def take():
        with driver.volumes.lock(VOL):
            pass

    with volumes.lock(VOL):
        waiter = threading.Thread(target=take)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()
    waiter.join(5)
    assert not waiter.is_alive()
