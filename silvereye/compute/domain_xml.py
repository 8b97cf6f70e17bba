"""The libvirt domain document of an instance, as small declarative classes.

One class per element (``<disk>``, ``<interface>``, ``<serial>``...), then
:func:`build_domain`, which turns a :class:`DomainSpec` (plain, validated
values) into a :class:`Domain`. The domain carries a ``<metadata>`` element
in silvereye's namespace naming the instance, its owner and its address, so
a domain is recognisable as ours, and its records rebuildable, from libvirt
alone (libvirt is the ground truth after a crash).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from silvereye.compute import ids
from silvereye.compute.errors import InvalidArgument
from silvereye.compute.instance_types import InstanceType
from silvereye.compute.xmlbuilder import XMLChild, XMLChildList, XMLFlag, XMLObject, XMLProperty

METADATA_NS = "urn:silvereye:instance:1"
DOMAIN_TYPES = ("kvm", "qemu")
FIRMWARES = ("bios", "uefi")
DISK_FORMATS = ("qcow2", "raw")
# A kernel line for kernel+ramdisk images: the serial console is what
# GetConsoleOutput shows; root= is for ramdisks that mount a root disk.
DEFAULT_KERNEL_CMDLINE = "console=ttyS0 root=/dev/vda"
_FILTER_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class InstanceMetadata(XMLObject):
    TAG = "instance"
    NAMESPACE = METADATA_NS
    PREFIX = "silvereye"
    instance_id = XMLProperty("id")
    owner = XMLProperty("owner")
    instance_type = XMLProperty("instance-type")
    image_id = XMLProperty("image-id")
    network = XMLProperty("network")
    mac = XMLProperty("mac")
    private_ip = XMLProperty("private-ip")
    launched_at = XMLProperty("launched-at")
    root_device = XMLProperty("root-device")  # the EC2 root device name of an instance booted from a volume


class Loader(XMLObject):
    TAG = "loader"
    readonly = XMLProperty("@readonly", bool)
    type = XMLProperty("@type")
    path = XMLProperty(".")


class NVRam(XMLObject):
    TAG = "nvram"
    template = XMLProperty("@template")
    path = XMLProperty(".")


class OS(XMLObject):
    TAG = "os"
    arch = XMLProperty("type/@arch")
    machine = XMLProperty("type/@machine")
    os_type = XMLProperty("type")
    loader = XMLChild(Loader)
    nvram = XMLChild(NVRam)
    kernel = XMLProperty("kernel")
    initrd = XMLProperty("initrd")
    cmdline = XMLProperty("cmdline")
    boot_dev = XMLProperty("boot/@dev")


class Features(XMLObject):
    TAG = "features"
    acpi = XMLFlag("acpi")
    apic = XMLFlag("apic")


class CPU(XMLObject):
    TAG = "cpu"
    mode = XMLProperty("@mode")


class Disk(XMLObject):
    TAG = "disk"
    type = XMLProperty("@type")
    device = XMLProperty("@device")
    driver_name = XMLProperty("driver/@name")
    driver_type = XMLProperty("driver/@type")
    driver_cache = XMLProperty("driver/@cache")
    source_file = XMLProperty("source/@file")
    target_dev = XMLProperty("target/@dev")
    target_bus = XMLProperty("target/@bus")
    serial = XMLProperty("serial")  # an EBS volume's id as the guest sees it (virtio-blk serial)
    alias = XMLProperty("alias/@name")  # "ua-<volume id>": how a hot-plugged volume is found again


class FilterParameter(XMLObject):
    TAG = "parameter"
    name = XMLProperty("@name")
    value = XMLProperty("@value")


class FilterRef(XMLObject):
    """An interface's libvirt nwfilter (``clean-traffic``: no MAC, IP or ARP spoofing)."""

    TAG = "filterref"
    filter = XMLProperty("@filter")
    parameters = XMLChildList(FilterParameter)


class Interface(XMLObject):
    TAG = "interface"
    type = XMLProperty("@type")
    mac = XMLProperty("mac/@address")
    source_network = XMLProperty("source/@network")
    model = XMLProperty("model/@type")
    filterref = XMLChild(FilterRef)


class Serial(XMLObject):
    TAG = "serial"
    type = XMLProperty("@type")
    log_file = XMLProperty("log/@file")
    log_append = XMLProperty("log/@append")
    target_port = XMLProperty("target/@port", int)


class Console(XMLObject):
    TAG = "console"
    type = XMLProperty("@type")
    target_type = XMLProperty("target/@type")
    target_port = XMLProperty("target/@port", int)


class Controller(XMLObject):
    TAG = "controller"
    type = XMLProperty("@type")
    model = XMLProperty("@model")


class Rng(XMLObject):
    TAG = "rng"
    model = XMLProperty("@model")
    backend_model = XMLProperty("backend/@model")
    backend = XMLProperty("backend")


class MemBalloon(XMLObject):
    TAG = "memballoon"
    model = XMLProperty("@model")


class Devices(XMLObject):
    TAG = "devices"
    disks = XMLChildList(Disk)
    controllers = XMLChildList(Controller)
    interfaces = XMLChildList(Interface)
    serials = XMLChildList(Serial)
    consoles = XMLChildList(Console)
    rngs = XMLChildList(Rng)
    memballoon = XMLChild(MemBalloon)


class Domain(XMLObject):
    TAG = "domain"
    type = XMLProperty("@type")
    name = XMLProperty("name")
    title = XMLProperty("title")
    metadata = XMLChild(InstanceMetadata, container="metadata")
    memory_unit = XMLProperty("memory/@unit")
    memory = XMLProperty("memory", int)
    vcpus = XMLProperty("vcpu", int)
    os = XMLChild(OS)
    features = XMLChild(Features)
    cpu = XMLChild(CPU)
    clock_offset = XMLProperty("clock/@offset")
    on_poweroff = XMLProperty("on_poweroff")
    on_reboot = XMLProperty("on_reboot")
    on_crash = XMLProperty("on_crash")
    devices = XMLChild(Devices)


@dataclass(frozen=True)
class UefiFirmware:
    """OVMF firmware files: read-only code and the template of the per-instance variable store."""

    code: Path
    vars_template: Path


# (code, variables template) pairs, Debian's then the RHEL family's.
OVMF_CANDIDATES = (
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
)


def find_ovmf() -> UefiFirmware | None:
    """The installed OVMF firmware (without Secure Boot), or None when the package is absent."""
    for code, template in OVMF_CANDIDATES:
        if Path(code).is_file() and Path(template).is_file():
            return UefiFirmware(Path(code), Path(template))
    return None


@dataclass(frozen=True)
class DomainSpec:
    """Everything a domain document is made of, already checked and resolved to paths."""

    instance_id: str
    owner: str
    instance_type: InstanceType
    domain_type: str
    network: str
    mac: str
    private_ip: str
    console_log: Path
    root_disk: Path | None = None
    root_format: str = "qcow2"
    # Or an EBS root volume: its disk element as volumes.py makes it (serial, alias, target vda),
    # and the EC2 root device name to record (/dev/sda1, /dev/xvda).
    root_volume: Disk | None = None
    root_device: str = ""
    kernel: Path | None = None
    ramdisk: Path | None = None
    kernel_cmdline: str = DEFAULT_KERNEL_CMDLINE
    firmware: str = "bios"
    uefi: UefiFirmware | None = None
    uefi_vars: Path | None = None
    image_id: str = ""
    launched_at: str = ""
    # A libvirt nwfilter for the interface, given the instance's address as its IP
    # parameter (the driver passes ``clean-traffic``, the anti-spoofing security groups rely on).
    nwfilter: str | None = None

    def check(self) -> None:
        ids.check_instance_id(self.instance_id)
        ids.check_account_id(self.owner)
        ids.check_mac(self.mac)
        ids.check_image_id(self.image_id)
        ipaddress.IPv4Address(self.private_ip)
        if self.domain_type not in DOMAIN_TYPES:
            raise InvalidArgument(f"domain type {self.domain_type!r} is not one of {', '.join(DOMAIN_TYPES)}")
        if self.firmware not in FIRMWARES:
            raise InvalidArgument(f"firmware {self.firmware!r} is not one of {', '.join(FIRMWARES)}")
        if self.root_format not in DISK_FORMATS:
            raise InvalidArgument(f"root disk format {self.root_format!r} is not one of {', '.join(DISK_FORMATS)}")
        if self.root_volume is not None and (self.root_disk is not None or self.root_volume.target_dev != "vda"):
            raise InvalidArgument("an instance has one root disk, at vda: an image overlay or a volume")
        if any(ord(c) < 32 for c in self.root_device):
            raise InvalidArgument("the root device name holds control characters")
        if self.kernel is None and self.root_disk is None and self.root_volume is None:
            raise InvalidArgument("an instance needs a kernel (direct boot) or a root disk (disk boot)")
        if self.ramdisk is not None and self.kernel is None:
            raise InvalidArgument("a ramdisk needs a kernel")
        if self.firmware == "uefi" and (self.uefi is None or self.uefi_vars is None):
            raise InvalidArgument("UEFI boot needs OVMF firmware; install the ovmf package")
        if any(ord(c) < 32 for c in self.kernel_cmdline):
            raise InvalidArgument("the kernel command line holds control characters")
        if self.nwfilter is not None and not _FILTER_NAME.fullmatch(self.nwfilter):
            raise InvalidArgument(f"{self.nwfilter!r} is not a libvirt nwfilter name")


def build_domain(spec: DomainSpec) -> Domain:
    """The domain document for ``spec``: direct kernel boot when it has a kernel, disk boot otherwise."""
    spec.check()
    os_el = OS(arch="x86_64", machine="pc", os_type="hvm")
    if spec.kernel is not None:
        os_el.kernel = str(spec.kernel)
        if spec.ramdisk is not None:
            os_el.initrd = str(spec.ramdisk)
        os_el.cmdline = spec.kernel_cmdline
    elif spec.firmware == "uefi":
        assert spec.uefi is not None and spec.uefi_vars is not None
        os_el.loader = Loader(readonly=True, type="pflash", path=str(spec.uefi.code))
        os_el.nvram = NVRam(template=str(spec.uefi.vars_template), path=str(spec.uefi_vars))
        os_el.boot_dev = "hd"
    else:
        os_el.boot_dev = "hd"

    devices = Devices()
    if spec.root_volume is not None:
        devices.disks.append(spec.root_volume)
    elif spec.root_disk is not None:
        devices.disks.append(
            Disk(type="file", device="disk", driver_name="qemu", driver_type=spec.root_format,
                 source_file=str(spec.root_disk), target_dev="vda", target_bus="virtio")
        )
    # No USB bus, tablet or balloon: fewer devices to emulate, a faster boot under TCG.
    devices.controllers.append(Controller(type="usb", model="none"))
    interface = Interface(type="network", mac=spec.mac, source_network=spec.network, model="virtio")
    if spec.nwfilter:
        interface.filterref = FilterRef(filter=spec.nwfilter,
                                        parameters=[FilterParameter(name="IP", value=spec.private_ip)])
    devices.interfaces.append(interface)
    devices.serials.append(Serial(type="pty", log_file=str(spec.console_log), log_append="on", target_port=0))
    devices.consoles.append(Console(type="pty", target_type="serial", target_port=0))
    devices.rngs.append(Rng(model="virtio", backend_model="random", backend="/dev/urandom"))
    devices.memballoon = MemBalloon(model="none")

    return Domain(
        type=spec.domain_type,
        name=ids.domain_name(spec.instance_id),
        title=f"silvereye instance {spec.instance_id}",
        metadata=InstanceMetadata(
            instance_id=spec.instance_id,
            owner=spec.owner,
            instance_type=spec.instance_type.name,
            image_id=spec.image_id or None,
            network=spec.network,
            mac=spec.mac,
            private_ip=spec.private_ip,
            launched_at=spec.launched_at or None,
            root_device=spec.root_device or None,
        ),
        memory_unit="MiB",
        memory=spec.instance_type.memory_mib,
        vcpus=spec.instance_type.vcpus,
        os=os_el,
        features=Features(acpi=True, apic=True),
        cpu=CPU(mode="host-passthrough") if spec.domain_type == "kvm" else None,
        clock_offset="utc",
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        devices=devices,
    )


def read_metadata(domain_xml: str) -> InstanceMetadata | None:
    """silvereye's metadata in a domain document, or None for a domain that is not ours."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(domain_xml)
    meta = root.find("metadata")
    if meta is None:
        return None
    found = meta.find(InstanceMetadata.qualified_tag())
    return InstanceMetadata.from_element(found) if found is not None else None
