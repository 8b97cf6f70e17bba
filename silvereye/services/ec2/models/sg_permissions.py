"""EC2's two ways of writing rules, read into firewall rules and written back out.

A request names rules as ``IpPermissions`` (a protocol and port range with
lists of CIDRs and group pairs, each becoming one rule) or, for the older
clients, as flat ``IpProtocol``/``FromPort``/``ToPort``/``CidrIp``/
``SourceSecurityGroupName`` parameters. Responses fold rules sharing a
protocol and port range back into one ``IpPermissions`` entry, and show each
rule on its own as a ``SecurityGroupRule`` with its ``sgr-`` id. Values are
checked by :class:`silvereye.compute.security_groups.Rule`; its complaints
become ``InvalidParameterValue``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.compute.errors import InvalidArgument
from silvereye.compute.security_groups import ALL, EGRESS, INGRESS, Rule
from silvereye.services.ec2 import errors
from silvereye.services.ec2.models import security_groups as sg

FLAT = ("IpProtocol", "FromPort", "ToPort", "CidrIp", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId")


def make_rule(direction: str, protocol: Any, from_port: Any, to_port: Any, *, cidr: str | None = None,
              group_id: str | None = None, description: str | None = None) -> Rule:
    proto = str(protocol).strip().lower() if protocol is not None else None
    if proto in (None, ""):
        raise errors.missing_parameter("IpProtocol")
    if proto in ("tcp", "udp", "6", "17") and (from_port is None or to_port is None):
        raise errors.invalid_value("Must specify both from and to ports with TCP/UDP.", "portRange")
    try:
        return Rule(direction, proto, -1 if from_port is None else from_port, -1 if to_port is None else to_port,
                    cidr=cidr, group_id=group_id, description=description or "")
    except InvalidArgument as e:
        raise errors.invalid_parameter(str(e)) from None


def _pair_group(conn: sa.Connection, account_id: str, region: str, pair: dict[str, Any]) -> str:
    owner = pair.get("UserId")
    if owner and owner != account_id:
        raise errors.error("InvalidGroup.NotFound",
                           f"You have specified a security group of account {owner}; rules here name groups of "
                           f"the same account only.")
    if pair.get("VpcPeeringConnectionId"):
        raise errors.unsupported("Security group rules across VPC peering connections are not supported.")
    group = sg.find(conn, account_id, region, group_id=pair.get("GroupId"), name=pair.get("GroupName"))
    return group.group_id


def from_permissions(conn: sa.Connection, account_id: str, region: str, permissions: list[dict[str, Any]],
                     direction: str) -> list[Rule]:
    """The rules ``IpPermissions`` names, one per CIDR or group pair."""
    out: list[Rule] = []
    for p in permissions:
        if p.get("Ipv6Ranges"):
            raise errors.invalid_parameter("IPv6 CIDR blocks are not supported: this cloud's network is IPv4 only.")
        if p.get("PrefixListIds"):
            raise errors.invalid_parameter("Prefix lists are not supported here; name a CIDR or a security group.")
        peers: list[tuple[dict[str, Any], str | None, str | None]] = []
        for r in p.get("IpRanges") or []:
            if not r.get("CidrIp"):
                raise errors.missing_parameter("CidrIp")
            peers.append((r, r["CidrIp"], None))
        for pair in p.get("UserIdGroupPairs") or []:
            peers.append((pair, None, _pair_group(conn, account_id, region, pair)))
        if not peers:
            raise errors.missing_parameter("IpRanges or UserIdGroupPairs (the source or destination of the rule)")
        for item, cidr, group_id in peers:
            out.append(make_rule(direction, p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), cidr=cidr,
                                 group_id=group_id, description=item.get("Description")))
    return out


def from_request(conn: sa.Connection, account_id: str, region: str, params: dict[str, Any], direction: str) -> list[Rule]:
    """The rules of an Authorize/Revoke request, in either form (not both)."""
    flat = {k: params[k] for k in FLAT if params.get(k) is not None}
    permissions = params.get("IpPermissions") or []
    if flat and permissions:
        raise errors.combination("Specify either IpPermissions or the individual rule parameters, not both.")
    if permissions:
        return from_permissions(conn, account_id, region, permissions, direction)
    if not flat:
        raise errors.missing_parameter("IpPermissions")
    if flat.get("SourceSecurityGroupName") or flat.get("SourceSecurityGroupOwnerId"):
        pair = {"GroupName": flat.get("SourceSecurityGroupName"), "UserId": flat.get("SourceSecurityGroupOwnerId")}
        if not pair["GroupName"]:
            raise errors.missing_parameter("SourceSecurityGroupName")
        if flat.get("CidrIp"):
            raise errors.combination("Specify either CidrIp or SourceSecurityGroupName, not both.")
        group_id = _pair_group(conn, account_id, region, pair)
        proto = flat.get("IpProtocol", ALL)
        return [make_rule(direction, proto, flat.get("FromPort"), flat.get("ToPort"), group_id=group_id)]
    return [make_rule(direction, flat.get("IpProtocol"), flat.get("FromPort"), flat.get("ToPort"),
                      cidr=flat.get("CidrIp", "0.0.0.0/0"))]


def _ports(rule: Rule) -> dict[str, Any]:
    if rule.protocol in ("tcp", "udp", "icmp"):
        return {"FromPort": rule.from_port, "ToPort": rule.to_port}
    return {}


def permissions(rules: list[sg.StoredRule], account_id: str) -> list[dict[str, Any]]:
    """Rules folded into IpPermissions: one entry per protocol and port range, in the order first seen."""
    folded: dict[tuple, dict[str, Any]] = {}
    for stored in rules:
        r = stored.rule
        entry = folded.setdefault((r.protocol, r.from_port, r.to_port), {
            "IpProtocol": r.protocol, **_ports(r), "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
            "UserIdGroupPairs": []})
        described = {"Description": r.description} if r.description else {}
        if r.cidr:
            entry["IpRanges"].append({"CidrIp": r.cidr, **described})
        else:
            entry["UserIdGroupPairs"].append({"GroupId": r.group_id, "UserId": account_id, **described})
    return list(folded.values())


def rule_shape(stored: sg.StoredRule, region: str, tag_list: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """One SecurityGroupRule, as DescribeSecurityGroupRules and Authorize* answer."""
    r = stored.rule
    out: dict[str, Any] = {
        "SecurityGroupRuleId": stored.rule_id,
        "GroupId": stored.group_id,
        "GroupOwnerId": stored.account_id,
        "IsEgress": r.direction == EGRESS,
        "IpProtocol": r.protocol,
        "FromPort": r.from_port if _ports(r) else -1,
        "ToPort": r.to_port if _ports(r) else -1,
        "SecurityGroupRuleArn": f"arn:aws:ec2:{region}:{stored.account_id}:security-group-rule/{stored.rule_id}",
        "Tags": tag_list or [],
    }
    if r.cidr:
        out["CidrIpv4"] = r.cidr
    else:
        out["ReferencedGroupInfo"] = {"GroupId": r.group_id, "UserId": stored.account_id}
    if r.description:
        out["Description"] = r.description
    return out


def from_rule_request(conn: sa.Connection, account_id: str, region: str, request: dict[str, Any],
                      direction: str) -> Rule:
    """A rule as ModifySecurityGroupRules writes it (SecurityGroupRuleRequest)."""
    if request.get("CidrIpv6") or request.get("PrefixListId"):
        raise errors.invalid_parameter("IPv6 CIDR blocks and prefix lists are not supported here.")
    cidr, ref = request.get("CidrIpv4"), request.get("ReferencedGroupId")
    if bool(cidr) == bool(ref):
        raise errors.combination("A security group rule names exactly one of CidrIpv4 and ReferencedGroupId.")
    group_id = sg.find(conn, account_id, region, group_id=ref).group_id if ref else None
    return make_rule(direction, request.get("IpProtocol"), request.get("FromPort"), request.get("ToPort"),
                     cidr=cidr, group_id=group_id, description=request.get("Description"))


DIRECTIONS = {"ingress": INGRESS, "egress": EGRESS}
