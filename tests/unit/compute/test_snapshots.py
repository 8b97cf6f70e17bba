"""Snapshots of volumes no guest writes to, their round trip through bytes, and crash recovery.

(Snapshots of a volume a running guest writes to: tests/e2e/test_compute_volumes.py.)
"""

from __future__ import annotations

import json
import subprocess

import pytest

from silvereye.compute.errors import InvalidArgument
from silvereye.compute.snapshots import Snapshots
from silvereye.compute.volumes import Volumes
from tests.unit.compute.test_volumes import VOL, VOL2, MiB, qemu_io

SNAP = "snap-0123456789abcdef0"


def same_content(a, b) -> bool:
    return subprocess.run(["qemu-img", "compare", "-q", str(a), str(b)]).returncode == 0


@pytest.fixture
def volumes(driver):
    return Volumes(driver)


@pytest.fixture
def snapshots(volumes):
    return Snapshots(volumes)


@pytest.fixture
def written(volumes):
    """A 64 MiB volume with 8 MiB of patterns scattered over it."""
    volumes.create(VOL, 64 * MiB)
    for n, offset in enumerate((0, 17, 40, 62)):
        qemu_io(volumes.path_of(VOL), f"write -P {0x41 + n} {offset}M 2M")
    return volumes.describe(VOL)


def test_a_snapshot_is_a_compact_standalone_copy_with_progress(snapshots, written, monkeypatch):
    monkeypatch.setattr("silvereye.compute.snapshots.CHUNK", MiB)
    seen: list[float] = []
    image = snapshots.create(VOL, SNAP, progress=seen.append)
    assert same_content(written.path, image.path)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(image.path)], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert (image.volume_size, image.size) == (64 * MiB, image.path.stat().st_size)
    assert image.size < 16 * MiB  # only the clusters with data
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2
    assert b"".join(image.chunks(MiB)) == image.path.read_bytes()
    with pytest.raises(InvalidArgument, match="already has an image"):
        snapshots.create(VOL, SNAP)
    image.discard()
    assert not image.path.exists()


def test_a_volume_restored_from_a_snapshots_bytes_is_identical(snapshots, volumes, written):
    image = snapshots.create(VOL, SNAP)
    restored = snapshots.restore(VOL2, image.chunks(MiB))
    assert same_content(written.path, restored.path)
    assert restored.size == written.size
    qemu_io(written.path, "write -P 0x7e 0 1M")  # the original moves on; the restored copy does not
    assert not same_content(written.path, restored.path)
    bigger = snapshots.restore("vol-00000000000000002", image.path, size=128 * MiB)
    assert bigger.size == 128 * MiB
    qemu_io(bigger.path, f"read -P {0x42} 17M 2M")
    with pytest.raises(InvalidArgument, match="smaller than the image"):
        snapshots.restore("vol-00000000000000003", image.path, size=32 * MiB)
    assert [p.name for p in snapshots.staging.iterdir()] == [image.path.name]  # received bytes cleaned up


def test_bad_snapshot_ids_are_refused(snapshots, written):
    for bad in ("snap-XYZ", "../snap-00000000", "vol-0123456789abcdef0"):
        with pytest.raises(InvalidArgument, match="snapshot id"):
            snapshots.create(VOL, bad)


def test_recover_merges_an_overlay_a_crash_left_behind(snapshots, volumes, written):
    overlay = volumes.root / f".{VOL}.{SNAP}.overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(written.path), str(overlay)],
                   check=True)
    qemu_io(overlay, "write -P 0x66 5M 1M")  # what the guest wrote after the freeze
    (snapshots.staging).mkdir(parents=True, exist_ok=True)
    (snapshots.staging / f".{SNAP}.partial").write_bytes(b"half a copy")
    assert snapshots.recover() == [VOL]
    assert not overlay.exists()
    qemu_io(written.path, "read -P 0x66 5M 1M")
    qemu_io(written.path, f"read -P {0x41} 0 2M")
    assert list(snapshots.staging.iterdir()) == []
    assert [v.volume_id for v in volumes.list()] == [VOL]
