"""DescribeRegions, DescribeAvailabilityZones (with Eucalyptus' verbose listing), DescribeInstanceTypes."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from silvereye.compute import ComputeError, instance_types
from silvereye.net import endpoint_url
from silvereye.services.ec2 import errors, filters, pagination
from silvereye.services.ec2.models import zones
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext

log = logging.getLogger("silvereye.ec2")


def describe_regions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cfg = ctx.config
    for name in params.get("RegionNames") or []:
        if name != cfg.region:
            raise errors.invalid_parameter(f"Invalid region: {name}")
    endpoint = urlsplit(endpoint_url(cfg)).netloc
    found = filters.apply(zones.REGION_FILTERS, [zones.region(cfg, endpoint)], params.get("Filters"))
    return {"Regions": found}


def describe_availability_zones(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    cfg = ctx.config
    names = list(params.get("ZoneNames") or [])
    if zones.VERBOSE in names:
        return {"AvailabilityZones": _verbose(ctx)}
    all_zones = [zones.zone(cfg, name) for name in cfg.availability_zones]
    for name in names:
        if name not in cfg.availability_zones:
            raise errors.invalid_zone(name)
    known_ids = {z["ZoneId"] for z in all_zones}
    for zone_id in params.get("ZoneIds") or []:
        if zone_id not in known_ids:
            raise errors.invalid_parameter(f"Invalid availability zone id: [{zone_id}]")
    chosen = [z for z in all_zones if (not names or z["ZoneName"] in names)
              and (not params.get("ZoneIds") or z["ZoneId"] in params["ZoneIds"])]
    return {"AvailabilityZones": filters.apply(zones.ZONE_FILTERS, chosen, params.get("Filters"))}


def _verbose(ctx: RequestContext) -> list[dict[str, Any]]:
    driver = runtime_for(ctx.store).driver
    try:
        capacities = driver.capacity()
    except ComputeError as e:  # no node answers: everything is 0 free of 0
        log.warning("verbose zone listing without capacity: %s", e)
        capacities = []
    return zones.verbose_lines(ctx.config, capacities, driver.scheduler)


def describe_instance_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = params.get("InstanceTypes") or []
    for name in wanted:
        if name not in instance_types.INSTANCE_TYPES:
            raise errors.invalid_parameter(f"The following supplied instance types do not exist: [{name}]")
    infos = [zones.instance_type_info(t) for t in instance_types.all_types() if not wanted or t.name in wanted]
    kept = filters.apply(zones.TYPE_FILTERS, infos, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda i: i["InstanceType"], minimum=5, maximum=100)
    return {"InstanceTypes": page, "NextToken": token}
