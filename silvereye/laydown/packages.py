"""Which OS packages each part of silvereye needs, per distribution family.

This is the one place that knows package names. It is stdlib-only on purpose:
``tools/bootstrap`` runs it with the system Python before any virtualenv
exists (``python3 silvereye/laydown/packages.py --family debian --set test``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# component -> {family: [package, ...]}
COMPONENTS: dict[str, dict[str, list[str]]] = {
    "python": {
        "debian": ["python3", "python3-venv", "python3-dev", "gcc", "pkg-config", "libvirt-dev"],
        "el": ["python3.11", "python3.11-devel", "gcc", "pkgconf-pkg-config", "libvirt-devel"],
    },
    "hypervisor": {
        "debian": ["qemu-system-x86", "qemu-utils", "libvirt-daemon-system", "libvirt-clients"],
        "el": ["qemu-kvm", "qemu-img", "libvirt", "libvirt-client"],
    },
    "network": {
        # dnsmasq-utils: dhcp_release frees a terminated instance's lease at once.
        "debian": ["dnsmasq-base", "dnsmasq-utils", "nftables", "iproute2", "iptables"],
        "el": ["dnsmasq", "dnsmasq-utils", "nftables", "iproute", "iptables-nft"],
    },
    "loadbalancer": {
        "debian": ["haproxy"],
        "el": ["haproxy"],
    },
    "tools": {
        "debian": ["cpio", "kmod", "openssh-client", "ca-certificates", "curl"],
        "el": ["cpio", "kmod", "openssh-clients", "ca-certificates", "curl"],
    },
    # What the tiny image and ISO builders and their tests need.
    "image-build": {
        "debian": ["busybox-static", "dropbear-bin", "xorriso", "isolinux", "syslinux-common", "ovmf",
                   "grub-efi-amd64-bin", "grub-common", "mtools", "dosfstools"],
        "el": ["busybox", "dropbear", "xorriso", "syslinux", "edk2-ovmf", "grub2-efi-x64-modules",
               "grub2-tools-extra", "mtools", "dosfstools"],
    },
    # Real peers the test suite runs against.
    "test-peers": {
        # putty-tools: puttygen reads the .ppk private keys CreateKeyPair hands out.
        "debian": ["openssh-server", "postgresql", "s3cmd", "putty-tools"],
        "el": ["openssh-server", "postgresql-server", "s3cmd", "putty"],
    },
    # Load generators and baselines the benchmarks in bench/ measure against.
    "bench": {
        "debian": ["wrk", "hyperfine", "nginx-light"],
        "el": ["wrk", "hyperfine", "nginx"],
    },
}

SETS: dict[str, list[str]] = {
    "node": ["python", "hypervisor", "network", "tools"],
    "frontend": ["python", "network", "loadbalancer", "tools", "image-build"],
    "ciab": ["python", "hypervisor", "network", "loadbalancer", "tools", "image-build"],
    "test": ["python", "hypervisor", "network", "loadbalancer", "tools", "image-build", "test-peers"],
    "bench": ["python", "hypervisor", "network", "loadbalancer", "tools", "image-build", "test-peers", "bench"],
}


def family_of(os_release: dict[str, str]) -> str | None:
    """'debian' or 'el' from /etc/os-release fields, or None for an unknown distribution."""
    ids = [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split()
    for i in ids:
        if i in ("debian", "ubuntu"):
            return "debian"
        if i in ("rhel", "fedora", "centos", "rocky", "almalinux"):
            return "el"
    return None


def read_os_release(path: str = "/etc/os-release") -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return out
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"').strip("'")
    return out


def packages(set_name: str, family: str) -> list[str]:
    seen: list[str] = []
    for comp in SETS[set_name]:
        for p in COMPONENTS[comp][family]:
            if p not in seen:
                seen.append(p)
    return seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Print the OS packages a silvereye role needs.")
    ap.add_argument("--set", default="ciab", choices=sorted(SETS))
    ap.add_argument("--family", choices=["debian", "el"], help="default: detected from /etc/os-release")
    args = ap.parse_args(argv)
    fam = args.family or family_of(read_os_release())
    if fam is None:
        print("unsupported distribution: silvereye knows Debian/Ubuntu and the RHEL family", file=sys.stderr)
        return 2
    print(" ".join(packages(args.set, fam)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
