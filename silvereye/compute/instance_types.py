"""The instance types silvereye offers, in one table.

Sizes follow AWS for the current families (t2, t3, m5, c5) so that tools and
templates written for AWS pick sensible machines, and Eucalyptus for the
classic names (t1.micro, m1.*, c1.*) that euca2ools-era scripts use. The
scheduler reads vCPUs and memory from here; ``DescribeInstanceTypes`` and
Eucalyptus' verbose availability-zone listing present the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from silvereye.compute.errors import InvalidArgument

GIB = 1 << 30


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    # Local instance-store disk in GiB (0: the root disk is the image's, EBS-style).
    instance_storage_gib: int = 0
    # Smallest root disk the instance gets, in GiB (0: the image's own size).
    root_gib: int = 0
    burstable: bool = False

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib << 20


def _t(name: str, vcpus: int, mib: int, **kw) -> InstanceType:
    return InstanceType(name, vcpus, mib, **kw)


_TABLE: tuple[InstanceType, ...] = (
    # AWS current generation, EBS-only.
    _t("t2.nano", 1, 512, burstable=True),
    _t("t2.micro", 1, 1024, burstable=True),
    _t("t2.small", 1, 2048, burstable=True),
    _t("t2.medium", 2, 4096, burstable=True),
    _t("t2.large", 2, 8192, burstable=True),
    _t("t3.nano", 2, 512, burstable=True),
    _t("t3.micro", 2, 1024, burstable=True),
    _t("t3.small", 2, 2048, burstable=True),
    _t("t3.medium", 2, 4096, burstable=True),
    _t("t3.large", 2, 8192, burstable=True),
    _t("m5.large", 2, 8192),
    _t("m5.xlarge", 4, 16384),
    _t("c5.large", 2, 4096),
    _t("c5.xlarge", 4, 8192),
    # Eucalyptus' classic defaults: small machines with a root disk of their own size.
    _t("t1.micro", 1, 256, root_gib=5),
    _t("m1.small", 1, 256, root_gib=5),
    _t("m1.medium", 1, 512, root_gib=10),
    _t("c1.medium", 2, 512, root_gib=10),
    _t("m1.large", 2, 512, root_gib=10),
    _t("m1.xlarge", 2, 1024, root_gib=10),
    _t("c1.xlarge", 2, 2048, root_gib=10),
)

INSTANCE_TYPES: dict[str, InstanceType] = {t.name: t for t in _TABLE}
DEFAULT_INSTANCE_TYPE = "t2.micro"


def get(name: str) -> InstanceType:
    """The type called ``name``; InvalidArgument naming the known ones otherwise."""
    try:
        return INSTANCE_TYPES[name]
    except (KeyError, TypeError):
        known = ", ".join(INSTANCE_TYPES)
        raise InvalidArgument(f"{name!r} is not an instance type silvereye offers (known: {known})") from None


def all_types() -> list[InstanceType]:
    return list(_TABLE)
