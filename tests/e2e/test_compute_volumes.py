"""EBS volumes on tiny instances under real QEMU: hot-plug, data that moves between instances,
live growth, a crash-consistent snapshot taken while the guest writes, a volume made from it,
recovery after a crash mid-snapshot, and a volume given to a stopped instance."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import time

import pytest

from silvereye.compute.snapshots import Snapshots
from silvereye.compute.volumes import VolumeInUse, Volumes, volume_serial
from silvereye.images.tiny import BOOT_COMPLETE
from tests.e2e.test_compute_secgroups import Guest, boot  # noqa: F401  (the boot fixture)

pytestmark = pytest.mark.e2e

MiB = 1 << 20
VOL, COPY = "vol-" + secrets.token_hex(9)[:17], "vol-" + secrets.token_hex(9)[:17]
SNAP = "snap-" + secrets.token_hex(9)[:17]


def device_of(guest: Guest, volume_id: str, timeout: float = 20) -> str:
    """The guest's name for a volume (vdb, vdc...), found by its serial once the hot-plug shows."""
    serial = volume_serial(volume_id)
    script = f'for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = {serial} ] && echo ${{d##*/}}; done; true'
    deadline = time.monotonic() + timeout
    while True:
        found = guest.check(script).strip()
        if found:
            return found
        assert time.monotonic() < deadline, f"{guest.instance_id} never showed volume {volume_id}"
        time.sleep(0.2)


def gone_from(guest: Guest, device: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while guest.run(f"test -e /sys/block/{device}")[0] == 0:
        assert time.monotonic() < deadline, f"{device} is still in {guest.instance_id}"
        time.sleep(0.2)


def read_sha256(guest: Guest, device: str, offset_mib: int, count_mib: int) -> str:
    return guest.check(f"dd if=/dev/{device} bs=1M skip={offset_mib} count={count_mib} 2>/dev/null | sha256sum").split()[0]


def test_a_volume_carries_data_between_instances_and_through_a_snapshot(e2e_driver, boot):
    volumes = Volumes(e2e_driver)  # files under the test's data directory, removed with it
    snapshots = Snapshots(volumes)
    pattern = secrets.token_bytes(4 * MiB)
    digest = hashlib.sha256(pattern).hexdigest()
    first, second = boot(2)
    # Attach to a running instance; the guest finds it by its serial and writes a pattern.
    volumes.create(VOL, 64 * MiB)
    attachment = volumes.attach(VOL, first.instance_id, "/dev/sdf")
    assert (attachment.target, volumes.describe(VOL).state) == ("vdf", "attached")
    dev = device_of(first, VOL)
    assert int(first.check(f"cat /sys/block/{dev}/size")) * 512 == 64 * MiB
    first.check(f"dd of=/dev/{dev} bs=1M seek=8 conv=fsync 2>/dev/null", stdin=pattern)

    # An attached volume can be neither deleted nor attached again.
    with pytest.raises(VolumeInUse):
        volumes.delete(VOL)
    with pytest.raises(VolumeInUse):
        volumes.attach(VOL, second.instance_id, "/dev/sdf")

    # Detach (the guest lets go), attach to the other instance: the pattern is there.
    assert volumes.detach(VOL).state == "available"
    gone_from(first, dev)
    volumes.attach(VOL, second.instance_id, "/dev/xvdg")
    dev = device_of(second, VOL)
    assert read_sha256(second, dev, 8, 4) == digest

    # Grow it while attached: the guest sees the new size.
    assert volumes.grow(VOL, 128 * MiB).size == 128 * MiB
    deadline = time.monotonic() + 10
    while int(second.check(f"cat /sys/block/{dev}/size")) * 512 != 128 * MiB:
        assert time.monotonic() < deadline, "the guest never saw the volume grow"
        time.sleep(0.2)

    # Snapshot while the guest writes elsewhere on the volume: the pattern is in the
    # snapshot, and what the guest wrote meanwhile is in the volume afterwards.
    second.check(f"(dd if=/dev/urandom of=/dev/{dev} bs=1M seek=32 count=24 conv=fsync 2>/dev/null;"
                 f" touch /tmp/written) >/dev/null 2>&1 &")
    progress: list[float] = []
    image = snapshots.create(VOL, SNAP, progress=progress.append)
    assert progress[-1] == 1.0 and image.volume_size == 128 * MiB
    assert volumes.describe(VOL).state == "attached"
    deadline = time.monotonic() + 60
    while second.run("test -e /tmp/written")[0] != 0:
        assert time.monotonic() < deadline, "the guest's writer did not finish"
        time.sleep(0.2)
    written = read_sha256(second, dev, 32, 24)
    second.check(f"dd of=/dev/{dev} bs=1M seek=100 conv=fsync 2>/dev/null", stdin=pattern[:MiB])
    assert read_sha256(second, dev, 8, 4) == digest

    # A new volume from the snapshot holds the same pattern; the original kept every write.
    assert volumes.detach(VOL, instance_id=second.instance_id, force=True).state == "available"
    gone_from(second, dev)
    restored = snapshots.restore(COPY, image.chunks())
    image.discard()
    assert restored.size == 128 * MiB
    volumes.attach(COPY, first.instance_id, "/dev/sdh")
    copy_dev = device_of(first, COPY)
    assert read_sha256(first, copy_dev, 8, 4) == digest
    volumes.attach(VOL, first.instance_id, "/dev/sdi")
    dev = device_of(first, VOL)
    assert read_sha256(first, dev, 32, 24) == written
    assert read_sha256(first, dev, 100, 1) == hashlib.sha256(pattern[:MiB]).hexdigest()
    assert volumes.attachments_of(first.instance_id) == sorted(
        [(COPY, volumes.describe(COPY).attachment), (VOL, volumes.describe(VOL).attachment)])
    assert not [p for p in volumes.root.iterdir() if "overlay" in p.name]

    # A crash between freeze and merge leaves the guest writing to an overlay; recovery folds it back.
    overlay = volumes.root / f".{VOL}.{SNAP}.overlay.qcow2"
    _, dom = e2e_driver._find(first.instance_id)
    snapshots._freeze(dom, volumes.describe(VOL), overlay)
    assert str(overlay) in dom.XMLDesc(0)
    first.check(f"dd of=/dev/{dev} bs=1M seek=110 conv=fsync 2>/dev/null", stdin=pattern[MiB:2 * MiB])
    assert snapshots.recover() == [VOL]
    assert str(overlay) not in dom.XMLDesc(0) and not overlay.exists()
    assert read_sha256(first, dev, 110, 1) == hashlib.sha256(pattern[MiB:2 * MiB]).hexdigest()
    assert volumes.detach(VOL).state == "available"
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"read -P {pattern[MiB]} {110 * MiB} 1", str(volumes.path_of(VOL))],
                   check=True, capture_output=True)


def test_a_stopped_instance_gets_its_volume_when_it_starts(e2e_driver, boot):
    volumes = Volumes(e2e_driver)
    (guest,) = boot(1)
    e2e_driver.stop(guest.instance_id, force=True)
    volumes.create(VOL, 16 * MiB)
    volumes.attach(VOL, guest.instance_id, "/dev/sdf")
    assert volumes.describe(VOL).state == "attached"
    assert volumes.detach(VOL).state == "available"
    volumes.attach(VOL, guest.instance_id, "/dev/sdf")
    assert volumes.grow(VOL, 32 * MiB).size == 32 * MiB  # not running: qemu-img resizes the file
    offset = e2e_driver.console_size(guest.instance_id)
    e2e_driver.start(guest.instance_id)
    e2e_driver.wait_for_console(guest.instance_id, BOOT_COMPLETE, timeout=120, offset=offset)
    guest.reconnect(e2e_driver, offset)
    dev = device_of(guest, VOL)
    assert int(guest.check(f"cat /sys/block/{dev}/size")) * 512 == 32 * MiB
