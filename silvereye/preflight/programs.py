"""Which programs each role needs, and which package provides each on each distribution family.

A requirement is a list of alternatives (libvirtd or the modular virtqemud;
nft or iptables): any one installed satisfies it. Package names follow
:mod:`silvereye.laydown.packages`, the one place that installs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from silvereye.preflight.model import Role


@dataclass(frozen=True)
class Program:
    names: tuple[str, ...]  # alternatives, first preferred
    packages: dict[str, str]  # family -> package
    purpose: str

    @property
    def label(self) -> str:
        return " or ".join(self.names)


QEMU = Program(("qemu-system-x86_64", "/usr/libexec/qemu-kvm"), {"debian": "qemu-system-x86", "el": "qemu-kvm"}, "runs the instances")
QEMU_IMG = Program(("qemu-img",), {"debian": "qemu-utils", "el": "qemu-img"}, "makes instance disks and volumes")
LIBVIRTD = Program(("libvirtd", "virtqemud"), {"debian": "libvirt-daemon-system", "el": "libvirt"}, "manages the instances")
VIRSH = Program(("virsh",), {"debian": "libvirt-clients", "el": "libvirt-client"}, "talks to libvirt")
IP = Program(("ip",), {"debian": "iproute2", "el": "iproute"}, "reads and sets addresses")
FIREWALL = Program(("nft", "iptables"), {"debian": "nftables", "el": "nftables"}, "NATs elastic IPs and metadata")
DNSMASQ = Program(("dnsmasq",), {"debian": "dnsmasq-base", "el": "dnsmasq"}, "serves DHCP and DNS to instances")
HAPROXY = Program(("haproxy",), {"debian": "haproxy", "el": "haproxy"}, "runs Elastic Load Balancing")

REQUIRED: dict[Role, list[Program]] = {
    Role.ciab: [QEMU, QEMU_IMG, LIBVIRTD, VIRSH, IP, FIREWALL, DNSMASQ],
    Role.node: [QEMU, QEMU_IMG, LIBVIRTD, VIRSH, IP, FIREWALL, DNSMASQ],
    Role.frontend: [QEMU_IMG, IP, FIREWALL],
}

OPTIONAL: dict[Role, list[Program]] = {
    Role.ciab: [HAPROXY],
    Role.frontend: [HAPROXY],
    Role.node: [],
}


def package_for(program: Program, family: str | None) -> str | None:
    return program.packages.get(family or "")
