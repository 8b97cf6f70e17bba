"""The image catalog: real cloud images silvereye knows how to fetch, verify and boot.

Eucalyptus had eustore, a catalog of images one command away; this is the
same idea with today's distributions' own cloud builds. Each entry says where
the image is, how to check it (a pinned checksum, or the distribution's
checksum file, which follows "latest" URLs), its disk format and firmware.
The ``tiny`` image is not here: it is built locally (``images build-tiny``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from silvereye.errors import SilvereyeError

ALGORITHMS = ("sha256", "sha512")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    url: str
    format: str  # qcow2 or raw: what qemu-img will be told the file is
    algorithm: str = "sha256"
    checksum: str = ""  # a pinned digest (hex), or empty when checksum_url gives it
    checksum_url: str = ""  # the distribution's SHA*SUMS / CHECKSUM file
    firmware: str = "bios"  # bios or uefi
    os: str = ""
    version: str = ""
    login_user: str = ""  # the user cloud-init creates for the key pair

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"{self.name}: unknown checksum algorithm {self.algorithm}")
        if self.checksum and not re.fullmatch(r"[0-9a-f]+", self.checksum):
            raise ValueError(f"{self.name}: checksum is not lowercase hex")
        if not (self.checksum or self.checksum_url):
            raise ValueError(f"{self.name}: an entry needs a checksum or a checksum file")

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="debian-12",
        description="Debian 12 (bookworm) generic cloud image",
        url="https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
        format="qcow2",
        algorithm="sha512",
        checksum_url="https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS",
        os="debian",
        version="12",
        login_user="debian",
    ),
    CatalogEntry(
        name="debian-13",
        description="Debian 13 (trixie) generic cloud image",
        url="https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2",
        format="qcow2",
        algorithm="sha512",
        checksum_url="https://cloud.debian.org/images/cloud/trixie/latest/SHA512SUMS",
        os="debian",
        version="13",
        login_user="debian",
    ),
    CatalogEntry(
        name="ubuntu-24.04",
        description="Ubuntu 24.04 LTS (noble) server cloud image",
        url="https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        format="qcow2",
        checksum_url="https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
        os="ubuntu",
        version="24.04",
        login_user="ubuntu",
    ),
    CatalogEntry(
        name="ubuntu-22.04",
        description="Ubuntu 22.04 LTS (jammy) server cloud image",
        url="https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img",
        format="qcow2",
        checksum_url="https://cloud-images.ubuntu.com/jammy/current/SHA256SUMS",
        os="ubuntu",
        version="22.04",
        login_user="ubuntu",
    ),
    CatalogEntry(
        name="rocky-9",
        description="Rocky Linux 9 generic cloud image",
        url="https://dl.rockylinux.org/pub/rocky/9/images/x86_64/Rocky-9-GenericCloud-Base.latest.x86_64.qcow2",
        format="qcow2",
        checksum_url="https://dl.rockylinux.org/pub/rocky/9/images/x86_64/"
        "Rocky-9-GenericCloud-Base.latest.x86_64.qcow2.CHECKSUM",
        os="rocky",
        version="9",
        login_user="rocky",
    ),
    CatalogEntry(
        name="cirros-0.6.2",
        description="CirrOS 0.6.2, the OpenStack test image (tiny, boots fast)",
        url="https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img",
        format="qcow2",
        checksum_url="https://download.cirros-cloud.net/0.6.2/SHA256SUMS",
        os="cirros",
        version="0.6.2",
        login_user="cirros",
    ),
)


def entries() -> list[CatalogEntry]:
    return list(CATALOG)


def find(name: str, catalog: tuple[CatalogEntry, ...] | list[CatalogEntry] = CATALOG) -> CatalogEntry:
    for entry in catalog:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in catalog)
    raise SilvereyeError(f"there is no image called {name!r} in the catalog (known: {known}); see 'silvereye images list'")
