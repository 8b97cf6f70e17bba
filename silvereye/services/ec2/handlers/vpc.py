"""DescribeVpcs, DescribeSubnets, DescribeAccountAttributes: the default VPC as tools expect it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.compute import instance_types
from silvereye.compute.network import InstanceNetwork
from silvereye.services.ec2 import errors, filters
from silvereye.services.ec2.models import tags, vpc, zones
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.ec2.tables import instances
from silvereye.services.gateway.context import RequestContext

VPC_FILTERS = filters.FilterSpec(
    fields={
        "vpc-id": lambda v: v["VpcId"],
        "cidr": lambda v: v["CidrBlock"],
        "cidr-block-association.cidr-block": lambda v: v["CidrBlock"],
        "dhcp-options-id": lambda v: v["DhcpOptionsId"],
        "is-default": lambda v: v["IsDefault"],
        "owner-id": lambda v: v["OwnerId"],
        "state": lambda v: v["State"],
    },
    tags=filters.shape_tags,
    never=frozenset({"ipv6-cidr-block-association.ipv6-cidr-block"}),
)

SUBNET_FILTERS = filters.FilterSpec(
    fields={
        "subnet-id": lambda s: s["SubnetId"],
        "vpc-id": lambda s: s["VpcId"],
        "availability-zone": lambda s: s["AvailabilityZone"],
        "availability-zone-id": lambda s: s["AvailabilityZoneId"],
        "cidr-block": lambda s: s["CidrBlock"],
        "cidr": lambda s: s["CidrBlock"],
        "default-for-az": lambda s: s["DefaultForAz"],
        "defaultForAz": lambda s: s["DefaultForAz"],
        "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
        "owner-id": lambda s: s["OwnerId"],
        "state": lambda s: s["State"],
        "subnet-arn": lambda s: s["SubnetArn"],
        "available-ip-address-count": lambda s: s["AvailableIpAddressCount"],
    },
    tags=filters.shape_tags,
    never=frozenset({"ipv6-cidr-block-association.ipv6-cidr-block"}),
)


def describe_vpcs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cfg = ctx.config
    the_id = vpc.vpc_id(ctx.account_id, cfg.region)
    for wanted in params.get("VpcIds") or []:
        if wanted != the_id:
            raise errors.vpc_not_found(wanted)
    with ctx.store.read() as conn:
        tag_map = tags.of(conn, ctx.account_id, [the_id]).get(the_id)
    found = [vpc.vpc(ctx.account_id, cfg, tags.tag_list(tag_map))]
    return {"Vpcs": filters.apply(VPC_FILTERS, found, params.get("Filters"))}


def _available(ctx: RequestContext) -> int:
    """Free addresses of the instance subnet: its usable ones less those live instances hold."""
    i = instances
    with ctx.store.read() as conn:
        taken = set(conn.execute(sa.select(i.c.private_ip).where(
            i.c.state != "terminated", i.c.private_ip.is_not(None))).scalars())
    return InstanceNetwork.from_config(ctx.config).subnet_info(taken).available


def describe_subnets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cfg = ctx.config
    ids = vpc.subnet_ids(ctx.account_id, cfg)
    for wanted in params.get("SubnetIds") or []:
        if wanted not in ids.values():
            raise errors.subnet_not_found(wanted)
    available = _available(ctx)
    with ctx.store.read() as conn:
        tag_maps = tags.of(conn, ctx.account_id, ids.values())
    found = [vpc.subnet(ctx.account_id, cfg, zone, available, tags.tag_list(tag_maps.get(sid)))
             for zone, sid in ids.items() if not params.get("SubnetIds") or sid in params["SubnetIds"]]
    return {"Subnets": filters.apply(SUBNET_FILTERS, found, params.get("Filters"))}


ATTRIBUTES = ("supported-platforms", "default-vpc", "max-instances", "vpc-max-security-groups-per-interface",
              "max-elastic-ips", "vpc-max-elastic-ips")


def _max_instances(ctx: RequestContext) -> int:
    """As many of the smallest instance type as the cloud's nodes could hold with nothing running."""
    driver = runtime_for(ctx.store).driver
    try:
        capacities = driver.capacity()
    except Exception:
        return 0
    smallest = min(instance_types.all_types(), key=lambda t: (t.memory_mib, t.vcpus))
    return zones.room(capacities, driver.scheduler, smallest)[1]


def _elastic_ips(ctx: RequestContext) -> int:
    from silvereye.config import parse_ip_range

    text = ctx.config.network.public_range
    return len(parse_ip_range(text)) if text else 0


def describe_account_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = params.get("AttributeNames") or list(ATTRIBUTES)
    for name in wanted:
        if name not in ATTRIBUTES:
            raise errors.invalid_parameter(f"The attribute name '{name}' is not valid")
    values = {
        "supported-platforms": lambda: ["VPC"],
        "default-vpc": lambda: [vpc.vpc_id(ctx.account_id, ctx.config.region)],
        "max-instances": lambda: [str(_max_instances(ctx))],
        "vpc-max-security-groups-per-interface": lambda: ["5"],
        "max-elastic-ips": lambda: [str(_elastic_ips(ctx))],
        "vpc-max-elastic-ips": lambda: [str(_elastic_ips(ctx))],
    }
    return {"AccountAttributes": [
        {"AttributeName": name, "AttributeValues": [{"AttributeValue": v} for v in values[name]()]}
        for name in wanted
    ]}
