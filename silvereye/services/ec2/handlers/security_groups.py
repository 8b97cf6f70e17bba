"""DescribeSecurityGroups: the account's default group (issue 6 adds the rest)."""

from __future__ import annotations

from typing import Any

from silvereye.services.ec2 import errors, filters
from silvereye.services.ec2.models import security_groups, tags
from silvereye.services.gateway.context import RequestContext

FILTERS = filters.FilterSpec(
    fields={
        "group-id": lambda g: g["GroupId"],
        "group-name": lambda g: g["GroupName"],
        "description": lambda g: g["Description"],
        "owner-id": lambda g: g["OwnerId"],
        "vpc-id": lambda g: g["VpcId"],
        "ip-permission.protocol": lambda g: [p["IpProtocol"] for p in g["IpPermissions"]],
        "ip-permission.group-id": lambda g: [pair["GroupId"] for p in g["IpPermissions"]
                                             for pair in p["UserIdGroupPairs"]],
        "egress.ip-permission.cidr": lambda g: [r["CidrIp"] for p in g["IpPermissionsEgress"] for r in p["IpRanges"]],
        "egress.ip-permission.protocol": lambda g: [p["IpProtocol"] for p in g["IpPermissionsEgress"]],
    },
    tags=filters.shape_tags,
)


def describe_security_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    groups = security_groups.groups(ctx.account_id, ctx.config.region)
    with ctx.store.read() as conn:
        tag_maps = tags.of(conn, ctx.account_id, [g["GroupId"] for g in groups])
    for g in groups:
        g["Tags"] = tags.tag_list(tag_maps.get(g["GroupId"]))
    by_id = {g["GroupId"]: g for g in groups}
    by_name = {g["GroupName"]: g for g in groups}
    for group_id in params.get("GroupIds") or []:
        if group_id not in by_id:
            raise errors.group_id_not_found(group_id)
    for name in params.get("GroupNames") or []:
        if name not in by_name:
            raise errors.group_not_found(name)
    chosen = [g for g in groups if (not params.get("GroupIds") or g["GroupId"] in params["GroupIds"])
              and (not params.get("GroupNames") or g["GroupName"] in params["GroupNames"])]
    return {"SecurityGroups": filters.apply(FILTERS, chosen, params.get("Filters"))}
