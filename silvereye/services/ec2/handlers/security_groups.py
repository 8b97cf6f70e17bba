"""CreateSecurityGroup, DeleteSecurityGroup, DescribeSecurityGroups (rules: :mod:`.security_group_rules`)."""

from __future__ import annotations

import re
from typing import Any

from silvereye.services.ec2 import errors, filters, firewall, pagination
from silvereye.services.ec2.models import security_groups as sg
from silvereye.services.ec2.models import sg_permissions, tags
from silvereye.services.ec2.models.vpc import vpc_id
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext

# What AWS allows in a VPC group's name and description.
_TEXT = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")


def _pairs(permissions: list[dict[str, Any]], field: str) -> list[str]:
    return [pair[field] for p in permissions for pair in p["UserIdGroupPairs"] if pair.get(field)]


def _fields(prefix: str, member: str, names: dict[str, str]) -> dict[str, Any]:
    return {
        f"{prefix}ip-permission.cidr": lambda g: [r["CidrIp"] for p in g[member] for r in p["IpRanges"]],
        f"{prefix}ip-permission.protocol": lambda g: [p["IpProtocol"] for p in g[member]],
        f"{prefix}ip-permission.from-port": lambda g: [p["FromPort"] for p in g[member] if "FromPort" in p],
        f"{prefix}ip-permission.to-port": lambda g: [p["ToPort"] for p in g[member] if "ToPort" in p],
        f"{prefix}ip-permission.group-id": lambda g: _pairs(g[member], "GroupId"),
        f"{prefix}ip-permission.group-name": lambda g: [names.get(i) for i in _pairs(g[member], "GroupId")],
        f"{prefix}ip-permission.user-id": lambda g: _pairs(g[member], "UserId"),
    }


def _spec(names: dict[str, str]) -> filters.FilterSpec:
    return filters.FilterSpec(
        fields={
            "group-id": lambda g: g["GroupId"],
            "group-name": lambda g: g["GroupName"],
            "description": lambda g: g["Description"],
            "owner-id": lambda g: g["OwnerId"],
            "vpc-id": lambda g: g["VpcId"],
            **_fields("", "IpPermissions", names),
            **_fields("egress.", "IpPermissionsEgress", names),
        },
        tags=filters.shape_tags,
        never=frozenset({"ip-permission.ipv6-cidr", "ip-permission.prefix-list-id",
                         "egress.ip-permission.ipv6-cidr", "egress.ip-permission.prefix-list-id"}),
    )


def _shape(group: sg.Group, region: str, tag_map: dict[str, str] | None) -> dict[str, Any]:
    return {
        "GroupId": group.group_id,
        "GroupName": group.name,
        "Description": group.description,
        "OwnerId": group.account_id,
        "VpcId": group.vpc_id,
        "SecurityGroupArn": f"arn:aws:ec2:{region}:{group.account_id}:security-group/{group.group_id}",
        "IpPermissions": sg_permissions.permissions(group.rules_of("ingress"), group.account_id),
        "IpPermissionsEgress": sg_permissions.permissions(group.rules_of("egress"), group.account_id),
        "Tags": tags.tag_list(tag_map),
    }


def _checked_text(value: Any, parameter: str) -> str:
    if value is None:
        raise errors.missing_parameter(parameter)
    if not _TEXT.fullmatch(str(value)):
        raise errors.invalid_value(value, parameter, "Up to 255 characters: a-z, A-Z, 0-9, spaces and "
                                                     "._-:/()#,@[]+=&;{}!$*")
    return str(value)


def create_security_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    region = ctx.config.region
    name = _checked_text(params.get("GroupName"), "GroupName")
    description = _checked_text(params.get("Description"), "GroupDescription")
    if name.lower().startswith("sg-"):
        raise errors.invalid_value(name, "GroupName", "Group names may not start with 'sg-'.")
    if name == sg.DEFAULT_NAME:
        raise errors.error("InvalidGroup.Reserved", "The security group 'default' is reserved")
    the_vpc = vpc_id(ctx.account_id, region)
    if params.get("VpcId") and params["VpcId"] != the_vpc:
        raise errors.vpc_not_found(params["VpcId"])
    tag_pairs = tags.specifications(params, {"security-group": "security-group"}).get("security-group", [])
    rt = runtime_for(ctx.store)
    with firewall.change(rt, ctx.store) as (conn, fw):
        if any(g.name == name for g in sg.groups(conn, ctx.account_id, region)):
            raise errors.error("InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{the_vpc}'")
        firewall.ensure_default(conn, fw, ctx.account_id, region)
        group = sg.new_group(ctx.account_id, region, name, description)
        sg.insert_group(conn, group)
        sg.insert_rules(conn, group, group.rules)
        tags.put(conn, ctx.account_id, group.group_id, "security-group", tag_pairs)
        fw.create_group(group.group_id, firewall.as_firewall_group(group).rules)
    out: dict[str, Any] = {"GroupId": group.group_id,
                           "SecurityGroupArn": f"arn:aws:ec2:{region}:{ctx.account_id}:security-group/{group.group_id}"}
    if tag_pairs:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in tag_pairs]
    return out


def delete_security_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    region = ctx.config.region
    rt = runtime_for(ctx.store)
    with firewall.change(rt, ctx.store) as (conn, fw):
        group = sg.find(conn, ctx.account_id, region, group_id=params.get("GroupId"), name=params.get("GroupName"))
        if group.group_id == sg.default_group_id(ctx.account_id, region):
            raise errors.error("CannotDelete", f"the specified group: \"{group.group_id}\" name: \"default\" "
                                               f"cannot be deleted by a user")
        members = sg.member_instances(conn, group.group_id)
        if members:
            raise errors.error("InvalidGroup.InUse", f"There are active instances using security group "
                                                     f"'{group.name}' ({group.group_id}): {', '.join(members)}")
        referring = sg.referencing_groups(conn, group.group_id)
        if referring:
            raise errors.error("DependencyViolation", f"resource {group.group_id} has a dependent object: rules of "
                                                      f"{', '.join(referring)} name it")
        sg.delete_group(conn, group.group_id)
        tags.remove_all(conn, [group.group_id])
        if group.group_id in fw.groups():
            fw.delete_group(group.group_id)
    return {"Return": True, "GroupId": group.group_id}


def describe_security_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    region = ctx.config.region
    wanted_ids, wanted_names = params.get("GroupIds") or [], params.get("GroupNames") or []
    if (wanted_ids or wanted_names) and params.get("MaxResults") is not None:
        raise errors.combination("The parameter MaxResults cannot be used with GroupIds or GroupNames.")
    with ctx.store.read() as conn:
        for group_id in wanted_ids:
            sg.find(conn, ctx.account_id, region, group_id=group_id)
        for name in wanted_names:
            sg.find(conn, ctx.account_id, region, name=name)
        groups = sg.groups(conn, ctx.account_id, region)
        tag_maps = tags.of(conn, ctx.account_id, [g.group_id for g in groups])
    chosen = [_shape(g, region, tag_maps.get(g.group_id)) for g in groups
              if (not wanted_ids or g.group_id in wanted_ids) and (not wanted_names or g.name in wanted_names)]
    names = {g.group_id: g.name for g in groups}
    kept = filters.apply(_spec(names), chosen, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda g: g["GroupId"])
    out: dict[str, Any] = {"SecurityGroups": page}
    if token:
        out["NextToken"] = token
    return out
