"""Snapshots of volumes: a crash-consistent, self-contained qcow2 image of one point in time.

A snapshot is produced as a local file (``<volumes>/.snapshots/<snap-id>.qcow2``)
that the S3 layer streams into a system bucket (:meth:`SnapshotImage.chunks`)
and then discards. The file is the volume's qcow2 file as it was at one
instant: self-contained (volumes have no backing file), holding only the
clusters the volume has data in; restoring converts it into a new volume
(:meth:`Snapshots.restore`, which validates it like any image), byte for byte.

A volume no running guest writes to (detached, or its instance stopped, kept
from starting meanwhile) is copied as it is. A volume attached to a running
instance is first frozen at one instant, the way a power cut would leave it
(crash-consistent, as EBS snapshots are): a libvirt disk-only external
snapshot, atomic, switches the guest's writes to a temporary overlay and
leaves the volume file read-only and settled; it is copied while the guest
runs on; then an active block commit merges the overlay back and pivots the
guest onto the volume again. The copy is ``copy_file_range`` in chunks (the
kernel copies, and progress comes for free). Measured here on a 1 GiB volume:
libvirt's push-mode backup job (QEMU's copy-before-write) reached about a
third of ``qemu-img convert``'s throughput; ``qemu-img convert`` itself of
the frozen file plus the freeze and merge (~0.2 s together) came out under
70% of it; the kernel's copy is several times faster than either.

If the process dies between freeze and merge, the guest keeps running on
the overlay; :meth:`Snapshots.recover` (run at service start) merges every
leftover overlay back, whether its instance runs, stopped or is gone.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from silvereye.compute import ids
from silvereye.compute.errors import ComputeError, HypervisorError, InvalidArgument, libvirt_call
from silvereye.compute.volumes import (
    ALIAS_PREFIX,
    VolumeInfo,
    Volumes,
    _disks,
    check_volume_id,
    volume_serial,
)

_SNAPSHOT_ID = re.compile(r"snap-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_OVERLAY = re.compile(r"\.(vol-[0-9a-f]{8,17})\.(snap-[0-9a-f]{8,17})\.overlay\.qcow2")
CHUNK = 64 << 20  # copy step (and progress granularity)
STREAM_CHUNK = 8 << 20  # what chunks() hands the S3 layer at a time
MERGE_TIMEOUT = 600.0

Progress = Callable[[float], None]  # called with the fraction done, 0.0 to 1.0


def check_snapshot_id(value: str) -> str:
    return ids._check(_SNAPSHOT_ID, value, "a snapshot id (expected snap- and 8 or 17 lowercase hex digits)")


@dataclass(frozen=True)
class SnapshotImage:
    """A snapshot as a file, ready to be stored; ``size`` is the file's, ``volume_size`` the disk's."""

    snapshot_id: str
    volume_id: str
    path: Path
    size: int
    volume_size: int
    seconds: float  # freeze, copy and merge

    def chunks(self, chunk_size: int = STREAM_CHUNK) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _copy(source: Path, dest: Path, progress: Progress | None) -> None:
    """Copy a settled volume file, ``CHUNK`` bytes at a time, in the kernel where it can."""
    size = source.stat().st_size
    done = 0
    with open(source, "rb") as src, open(dest, "wb") as out:
        while done < size:
            want = min(CHUNK, size - done)
            try:
                n = os.copy_file_range(src.fileno(), out.fileno(), want)
            except OSError:  # a filesystem pair without copy_file_range: copy through userspace
                n = out.write(src.read(want))
            if n == 0:
                raise ComputeError(f"{source.name} ended at {done} of {size} bytes while it was copied")
            done += n
            if progress is not None:
                progress(done / size)


class Snapshots:
    """Snapshots of the volumes of one :class:`~silvereye.compute.volumes.Volumes`."""

    def __init__(self, volumes: Volumes, staging: Path | None = None):
        self.volumes = volumes
        self.driver = volumes.driver
        self.staging = Path(staging) if staging else volumes.root / ".snapshots"

    def _overlay(self, volume_id: str, snapshot_id: str) -> Path:
        return self.volumes.root / f".{volume_id}.{snapshot_id}.overlay.qcow2"

    # -- taking and restoring -------------------------------------------------

    def create(self, volume_id: str, snapshot_id: str, *, progress: Progress | None = None) -> SnapshotImage:
        """The volume's content now, as a file (crash-consistent when a running guest writes to it)."""
        check_snapshot_id(snapshot_id)
        dest = self.staging / f"{snapshot_id}.qcow2"
        tmp = self.staging / f".{snapshot_id}.partial"
        started = time.monotonic()
        with self.volumes.lock(volume_id):
            info = self.volumes.describe(volume_id)
            os.makedirs(self.staging, mode=0o700, exist_ok=True)
            if dest.exists():
                raise InvalidArgument(f"snapshot {snapshot_id} already has an image at {dest}")
            try:
                dom = self._running_domain(info)
                if dom is not None:
                    self._copy_live(dom, info, snapshot_id, tmp, progress)
                elif info.attachment is not None:  # its instance is stopped: keep it from starting meanwhile
                    with self.driver._lock_for(info.attachment.instance_id):
                        if self._running_domain(self.volumes.describe(volume_id)) is not None:
                            raise ComputeError(f"the instance of {volume_id} started; snapshot it again")
                        _copy(info.path, tmp, progress)
                else:
                    _copy(info.path, tmp, progress)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        if progress is not None:
            progress(1.0)
        return SnapshotImage(snapshot_id, volume_id, dest, dest.stat().st_size, info.size,
                             round(time.monotonic() - started, 3))

    def receive(self, chunks: Iterable[bytes]) -> Path:
        """Write a stored snapshot's bytes (from the S3 layer) back to a local file of its own."""
        os.makedirs(self.staging, mode=0o700, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.staging, prefix=".", suffix=".received")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def restore(self, volume_id: str, snapshot: Path | Iterable[bytes], size: int | None = None) -> VolumeInfo:
        """A new volume holding a snapshot (a file, or its bytes as chunks), at least as large."""
        if isinstance(snapshot, (str, Path)):
            return self.volumes.create(volume_id, size, source=Path(snapshot))
        path = self.receive(snapshot)
        try:
            return self.volumes.create(volume_id, size, source=path)
        finally:
            path.unlink(missing_ok=True)

    # -- the running-guest case -------------------------------------------------

    def _running_domain(self, info: VolumeInfo):
        """The running domain that writes to the volume, or None."""
        if info.attachment is None:
            return None
        try:
            _, dom = self.driver._find(info.attachment.instance_id)
        except ComputeError:
            return None
        serial = volume_serial(info.volume_id)
        return dom if dom.isActive() and serial in _disks(dom.XMLDesc(0)) else None

    def _copy_live(self, dom, info: VolumeInfo, snapshot_id: str, dest: Path, progress: Progress | None) -> None:
        overlay = self._overlay(info.volume_id, snapshot_id)
        self._freeze(dom, info, overlay)
        try:
            _copy(info.path, dest, progress)
        finally:
            self._merge(info.volume_id, overlay)

    def _freeze(self, dom, info: VolumeInfo, overlay: Path) -> None:
        """An atomic disk-only external snapshot of this one disk: the guest now writes to ``overlay``."""
        import libvirt

        serial = volume_serial(info.volume_id)
        doc = ET.Element("domainsnapshot")
        disks = ET.SubElement(doc, "disks")
        for disk in ET.fromstring(dom.XMLDesc(0)).findall("devices/disk"):
            target = disk.find("target")
            if target is None or disk.get("device") not in ("disk", None):
                continue
            el = ET.SubElement(disks, "disk", name=target.get("dev", ""))
            if disk.findtext("serial") == serial:
                el.set("snapshot", "external")
                el.set("type", "file")
                ET.SubElement(el, "driver", type="qcow2")
                ET.SubElement(el, "source", file=str(overlay))
            else:
                el.set("snapshot", "no")
        flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                 | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA)
        with libvirt_call(f"freeze volume {info.volume_id} for a snapshot"):
            dom.snapshotCreateXML(ET.tostring(doc, encoding="unicode"), flags)

    def _merge(self, volume_id: str, overlay: Path) -> None:
        """Fold ``overlay`` back into the volume, wherever its instance now is (running, stopped, gone)."""
        import libvirt

        serial = volume_serial(volume_id)
        base = self.volumes.path_of(volume_id)
        holder = None
        for dom in self._domains():
            config = _disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).get(serial)
            live = _disks(dom.XMLDesc(0)).get(serial) if dom.isActive() else None
            if live is not None and live.source_file == str(overlay):
                self._commit_live(dom, live.target_dev, volume_id)
                return
            if config is not None and config.source_file == str(overlay):
                holder = (dom, config)
        if overlay.exists():
            self.volumes.host.run(["qemu-img", "commit", "-q", "-f", "qcow2", str(overlay)], timeout=7200)
        if holder is not None:  # a stopped instance whose definition still names the overlay
            dom, disk = holder
            disk.source_file = str(base)
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            with libvirt_call(f"point the definition back at volume {volume_id}"):
                dom.detachDeviceAlias(ALIAS_PREFIX + volume_id, flags)
                dom.attachDeviceFlags(disk.to_xml(), flags)
        overlay.unlink(missing_ok=True)

    def _commit_live(self, dom, target: str, volume_id: str) -> None:
        """Active block commit of the overlay into the volume, then pivot the guest back onto it."""
        import libvirt

        flags = libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE | libvirt.VIR_DOMAIN_BLOCK_COMMIT_DELETE
        with libvirt_call(f"merge the snapshot overlay of {volume_id} back"):
            dom.blockCommit(target, None, None, 0, flags)
        deadline = time.monotonic() + MERGE_TIMEOUT
        while True:
            info = dom.blockJobInfo(target, 0)
            if info and info.get("end", 0) > 0 and info.get("cur") == info.get("end"):
                try:
                    dom.blockJobAbort(target, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
                    break
                except libvirt.libvirtError as e:
                    if e.get_error_code() != libvirt.VIR_ERR_BLOCK_COPY_ACTIVE and "not ready" not in str(e):
                        raise HypervisorError(f"cannot pivot {volume_id} back from its overlay: {e}") from None
            elif not info:
                raise HypervisorError(f"the merge of {volume_id}'s snapshot overlay stopped before it was ready")
            if time.monotonic() > deadline:
                raise HypervisorError(f"the merge of {volume_id}'s snapshot overlay did not finish in {MERGE_TIMEOUT:.0f} s")
            time.sleep(0.01)
        while dom.blockJobInfo(target, 0):
            time.sleep(0.01)

    def _domains(self) -> list:
        out = []
        for node in self.driver.reachable_nodes():
            with libvirt_call(f"list domains on node {node.name}"):
                out += node.connection().listAllDomains(0)
        return out

    # -- after a crash ------------------------------------------------------------

    def recover(self) -> list[str]:
        """Merge back every overlay a crash left between freeze and merge; the volumes it fixed."""
        fixed = []
        for name in self.volumes.host.list_dir(self.volumes.root):
            m = _OVERLAY.fullmatch(name)
            if m is None:
                continue
            volume_id = check_volume_id(m.group(1))
            with self.volumes.lock(volume_id):
                self._merge(volume_id, self.volumes.root / name)
            fixed.append(volume_id)
        for name in self.volumes.host.list_dir(self.staging):
            if name.endswith((".partial", ".received")):
                (self.staging / name).unlink(missing_ok=True)
        return fixed
