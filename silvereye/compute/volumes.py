"""EBS volumes: qcow2 files under ``volumes_path``, hot-plugged into instances as virtio disks.

A volume is ``<volumes_path>/<vol-id>.qcow2`` and nothing else: its size is
the image's virtual size, and where it is attached is read from libvirt,
the ground truth. An attached volume is a ``<disk>`` whose serial is the
volume id without its dash (``vol0123...``, AWS's NVMe serial, so a guest
finds it in ``/sys/block/vd*/serial`` or ``/dev/disk/by-id``) and whose user
alias is ``ua-<vol-id>`` (how it is detached again). The EC2 device name
(``/dev/sdf``, ``/dev/xvdf``) becomes the libvirt target ``vdf``; the guest's
kernel still names virtio disks in the order they appear (the first volume
is ``vdb`` whatever it was called), which is as far as a guest allows.

Attach and detach work on running instances (PCI hot-plug, both the live
domain and its persistent definition) and on stopped ones (the definition
only). A detach asks the guest to let go of the device and waits for it;
a guest that does not answer leaves the volume ``detaching``: the
persistent definition keeps it unless ``force`` is given, in which case it
is dropped from the definition at once and the live device goes as soon as
the guest releases it or the instance stops (QEMU cannot pull a PCI device
out from under a guest). Growing an attached volume resizes it live
(``blockresize``), a detached one with ``qemu-img resize``.

Volumes live on the local node; attaching one to an instance on another
node is refused.

EBS-backed instances (how the EC2 layer uses this): RegisterImage's root
snapshot, or an instance-store image's cached root file, becomes a volume
with :meth:`Volumes.create` (``source=`` a snapshot file or a cached raw or
qcow2 image; at least the image's virtual size). RunInstances launches with
``BootSource(root_volume=vol_id, root_device_name=...)``: the driver refuses
a volume that is attached anywhere (VolumeInUse) before it makes anything,
and the volume's own file becomes the instance's vda, with the volume's
serial and alias, so it shows here as attached (``Attachment.root``, the
recorded root device name) and stays through stop, start and reboot. A
root volume is detached only from a stopped instance, and goes back at a
root device name (/dev/sda1, /dev/xvda) only to a stopped instance without
one. ``ComputeDriver.terminate_with_report`` lists every volume the instance
held, now available again; deleting those marked DeleteOnTermination is the
EC2 layer's decision. CreateImage of an EBS-backed instance is
``Snapshots.create`` on its root volume, crash-consistent while it runs.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import threading
import time
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from silvereye.compute import ids
from silvereye.compute.disks import _check_self_contained, qemu_img_info
from silvereye.compute.domain_xml import Disk, read_metadata
from silvereye.compute.errors import ComputeError, ImageError, InstanceNotFound, InvalidArgument, InvalidState, \
    libvirt_call
from silvereye.compute.hostfiles import LocalHost
from silvereye.compute.model import HeldVolume

_VOLUME_ID = re.compile(r"vol-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_DEVICE = re.compile(r"/dev/(?:sd|xvd|vd)([b-z])")
_ROOT_DEVICE = re.compile(r"/dev/(?:sd|xvd|vd)a1?")
ROOT_TARGET = "vda"  # where a root volume sits: the first virtio disk, what root=/dev/vda and firmware boot
DEFAULT_ROOT_DEVICE = "/dev/sda1"  # EC2's root device name when an image names none
MAX_SIZE = 16 << 40  # 16 TiB, EBS's largest gp2/gp3 volume
ALIAS_PREFIX = "ua-"  # libvirt's prefix for user-chosen device aliases
DETACH_TIMEOUT = 30.0


class VolumeNotFound(ComputeError):
    def __init__(self, volume_id: str):
        super().__init__(f"volume {volume_id} does not exist")
        self.volume_id = volume_id


class VolumeExists(ComputeError):
    def __init__(self, volume_id: str):
        super().__init__(f"volume {volume_id} already exists")
        self.volume_id = volume_id


class VolumeInUse(ComputeError):
    """The volume is attached (EC2: VolumeInUse)."""

    def __init__(self, volume_id: str, instance_id: str, what: str):
        super().__init__(f"cannot {what} volume {volume_id}: it is attached to {instance_id}")
        self.volume_id, self.instance_id = volume_id, instance_id


class DeviceInUse(ComputeError):
    """The instance already has a disk at that device (EC2: InvalidParameterValue, attachment point in use)."""

    def __init__(self, instance_id: str, device: str):
        super().__init__(f"attachment point {device} of {instance_id} is already in use")
        self.instance_id, self.device = instance_id, device


class DetachTimeout(ComputeError):
    """The guest did not release the volume in time; it stays attached (detach with force to drop it)."""


class VolumeNotAttached(InvalidState):
    """Detach of a volume that is not attached (to that instance) (EC2: IncorrectState / InvalidAttachment.NotFound)."""


def check_volume_id(value: str) -> str:
    return ids._check(_VOLUME_ID, value, "a volume id (expected vol- and 8 or 17 lowercase hex digits)")


def device_target(device: str) -> str:
    """libvirt's target for an EC2 device name: /dev/sdf, /dev/xvdf and /dev/vdf all become vdf."""
    m = _DEVICE.fullmatch(device) if isinstance(device, str) else None
    if not m:
        raise InvalidArgument(f"device name {device!r} is not valid; use /dev/sdf to /dev/sdp "
                              "(or /dev/sd[b-z], /dev/xvd[b-z])")
    return "vd" + m.group(1)


def check_root_device(device: str) -> str:
    """An EC2 root device name (/dev/sda1, /dev/xvda...): recorded as given, always libvirt's vda."""
    if not isinstance(device, str) or not _ROOT_DEVICE.fullmatch(device):
        raise InvalidArgument(f"root device name {device!r} is not valid; use /dev/sda1 or /dev/xvda")
    return device


def volume_serial(volume_id: str) -> str:
    """The disk serial a guest sees: the id without its dash (20 characters, virtio-blk's limit)."""
    return check_volume_id(volume_id).replace("-", "")


def check_size(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0 or size % 512 or size > MAX_SIZE:
        raise InvalidArgument(f"volume size {size!r} must be a positive multiple of 512 bytes up to 16 TiB")
    return size


@dataclass(frozen=True)
class Attachment:
    instance_id: str
    node: str
    target: str  # libvirt's target dev (vdf)
    state: str  # attached or detaching
    root_device: str = ""  # the root device name an instance booted from this volume records (/dev/xvda)

    @property
    def root(self) -> bool:
        """Whether this is the instance's root volume (the disk it boots from)."""
        return self.target == ROOT_TARGET

    @property
    def device(self) -> str:
        """The EC2 device name: a root volume's as its launch recorded it, another's from its target
        (the EC2 layer keeps the exact spelling asked for)."""
        if self.root:
            return self.root_device or DEFAULT_ROOT_DEVICE
        return "/dev/sd" + self.target[-1]


@dataclass(frozen=True)
class VolumeInfo:
    volume_id: str
    path: Path
    size: int  # bytes the guest sees
    allocated: int  # bytes the file takes on disk
    attachment: Attachment | None

    @property
    def state(self) -> str:
        """EC2's attachment view: available, attached or detaching."""
        return "available" if self.attachment is None else self.attachment.state


def _volume_disk(volume_id: str, path: Path, target: str) -> Disk:
    return Disk(type="file", device="disk", driver_name="qemu", driver_type="qcow2", source_file=str(path),
                target_dev=target, target_bus="virtio", serial=volume_serial(volume_id),
                alias=ALIAS_PREFIX + volume_id)


def _all_disks(xml: str) -> list[Disk]:
    return [Disk.from_element(e) for e in ET.fromstring(xml).findall("devices/disk")]


def _disks(xml: str) -> dict[str, Disk]:
    """The disks of a domain document that have a serial (volumes), by serial."""
    return {d.serial: d for d in _all_disks(xml) if d.serial}


def _volume_id_of(serial: str) -> str:
    return f"vol-{serial[3:]}"


def volumes_in(xml: str) -> list[tuple[str, str]]:
    """(volume id, target) of every volume disk in a domain document, the root volume's (vda) first."""
    found = [(_volume_id_of(serial), d.target_dev or "") for serial, d in _disks(xml).items()
             if serial.startswith("vol")]
    return sorted(found, key=lambda v: (v[1] != ROOT_TARGET, v[1]))


def held_volumes(documents: list[str], root_device: str) -> list[HeldVolume]:
    """The volumes in an instance's domain documents (definition, live), as terminate reports them."""
    held: dict[str, HeldVolume] = {}
    for volume_id, target in (v for xml in documents for v in volumes_in(xml)):
        device = Attachment("", "", target, "attached", root_device)
        held.setdefault(volume_id, HeldVolume(volume_id, device.device, device.root))
    return list(held.values())


# Volume locks per driver, so every Volumes of one driver (the driver's own, the EC2 layer's)
# serialises the same volume's attach, launch, snapshot and delete.
_LOCK_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK_TABLES_GUARD = threading.Lock()


def _lock_table(driver) -> tuple[threading.Lock, dict[str, threading.Lock]]:
    with _LOCK_TABLES_GUARD:
        if driver not in _LOCK_TABLES:
            _LOCK_TABLES[driver] = (threading.Lock(), collections.defaultdict(threading.Lock))
        return _LOCK_TABLES[driver]


class Volumes:
    """The volumes of a :class:`~silvereye.compute.driver.ComputeDriver`'s local node."""

    def __init__(self, driver):
        self.driver = driver
        self.root = Path(driver.cfg.volumes_path)
        self.host = LocalHost()
        self._guard, self._locks = _lock_table(driver)

    # -- bookkeeping ----------------------------------------------------------

    def path_of(self, volume_id: str) -> Path:
        return self.root / f"{check_volume_id(volume_id)}.qcow2"

    @contextlib.contextmanager
    def lock(self, volume_id: str) -> Iterator[None]:
        """Serialise operations on one volume (attach, detach, grow, delete, snapshot)."""
        with self._guard:
            lock = self._locks[check_volume_id(volume_id)]
        with lock:
            yield

    def _attachments(self) -> dict[str, tuple[Attachment, object]]:
        """serial -> (attachment, domain) for every volume disk of every silvereye domain."""
        import libvirt

        out: dict[str, tuple[Attachment, object]] = {}
        for node in self.driver.reachable_nodes():
            with libvirt_call(f"list domains on node {node.name}"):
                domains = node.connection().listAllDomains(0)
            for dom in domains:
                instance_id = ids.instance_id_of(dom.name())
                if instance_id is None:
                    continue
                try:
                    active = dom.isActive()
                    config_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                    config = _disks(config_xml)
                    live = _disks(dom.XMLDesc(0)) if active else config
                except libvirt.libvirtError:
                    continue  # the domain went away while we looked
                meta = read_metadata(config_xml)
                root_device = (meta.root_device or "") if meta is not None else ""
                for serial in set(config) | set(live):
                    if not serial.startswith("vol"):
                        continue
                    disk = live.get(serial) or config[serial]
                    state = "attached" if serial in live and serial in config else "detaching"
                    target = disk.target_dev or ""
                    out[serial] = (Attachment(instance_id, node.name, target, state,
                                              root_device if target == ROOT_TARGET else ""), dom)
        return out

    def _info(self, volume_id: str, attachments: dict | None = None) -> VolumeInfo:
        path = self.path_of(volume_id)
        if not path.is_file():
            raise VolumeNotFound(volume_id)
        info = qemu_img_info(path, "qcow2")
        found = (attachments if attachments is not None else self._attachments()).get(volume_serial(volume_id))
        return VolumeInfo(volume_id, path, int(info["virtual-size"]), int(info.get("actual-size") or 0),
                          found[0] if found else None)

    def describe(self, volume_id: str) -> VolumeInfo:
        return self._info(check_volume_id(volume_id))

    def list(self) -> list[VolumeInfo]:
        attachments = self._attachments()
        out = []
        for name in self.host.list_dir(self.root):
            stem, _, ext = name.partition(".")
            if ext == "qcow2" and _VOLUME_ID.fullmatch(stem):
                try:
                    out.append(self._info(stem, attachments))
                except VolumeNotFound:
                    continue  # deleted while we listed
        return out

    def attachments_of(self, instance_id: str) -> list[tuple[str, Attachment]]:
        """(volume id, attachment) of every volume attached to an instance."""
        return sorted((_volume_id_of(serial), a) for serial, (a, _) in self._attachments().items()
                      if a.instance_id == instance_id)

    @property
    def node(self):
        """The node volumes live on (the local one): instances using them must run there."""
        return self.driver.nodes[0]

    def root_disk(self, volume_id: str, instance_id: str) -> Disk:
        """The root disk of an instance about to boot from this volume: VolumeNotFound, or VolumeInUse
        when something holds it already. The launch holds :meth:`lock` of the volume throughout."""
        info = self.describe(volume_id)
        if info.attachment is not None:
            raise VolumeInUse(volume_id, info.attachment.instance_id, f"boot {instance_id} from")
        return _volume_disk(volume_id, info.path, ROOT_TARGET)

    # -- files ----------------------------------------------------------------

    def create(self, volume_id: str, size: int | None = None, *, source: Path | None = None) -> VolumeInfo:
        """A new volume of ``size`` bytes: empty, or holding the disk image ``source`` (a
        snapshot's qcow2, or a cached machine image, raw or qcow2: an EBS root volume), at least
        as large as the image and grown to ``size`` when that is larger."""
        path = self.path_of(volume_id)
        if size is not None:
            check_size(size)
        elif source is None:
            raise InvalidArgument("a new volume needs a size or a snapshot to start from")
        with self.lock(volume_id):
            if path.exists():
                raise VolumeExists(volume_id)
            self.host.makedirs(self.root, 0o755)
            tmp = self.root / f".{volume_id}.creating"
            try:
                if source is None:
                    self.host.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp), str(size)], timeout=120)
                else:
                    self._from_image(Path(source), tmp, size)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return self.describe(volume_id)

    def _from_image(self, source: Path, dest: Path, size: int | None) -> None:
        if not source.is_file():
            raise ImageError(f"image {source} does not exist")
        info = qemu_img_info(source)
        _check_self_contained(info, source.name)
        fmt = info.get("format")
        if fmt not in ("qcow2", "raw"):
            raise ImageError(f"image {source.name} is {fmt!r}, not qcow2 or raw")
        virtual = int(info["virtual-size"])
        if size is not None and size < virtual:
            raise InvalidArgument(f"volume size {size} is smaller than the image's {virtual} bytes")
        self.host.run(["qemu-img", "convert", "-q", "-f", fmt, "-O", "qcow2", str(source), str(dest)], timeout=7200)
        if size is not None and size > virtual:
            self.host.run(["qemu-img", "resize", "-q", "-f", "qcow2", str(dest), str(size)], timeout=120)

    def delete(self, volume_id: str) -> None:
        """Remove a volume; VolumeInUse while it is attached (or still detaching)."""
        with self.lock(volume_id):
            info = self.describe(volume_id)
            if info.attachment is not None:
                raise VolumeInUse(volume_id, info.attachment.instance_id, "delete")
            info.path.unlink()

    def grow(self, volume_id: str, size: int) -> VolumeInfo:
        """Make a volume ``size`` bytes (never smaller), live when it is attached to a running instance."""
        import libvirt

        check_size(size)
        with self.lock(volume_id):
            info = self.describe(volume_id)
            if size < info.size:
                raise InvalidArgument(f"volume {volume_id} is {info.size} bytes; volumes only grow")
            if size == info.size:
                return info
            att = info.attachment
            dom = self._attachments()[volume_serial(volume_id)][1] if att is not None else None
            if dom is not None and dom.isActive():
                with libvirt_call(f"resize {volume_id} on {att.instance_id}", instance_id=att.instance_id):
                    dom.blockResize(att.target, size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            else:
                self.host.run(["qemu-img", "resize", "-q", "-f", "qcow2", str(info.path), str(size)], timeout=120)
            return self.describe(volume_id)

    # -- attach and detach ------------------------------------------------------

    def attach(self, volume_id: str, instance_id: str, device: str) -> Attachment:
        """Plug a volume into an instance at ``device`` (live if it runs, and in its definition)."""
        import libvirt

        target = ROOT_TARGET if isinstance(device, str) and _ROOT_DEVICE.fullmatch(device) else device_target(device)
        ids.check_instance_id(instance_id)
        with self.lock(volume_id):
            info = self.describe(volume_id)
            if info.attachment is not None:
                raise VolumeInUse(volume_id, info.attachment.instance_id, "attach")
            with self.driver._lock_for(instance_id):
                node, dom = self.driver._find(instance_id)
                if node is not self.driver.nodes[0]:
                    raise ComputeError(f"volume {volume_id} lives on node {self.driver.nodes[0].name} and "
                                       f"{instance_id} runs on node {node.name}; volumes cannot move between nodes yet")
                active = dom.isActive()
                documents = [dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)] + ([dom.XMLDesc(0)] if active else [])
                if any(d.target_dev == target for xml in documents for d in _all_disks(xml)):
                    raise DeviceInUse(instance_id, device)
                if target == ROOT_TARGET and active:
                    raise InvalidState(f"{instance_id} must be stopped to get a root volume at {device}")
                disk = _volume_disk(volume_id, info.path, target)
                flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if active else 0)
                with libvirt_call(f"attach {volume_id} to {instance_id}", instance_id=instance_id):
                    dom.attachDeviceFlags(disk.to_xml(), flags)
        return Attachment(instance_id, node.name, target, "attached")

    def detach(self, volume_id: str, *, instance_id: str | None = None, force: bool = False,
               timeout: float = DETACH_TIMEOUT) -> VolumeInfo:
        """Unplug a volume, waiting up to ``timeout`` s for a running guest to let go of it.

        Without ``force``, a guest that does not let go leaves the volume attached and
        DetachTimeout is raised (the request stays with the guest; a later detach finishes
        the job once it has). With ``force``, the instance's definition drops it at once and
        the result says ``detaching`` until the guest releases it or the instance stops."""
        import libvirt

        with self.lock(volume_id):
            info = self.describe(volume_id)
            att = info.attachment
            if att is None or (instance_id is not None and att.instance_id != instance_id):
                where = "not attached" if att is None else f"attached to {att.instance_id}, not to {instance_id}"
                raise VolumeNotAttached(f"volume {volume_id} is {where}")
            alias = ALIAS_PREFIX + volume_id
            serial = volume_serial(volume_id)
            with self.driver._lock_for(att.instance_id):
                try:
                    _, dom = self.driver._find(att.instance_id)
                except InstanceNotFound:
                    return self.describe(volume_id)  # terminated meanwhile: nothing holds it any more
                live = dom.isActive() and serial in _disks(dom.XMLDesc(0))
                if live and att.root:
                    raise InvalidState(f"volume {volume_id} is the root volume of running instance "
                                       f"{att.instance_id}; stop the instance first")
                in_config = serial in _disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0
                if in_config and (force or not live):
                    flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
                if not flags:
                    return self.describe(volume_id)  # released between our two looks
                with libvirt_call(f"detach {volume_id} from {att.instance_id}", instance_id=att.instance_id):
                    dom.detachDeviceAlias(alias, flags)
            released = not live or self._wait_released(att.instance_id, serial, timeout)
            if live and not released and not force:
                raise DetachTimeout(f"{att.instance_id} did not release volume {volume_id} within {timeout:.0f} s; "
                                    "it stays attached (detach again later, or with force)")
            if live and released and in_config and not force:
                with self.driver._lock_for(att.instance_id):
                    try:
                        _, dom = self.driver._find(att.instance_id)
                        with libvirt_call(f"detach {volume_id} from {att.instance_id}", instance_id=att.instance_id):
                            dom.detachDeviceAlias(alias, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
                    except InstanceNotFound:
                        pass  # its instance is gone: no domain holds the volume any more
            return self.describe(volume_id)

    def _wait_released(self, instance_id: str, serial: str, timeout: float) -> bool:
        """True once the running domain no longer has the disk (or is gone or stopped)."""
        import libvirt

        deadline = time.monotonic() + timeout
        while True:
            try:
                _, dom = self.driver._find(instance_id)
                if not dom.isActive() or serial not in _disks(dom.XMLDesc(0)):
                    return True
            except (InstanceNotFound, libvirt.libvirtError):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
