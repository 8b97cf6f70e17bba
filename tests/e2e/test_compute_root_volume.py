"""EBS-backed tiny instances under real QEMU: an instance whose root disk is a volume.

The volume is made from the tiny image's root disk (as RegisterImage ->
snapshot -> volume would), the instance boots from it and writes a file on
it; the file survives stop/start and reboot; snapshots of the root volume, taken while
the instance runs (crash-consistent) and while it is stopped, boot instances
of their own with the file in place (CreateImage from an EBS-backed
instance); terminate hands the volume back intact, and it boots again.
"""

from __future__ import annotations

import secrets

import pytest

from silvereye.compute import BootSource, HeldVolume, LaunchRequest, ids
from silvereye.compute.domain_xml import find_ovmf
from silvereye.compute.driver import UEFI_VARS
from silvereye.compute.snapshots import Snapshots
from silvereye.compute.volumes import Volumes, volume_serial
from silvereye.images.tiny import BOOT_COMPLETE
from tests.e2e.test_compute_secgroups import Guest, ssh_client
from tests.e2e.test_compute_tiny import host_key_from_console, key_pair

pytestmark = pytest.mark.e2e

OWNER = "210987654321"
BOOT_TIMEOUT = 120
MiB = 1 << 20


def new_volume_id() -> str:
    return "vol-" + secrets.token_hex(9)[:17]


@pytest.fixture
def boot_from_volume(e2e_driver, metadata_server, tiny_image):
    """boot_from_volume(*volume_ids) -> a running Guest per volume, each booted with that volume as root."""
    images = e2e_driver.images
    kernel, ramdisk = images.add_blob(tiny_image.kernel), images.add_blob(tiny_image.ramdisk)
    pkey, public_key = key_pair()
    guests: list[Guest] = []

    def boot(*volume_ids: str) -> list[Guest]:
        infos = []
        for volume_id in volume_ids:
            instance_id = ids.new_instance_id()
            metadata_server.data[instance_id] = {
                "meta-data/instance-id": instance_id.encode(),
                "meta-data/public-keys/0/openssh-key": public_key.encode(),
            }
            source = BootSource(root_volume=volume_id, root_device_name="/dev/xvda", kernel=kernel, ramdisk=ramdisk,
                                kernel_cmdline=tiny_image.kernel_cmdline)
            infos.append(e2e_driver.launch(LaunchRequest(instance_id, OWNER, "t2.nano", source)))
        started = []
        for info in infos:
            e2e_driver.wait_for_console(info.instance_id, BOOT_COMPLETE, timeout=BOOT_TIMEOUT)
            console = e2e_driver.console_output(info.instance_id).decode(errors="replace")
            assert "root disk /dev/vda mounted on /data" in console
            started.append(Guest(info.instance_id, info.private_ip,
                                 ssh_client(info.private_ip, pkey, host_key_from_console(console)), pkey))
        guests.extend(started)
        return started

    yield boot
    for guest in guests:
        guest.client.close()


def test_an_instance_boots_from_its_root_volume_and_the_volume_outlives_it(e2e_driver, tiny_image, boot_from_volume):
    driver = e2e_driver
    volumes, root, live_copy, stopped_copy = Volumes(driver), new_volume_id(), new_volume_id(), new_volume_id()
    snapshots = Snapshots(volumes)

    # The image's root disk becomes a (larger) volume, as RegisterImage's snapshot would.
    image = driver.images.add(tiny_image.root, "qcow2")
    assert volumes.create(root, 128 * MiB, source=image.path).size == 128 * MiB
    (guest,) = boot_from_volume(root)
    console = driver.console_output(guest.instance_id).decode(errors="replace")
    assert "formatting the root disk /dev/vda (first boot)" in console
    # The guest's root disk is the volume (its serial), at the size the volume has.
    assert guest.check("cat /sys/block/vda/serial").strip() == volume_serial(root)
    assert int(guest.check("cat /sys/block/vda/size")) * 512 == 128 * MiB
    attachment = volumes.describe(root).attachment
    assert (attachment.instance_id, attachment.device, attachment.root) == (guest.instance_id, "/dev/xvda", True)
    assert driver.describe(guest.instance_id).root_volume == root

    marker = secrets.token_hex(8)
    guest.check(f"echo {marker} > /data/marker && sync")

    # A snapshot while it runs (crash-consistent; /data is mounted -o sync) and one while it is stopped.
    running_image = snapshots.create(root, "snap-" + secrets.token_hex(9)[:17])
    assert volumes.describe(root).attachment == attachment
    guest.check("echo after-snapshot > /data/later && sync")
    assert driver.stop(guest.instance_id, timeout=60).state == "shutoff"
    stopped_image = snapshots.create(root, "snap-" + secrets.token_hex(9)[:17])

    # Start again: the same volume, nothing reformatted, the file still there.
    offset = driver.console_size(guest.instance_id)
    driver.start(guest.instance_id)
    driver.wait_for_console(guest.instance_id, BOOT_COMPLETE, timeout=BOOT_TIMEOUT, offset=offset)
    assert "formatting" not in driver.console_read(guest.instance_id, offset).decode(errors="replace")
    guest.reconnect(driver, offset)
    assert guest.check("cat /data/marker").strip() == marker
    assert volumes.describe(root).attachment == attachment
    # A reboot too.
    offset = driver.console_size(guest.instance_id)
    driver.reboot(guest.instance_id)
    driver.wait_for_console(guest.instance_id, BOOT_COMPLETE, timeout=BOOT_TIMEOUT, offset=offset)
    guest.reconnect(driver, offset)
    assert guest.check("cat /data/marker").strip() == marker
    assert volumes.describe(root).attachment == attachment

    # Terminate: the volume is released, not deleted, its contents intact.
    report = driver.terminate_with_report(guest.instance_id)
    assert report.volumes == (HeldVolume(root, "/dev/xvda", True),)
    assert volumes.describe(root).state == "available" and volumes.path_of(root).exists()

    # It boots another instance; so do volumes made from the two snapshots.
    snapshots.restore(live_copy, running_image.chunks())
    snapshots.restore(stopped_copy, stopped_image.path)
    running_image.discard()
    stopped_image.discard()
    again, from_live, from_stopped = boot_from_volume(root, live_copy, stopped_copy)
    for g in (again, from_live, from_stopped):
        assert g.check("cat /data/marker").strip() == marker
    assert again.check("cat /data/later").strip() == "after-snapshot"
    assert from_stopped.check("cat /data/later").strip() == "after-snapshot"
    assert from_live.run("test -e /data/later")[0] != 0  # written after that snapshot was taken
    for volume_id, g in ((root, again), (live_copy, from_live), (stopped_copy, from_stopped)):
        assert volumes.describe(volume_id).attachment.instance_id == g.instance_id


def test_a_uefi_instance_starts_its_firmware_on_a_root_volume(e2e_driver):
    """No bootable UEFI disk can be had here: OVMF reaching its boot manager with the volume as
    its disk is what is checked, and that terminate drops the variable store but not the volume."""
    if find_ovmf() is None:
        pytest.fail("OVMF is not installed: install the ovmf package (silvereye/laydown/packages.py image-build)")
    volumes, root = Volumes(e2e_driver), new_volume_id()
    volumes.create(root, 64 * MiB)
    instance_id = ids.new_instance_id()
    e2e_driver.launch(LaunchRequest(instance_id, OWNER, "t2.nano", BootSource(root_volume=root, firmware="uefi")))
    assert (e2e_driver.instance_dir(instance_id) / UEFI_VARS).exists()
    e2e_driver.wait_for_console(instance_id, b"BdsDxe", timeout=120)
    assert volumes.describe(root).attachment.device == "/dev/sda1"
    assert e2e_driver.terminate_with_report(instance_id).volumes == (HeldVolume(root, "/dev/sda1", True),)
    assert not e2e_driver.instance_dir(instance_id).exists()
    assert volumes.describe(root).state == "available"
