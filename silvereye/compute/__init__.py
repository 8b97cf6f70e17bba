"""The libvirt compute driver: the only package that imports libvirt.

Entry point: :class:`ComputeDriver` (``driver.py``). It launches instances
from a :class:`LaunchRequest` (kernel+ramdisk or whole-disk images from the
content-addressed :class:`ImageCache`), stops, starts, reboots and
terminates them, reads their consoles, reports lifecycle events and lists
what exists on every node for reconciliation. The pieces, one job each:

- ``domain_xml`` / ``network_xml`` on ``xmlbuilder``: the libvirt documents
- ``disks``: base image cache and qcow2 overlays (qemu-img)
- ``network``: the NAT network, DHCP reservations, address allocation
- ``metadata_nat``: the 169.254.169.254 redirect in nftables
- ``security_groups``: groups and rules, enforced live in one nftables table
- ``elastic_ips``: public addresses DNAT'd to instances and SNAT'd from them
- ``volumes``: EBS volumes as qcow2 files, hot-plugged; ``snapshots``: their point-in-time copies
- ``nodes``, ``scheduler``, ``instance_types``: where an instance fits
- ``events``: the libvirt event loop and lifecycle callbacks
- ``hostfiles``: files and tools on the local node or over SSH
- ``errors``: typed failures, libvirt errors translated
"""

from silvereye.compute.disks import CachedImage, ImageCache
from silvereye.compute.driver import ComputeDriver
from silvereye.compute.errors import (
    AddressSpaceExhausted,
    ComputeError,
    HypervisorError,
    ImageError,
    InstanceExists,
    InstanceNotFound,
    InsufficientCapacity,
    InvalidArgument,
    InvalidState,
    NetworkError,
    NodeUnavailable,
)
from silvereye.compute.events import InstanceEvent
from silvereye.compute.model import (
    BootSource,
    DomainState,
    HeldVolume,
    InstanceInfo,
    LaunchRequest,
    Orphans,
    Termination,
)

__all__ = [
    "AddressSpaceExhausted",
    "BootSource",
    "CachedImage",
    "ComputeDriver",
    "ComputeError",
    "DomainState",
    "HeldVolume",
    "HypervisorError",
    "ImageCache",
    "ImageError",
    "InstanceEvent",
    "InstanceExists",
    "InstanceInfo",
    "InstanceNotFound",
    "InsufficientCapacity",
    "InvalidArgument",
    "InvalidState",
    "LaunchRequest",
    "NetworkError",
    "NodeUnavailable",
    "Orphans",
    "Termination",
]
