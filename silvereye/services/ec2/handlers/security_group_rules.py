"""Rules of security groups: Authorize/Revoke Ingress and Egress, DescribeSecurityGroupRules,
ModifySecurityGroupRules, UpdateSecurityGroupRuleDescriptions{Ingress,Egress}.

Every change goes through :func:`silvereye.services.ec2.firewall.change`: the
records change first, the firewall last, in one transaction, so a rule is
enforced on running instances the moment the call answers, and a call that
fails (a duplicate, a rule that is not there, the firewall refusing) changes
neither.
"""

from __future__ import annotations

from typing import Any

from silvereye.compute.security_groups import EGRESS, INGRESS, Rule, describe_rule
from silvereye.services.ec2 import errors, filters, firewall, pagination
from silvereye.services.ec2.models import security_groups as sg
from silvereye.services.ec2.models import sg_permissions, tags
from silvereye.services.ec2.models.common import new_id
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext

RULE_FILTERS = filters.FilterSpec(
    fields={
        "group-id": lambda r: r["GroupId"],
        "security-group-rule-id": lambda r: r["SecurityGroupRuleId"],
    },
    tags=filters.shape_tags,
)


def _target(conn: Any, ctx: RequestContext, params: dict[str, Any], direction: str) -> sg.Group:
    if direction == EGRESS and not params.get("GroupId"):
        raise errors.missing_parameter("GroupId")
    return sg.find(conn, ctx.account_id, ctx.config.region, group_id=params.get("GroupId"),
                   name=params.get("GroupName"))


def _duplicate(rule: Rule, group: sg.Group) -> errors.ServiceError:
    return errors.error("InvalidPermission.Duplicate",
                        f"the specified rule \"{describe_rule(rule)}\" already exists in {group.group_id}")


def _rule_not_found(rule_id: str) -> errors.ServiceError:
    return errors.error("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rule_id}' does not exist")


def _authorize(ctx: RequestContext, params: dict[str, Any], direction: str) -> dict[str, Any]:
    region = ctx.config.region
    tag_pairs = tags.specifications(params, {"security-group-rule": "security-group-rule"}).get("security-group-rule", [])
    rt = runtime_for(ctx.store)
    with firewall.change(rt, ctx.store) as (conn, fw):
        firewall.ensure_default(conn, fw, ctx.account_id, region)
        group = _target(conn, ctx, params, direction)
        rules = sg_permissions.from_request(conn, ctx.account_id, region, params, direction)
        seen: set[tuple] = set()
        for rule in rules:
            if group.find(rule) is not None or rule.key in seen:
                raise _duplicate(rule, group)
            seen.add(rule.key)
        added = [sg.StoredRule(new_id("sgr"), group.group_id, ctx.account_id, rule) for rule in rules]
        sg.insert_rules(conn, group, added)
        for stored in added:
            tags.put(conn, ctx.account_id, stored.rule_id, "security-group-rule", tag_pairs)
        fw.authorize(group.group_id, rules)
    tag_list = [{"Key": k, "Value": v} for k, v in tag_pairs]
    return {"Return": True, "SecurityGroupRules": [sg_permissions.rule_shape(s, region, tag_list) for s in added]}


def _revoke(ctx: RequestContext, params: dict[str, Any], direction: str) -> dict[str, Any]:
    region = ctx.config.region
    rt = runtime_for(ctx.store)
    unknown: list[sg.StoredRule] = []
    with firewall.change(rt, ctx.store) as (conn, fw):
        firewall.ensure_default(conn, fw, ctx.account_id, region)
        group = _target(conn, ctx, params, direction)
        rule_ids = params.get("SecurityGroupRuleIds") or []
        if rule_ids:
            if params.get("IpPermissions") or any(params.get(k) is not None for k in sg_permissions.FLAT):
                raise errors.combination("Specify either SecurityGroupRuleIds or the rules, not both.")
            mine = {r.rule_id: r for r in group.rules_of(direction)}
            for rule_id in rule_ids:
                if rule_id not in mine:
                    raise _rule_not_found(rule_id)
            found = [mine[i] for i in dict.fromkeys(rule_ids)]
        else:
            found = []
            for rule in sg_permissions.from_request(conn, ctx.account_id, region, params, direction):
                stored = group.find(rule)
                if stored is None:
                    unknown.append(sg.StoredRule("", group.group_id, ctx.account_id, rule))
                elif stored not in found:
                    found.append(stored)
            if not found:
                raise errors.error("InvalidPermission.NotFound",
                                   "The specified rule does not exist in this security group.")
        sg.delete_rules(conn, [r.rule_id for r in found])
        tags.remove_all(conn, [r.rule_id for r in found])
        fw.revoke(group.group_id, [r.rule for r in found])
    out: dict[str, Any] = {"Return": True}
    if unknown:
        out["UnknownIpPermissions"] = sg_permissions.permissions(unknown, ctx.account_id)
    return out


def authorize_security_group_ingress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _authorize(ctx, params, INGRESS)


def authorize_security_group_egress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _authorize(ctx, params, EGRESS)


def revoke_security_group_ingress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _revoke(ctx, params, INGRESS)


def revoke_security_group_egress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _revoke(ctx, params, EGRESS)


def describe_security_group_rules(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    region = ctx.config.region
    with ctx.store.read() as conn:
        rules = [r for g in sg.groups(conn, ctx.account_id, region) for r in g.rules]
        tag_maps = tags.of(conn, ctx.account_id, [r.rule_id for r in rules])
    wanted = params.get("SecurityGroupRuleIds") or []
    known = {r.rule_id for r in rules}
    for rule_id in wanted:
        if rule_id not in known:
            raise _rule_not_found(rule_id)
    shaped = [sg_permissions.rule_shape(r, region, tags.tag_list(tag_maps.get(r.rule_id)))
              for r in rules if not wanted or r.rule_id in wanted]
    kept = filters.apply(RULE_FILTERS, shaped, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda r: r["SecurityGroupRuleId"])
    out: dict[str, Any] = {"SecurityGroupRules": page}
    if token:
        out["NextToken"] = token
    return out


def modify_security_group_rules(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    region = ctx.config.region
    rt = runtime_for(ctx.store)
    with firewall.change(rt, ctx.store) as (conn, fw):
        firewall.ensure_default(conn, fw, ctx.account_id, region)
        group = sg.find(conn, ctx.account_id, region, group_id=params.get("GroupId"))
        by_id = {r.rule_id: r for r in group.rules}
        changes: dict[str, Rule] = {}
        for update in params.get("SecurityGroupRules") or []:
            rule_id = update.get("SecurityGroupRuleId")
            if rule_id not in by_id:
                raise _rule_not_found(rule_id or "")
            old = by_id[rule_id]
            changes[rule_id] = sg_permissions.from_rule_request(conn, ctx.account_id, region,
                                                                update.get("SecurityGroupRule") or {},
                                                                old.rule.direction)
        if not changes:
            raise errors.missing_parameter("SecurityGroupRules")
        after = {r.rule.key for r in group.rules if r.rule_id not in changes}
        for rule in changes.values():
            if rule.key in after:
                raise _duplicate(rule, group)
            after.add(rule.key)
        for rule_id, rule in changes.items():
            sg.replace_rule(conn, rule_id, rule)
        fw.revoke(group.group_id, [by_id[i].rule for i in changes])
        fw.authorize(group.group_id, list(changes.values()))
    return {"Return": True}


def _update_descriptions(ctx: RequestContext, params: dict[str, Any], direction: str) -> dict[str, Any]:
    region = ctx.config.region
    with ctx.store.write() as conn:
        group = _target(conn, ctx, params, direction)
        if not group.stored:
            group = sg.ensure_default(conn, ctx.account_id, region)
        by_id = {r.rule_id: r for r in group.rules_of(direction)}
        updates: list[tuple[str, str]] = []
        for item in params.get("SecurityGroupRuleDescriptions") or []:
            if item.get("SecurityGroupRuleId") not in by_id:
                raise _rule_not_found(item.get("SecurityGroupRuleId") or "")
            updates.append((item["SecurityGroupRuleId"], item.get("Description") or ""))
        if params.get("IpPermissions"):
            for rule in sg_permissions.from_permissions(conn, ctx.account_id, region, params["IpPermissions"], direction):
                stored = group.find(rule)
                if stored is None:
                    raise errors.error("InvalidPermission.NotFound",
                                       f"The rule {describe_rule(rule)} does not exist in {group.group_id}")
                updates.append((stored.rule_id, rule.description))
        if not updates:
            raise errors.missing_parameter("IpPermissions")
        for rule_id, description in updates:
            if len(description) > 255:
                raise errors.invalid_value(description, "Description", "At most 255 characters.")
            sg.set_description(conn, rule_id, description)
    return {"Return": True}


def update_security_group_rule_descriptions_ingress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _update_descriptions(ctx, params, INGRESS)


def update_security_group_rule_descriptions_egress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _update_descriptions(ctx, params, EGRESS)
