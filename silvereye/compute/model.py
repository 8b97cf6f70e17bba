"""The values the driver takes and returns: what to launch, what exists.

These are the driver's whole vocabulary towards the EC2 layer: a
:class:`LaunchRequest` goes in, :class:`InstanceInfo` (read back from
libvirt, the ground truth) comes out, and :class:`Orphans` lists what a
crash may have left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from silvereye.compute.disks import CachedImage
from silvereye.compute.domain_xml import DEFAULT_KERNEL_CMDLINE

# libvirt's domain states, by name. EC2 maps them: running/blocked/paused ->
# running, shutdown -> stopping, shutoff/crashed -> stopped, absent -> terminated.
STATE_NAMES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}
ABSENT = "absent"


@dataclass(frozen=True)
class BootSource:
    """What an instance boots.

    Kernel + ramdisk (an aki/ari pair, optionally with a root disk image):
    direct kernel boot with ``kernel_cmdline``. A root disk alone: the
    firmware boots it, BIOS or UEFI (OVMF). ``root_size`` grows the root
    overlay beyond the image's own size (bytes; 0 keeps it).

    Or, instead of ``root``, ``root_volume``: an EBS volume id (an EBS-backed
    image's root volume, made by the EC2 layer from its snapshot). The volume's
    own file is the root disk, at vda whatever ``root_device_name`` (the EC2
    name recorded in the domain and shown in the volume's attachment) says;
    kernel, ramdisk and firmware work as with an image root.
    """

    root: CachedImage | None = None
    root_volume: str | None = None
    root_device_name: str = "/dev/sda1"
    kernel: CachedImage | None = None
    ramdisk: CachedImage | None = None
    kernel_cmdline: str = DEFAULT_KERNEL_CMDLINE
    firmware: str = "bios"
    root_size: int = 0

    def root_virtual_size(self) -> int:
        """Bytes of root disk the launch lays down on the node (a root volume exists already: none)."""
        if self.root is None:
            return 0
        return max(self.root.virtual_size, self.root_size)


@dataclass(frozen=True)
class LaunchRequest:
    instance_id: str
    owner: str  # the 12-digit account id
    instance_type: str  # a name from silvereye.compute.instance_types
    boot: BootSource
    image_id: str = ""  # recorded in the domain's metadata
    node: str | None = None  # a node name to insist on; None lets the scheduler choose


@dataclass(frozen=True)
class DomainState:
    state: str  # a STATE_NAMES value, or "absent"
    reason: int = 0

    @property
    def active(self) -> bool:
        return self.state in ("running", "blocked", "paused", "shutdown", "pmsuspended")

    @property
    def ec2_name(self) -> str:
        """The EC2 instance state this domain state shows as (EC2's own 'pending' and
        'shutting-down' come from its records: the driver only sees the domain)."""
        if self.state == ABSENT:
            return "terminated"
        if self.state == "shutdown":
            return "stopping"
        if self.state in ("shutoff", "crashed"):
            return "stopped"
        return "running"


@dataclass(frozen=True)
class InstanceInfo:
    """An instance as libvirt knows it: its domain, where it runs, what its metadata says."""

    instance_id: str
    node: str
    domain_name: str
    state: DomainState
    owner: str = ""
    instance_type: str = ""
    image_id: str = ""
    mac: str = ""
    private_ip: str = ""
    launched_at: str = ""
    network: str = ""  # the libvirt network its interface is on (which cloud it belongs to)
    root_volume: str = ""  # the EBS volume it boots from ("" for an image-backed instance)
    root_device: str = ""  # that volume's EC2 device name (/dev/sda1, /dev/xvda)
    # False for a domain with a silvereye name but without silvereye's metadata.
    recognised: bool = True


@dataclass(frozen=True)
class HeldVolume:
    volume_id: str
    device: str  # the EC2 device name (a root volume's as its launch recorded it)
    root: bool


@dataclass(frozen=True)
class Termination:
    """What a terminate did: whether anything was found, and the volumes the instance held,
    now available again: the EC2 layer
    deletes those it marked DeleteOnTermination (the driver never deletes a volume)."""

    found: bool
    volumes: tuple[HeldVolume, ...] = ()


@dataclass
class Orphans:
    """Leftovers with no domain behind them, per node (reconciliation cleans them)."""

    reservations: dict[str, list] = field(default_factory=dict)  # node -> [Reservation]
    instance_dirs: dict[str, list[str]] = field(default_factory=dict)  # node -> [instance id]
    unrecognised_domains: list[InstanceInfo] = field(default_factory=list)

    def empty(self) -> bool:
        return (
            not any(self.reservations.values())
            and not any(self.instance_dirs.values())
            and not self.unrecognised_domains
        )
