"""The region, its availability zones, the instance types, and how many of each still fit.

One cloud is one region (``cfg.region``) with the configured zones. Every
node serves every zone, so a zone's room is the cloud's room; Eucalyptus'
``euca-describe-availability-zones verbose`` listing (asked for as the zone
name ``verbose``) shows it per instance type as ``free / max`` with the
type's vCPUs, memory (MiB) and disk (GiB), computed by the same scheduler
arithmetic a launch uses (claims of launches in progress included).
"""

from __future__ import annotations

from typing import Any

from silvereye.compute import instance_types
from silvereye.compute.instance_types import InstanceType
from silvereye.compute.nodes import NodeCapacity
from silvereye.compute.scheduler import Scheduler
from silvereye.services.ec2 import errors, filters
from silvereye.services.ec2.models.vpc import zone_id

VERBOSE = "verbose"
GIB = 1 << 30


def check_zone(cfg: Any, zone: str | None) -> str:
    """The zone a launch goes to: the one asked for (if configured) or the first."""
    if not zone:
        return cfg.availability_zones[0]
    if zone not in cfg.availability_zones:
        raise errors.invalid_zone(zone)
    return zone


def region(cfg: Any, endpoint: str) -> dict[str, Any]:
    return {"RegionName": cfg.region, "Endpoint": endpoint, "OptInStatus": "opt-in-not-required"}


def zone(cfg: Any, name: str) -> dict[str, Any]:
    return {
        "ZoneName": name,
        "ZoneId": zone_id(cfg, name),
        "State": "available",
        "RegionName": cfg.region,
        "GroupName": cfg.region,
        "NetworkBorderGroup": cfg.region,
        "ZoneType": "availability-zone",
        "OptInStatus": "opt-in-not-required",
        "Messages": [],
    }


ZONE_FILTERS = filters.FilterSpec(fields={
    "zone-name": lambda z: z["ZoneName"],
    "zone-id": lambda z: z["ZoneId"],
    "state": lambda z: z["State"],
    "region-name": lambda z: z["RegionName"],
    "group-name": lambda z: z["GroupName"],
    "network-border-group": lambda z: z["NetworkBorderGroup"],
    "zone-type": lambda z: z["ZoneType"],
    "opt-in-status": lambda z: z["OptInStatus"],
    "message": lambda z: [m.get("Message") for m in z["Messages"]],
})

REGION_FILTERS = filters.FilterSpec(fields={
    "endpoint": lambda r: r["Endpoint"],
    "region-name": lambda r: r["RegionName"],
    "opt-in-status": lambda r: r["OptInStatus"],
})


# -- room per instance type ------------------------------------------------------------------


def _fits(room_vcpus: float, room_mib: float, room_disk: float, t: InstanceType) -> int:
    counts = [int(room_vcpus // t.vcpus), int(room_mib // t.memory_mib)]
    if t.root_gib:
        counts.append(int(room_disk // (t.root_gib * GIB)))
    return max(0, min(counts))


def room(capacities: list[NodeCapacity], scheduler: Scheduler, t: InstanceType) -> tuple[int, int]:
    """(free, max): instances of type ``t`` that fit now, and on the same nodes with nothing running."""
    free = total = 0
    for cap in capacities:
        now_room = scheduler.free_room(cap)
        free += _fits(now_room.vcpus, now_room.memory_mib, now_room.disk_bytes, t)
        empty = scheduler.free_room(NodeCapacity(cap.node, cap.cpus, cap.memory_mib, cap.disk_total,
                                                 cap.disk_total, 0, 0, 0))
        total += _fits(empty.vcpus, empty.memory_mib, empty.disk_bytes, t)
    return free, total


def verbose_lines(cfg: Any, capacities: list[NodeCapacity], scheduler: Scheduler) -> list[dict[str, Any]]:
    """Eucalyptus' verbose listing: each zone, then a header line and a line per instance type."""
    out = []
    types = instance_types.all_types()
    rows = [(t, room(capacities, scheduler, t)) for t in types]
    for name in cfg.availability_zones:
        out.append(zone(cfg, name))
        out.append({"ZoneName": "|- vm types", "State": "free / max   cpu   ram  disk", "RegionName": cfg.region})
        for t, (free, total) in rows:
            disk = t.root_gib or t.instance_storage_gib
            out.append({"ZoneName": f"|- {t.name}", "RegionName": cfg.region,
                        "State": f"{free:04d} / {total:04d}  {t.vcpus:3d}  {t.memory_mib:5d}  {disk:4d}"})
    return out


# -- instance types ----------------------------------------------------------------------


def instance_type_info(t: InstanceType) -> dict[str, Any]:
    info: dict[str, Any] = {
        "InstanceType": t.name,
        "CurrentGeneration": t.family in ("t2", "t3", "m5", "c5"),
        "FreeTierEligible": t.name in ("t2.micro", "t3.micro"),
        "SupportedUsageClasses": ["on-demand"],
        "SupportedRootDeviceTypes": ["instance-store"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": False,
        "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
        "VCpuInfo": {"DefaultVCpus": t.vcpus, "DefaultCores": t.vcpus, "DefaultThreadsPerCore": 1,
                     "ValidCores": [t.vcpus], "ValidThreadsPerCore": [1]},
        "MemoryInfo": {"SizeInMiB": t.memory_mib},
        "InstanceStorageSupported": bool(t.instance_storage_gib),
        "EbsInfo": {"EbsOptimizedSupport": "unsupported", "EncryptionSupport": "unsupported",
                    "NvmeSupport": "unsupported"},
        "NetworkInfo": {"NetworkPerformance": "Low to Moderate", "MaximumNetworkInterfaces": 1,
                        "MaximumNetworkCards": 1, "DefaultNetworkCardIndex": 0,
                        "Ipv4AddressesPerInterface": 1, "Ipv6AddressesPerInterface": 0, "Ipv6Supported": False,
                        "EnaSupport": "unsupported", "EfaSupported": False, "EncryptionInTransitSupported": False},
        "PlacementGroupInfo": {"SupportedStrategies": []},
        "HibernationSupported": False,
        "BurstablePerformanceSupported": t.burstable,
        "DedicatedHostsSupported": False,
        "AutoRecoverySupported": False,
        "SupportedBootModes": ["legacy-bios", "uefi"],
    }
    if t.instance_storage_gib:
        info["InstanceStorageInfo"] = {"TotalSizeInGB": t.instance_storage_gib,
                                       "Disks": [{"SizeInGB": t.instance_storage_gib, "Count": 1, "Type": "ssd"}]}
    return info


TYPE_FILTERS = filters.FilterSpec(fields={
    "instance-type": lambda i: i["InstanceType"],
    "current-generation": lambda i: i["CurrentGeneration"],
    "free-tier-eligible": lambda i: i["FreeTierEligible"],
    "bare-metal": lambda i: i["BareMetal"],
    "burstable-performance-supported": lambda i: i["BurstablePerformanceSupported"],
    "hibernation-supported": lambda i: i["HibernationSupported"],
    "instance-storage-supported": lambda i: i["InstanceStorageSupported"],
    "memory-info.size-in-mib": lambda i: i["MemoryInfo"]["SizeInMiB"],
    "vcpu-info.default-vcpus": lambda i: i["VCpuInfo"]["DefaultVCpus"],
    "vcpu-info.default-cores": lambda i: i["VCpuInfo"]["DefaultCores"],
    "processor-info.supported-architecture": lambda i: i["ProcessorInfo"]["SupportedArchitectures"],
    "supported-root-device-type": lambda i: i["SupportedRootDeviceTypes"],
    "supported-usage-class": lambda i: i["SupportedUsageClasses"],
    "supported-virtualization-type": lambda i: i["SupportedVirtualizationTypes"],
    "supported-boot-mode": lambda i: i["SupportedBootModes"],
    "network-info.ipv6-supported": lambda i: i["NetworkInfo"]["Ipv6Supported"],
})


def check_instance_type(name: str | None) -> InstanceType:
    try:
        return instance_types.get(name or instance_types.DEFAULT_INSTANCE_TYPE)
    except Exception:
        raise errors.invalid_parameter(f"Invalid value '{name}' for InstanceType.") from None
