"""Managed policies attached to users, groups and roles, and who a policy is attached to."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, managed, quotas, schema
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import GROUP, ROLE, USER, Kind
from silvereye.services.iam.errors import no_such_entity
from silvereye.services.iam.pagination import list_page, select_page

a, p = schema.policy_attachments, schema.managed_policies
_QUOTA = {"user": "PoliciesPerUser", "group": "PoliciesPerGroup", "role": "PoliciesPerRole"}


def _attach(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        entity = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        policy = managed.attachable(conn, ctx.account_id, params["PolicyArn"])
        if quotas.count(conn, a, a.c.entity_id == entity.id, a.c.policy_id == policy.id):
            return {}  # attaching twice changes nothing, as on AWS
        quotas.enforce(conn, a, _QUOTA[kind.name], quotas.ATTACHED_POLICIES_PER_ENTITY, a.c.entity_id == entity.id)
        conn.execute(sa.insert(a).values(policy_id=policy.id, entity_id=entity.id, entity_kind=kind.name,
                                         account_id=ctx.account_id))
    return {}


def _detach(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["PolicyArn"]
    with writing(ctx.store) as conn:
        entity = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        policy = managed.visible(conn, ctx.account_id, arn)
        gone = 0
        if policy is not None:
            gone = conn.execute(sa.delete(a).where(a.c.entity_id == entity.id, a.c.policy_id == policy.id)).rowcount
        if not gone:
            raise no_such_entity(f"Policy {arn} was not found.")
    return {}


def _list_attached(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        entity = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        stmt = sa.select(p.c.name, p.c.arn, p.c.name_key).join(a, a.c.policy_id == p.c.id).where(a.c.entity_id == entity.id)
        if params.get("PathPrefix"):
            stmt = stmt.where(p.c.path.startswith(params["PathPrefix"], autoescape=True))
        rows, more = select_page(conn, stmt, [p.c.name_key, p.c.arn], params)
    return {"AttachedPolicies": [{"PolicyName": r.name, "PolicyArn": r.arn} for r in rows], **more}


def attach_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _attach(ctx, USER, params)


def attach_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _attach(ctx, GROUP, params)


def attach_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _attach(ctx, ROLE, params)


def detach_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _detach(ctx, USER, params)


def detach_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _detach(ctx, GROUP, params)


def detach_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _detach(ctx, ROLE, params)


def list_attached_user_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list_attached(ctx, USER, params)


def list_attached_group_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list_attached(ctx, GROUP, params)


def list_attached_role_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list_attached(ctx, ROLE, params)


_MEMBERS = {"user": ("PolicyUsers", "UserName", "UserId"), "group": ("PolicyGroups", "GroupName", "GroupId"),
            "role": ("PolicyRoles", "RoleName", "RoleId")}


def list_entities_for_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Users, groups and roles of this account using the policy (as a permission or as a boundary)."""
    wanted = params.get("EntityFilter")
    kinds = [k for k in (GROUP, ROLE, USER) if wanted in (None, "", k.name.capitalize())]
    boundary = params.get("PolicyUsageFilter") == "PermissionsBoundary"
    prefix = params.get("PathPrefix") or ""
    found: list[tuple[Kind, Any]] = []
    with ctx.store.read() as conn:
        policy = managed.get(conn, ctx.account_id, params["PolicyArn"])
        for kind in kinds:
            t = kind.table
            if boundary:
                if kind is GROUP:
                    continue
                where = t.c.permissions_boundary == policy.arn
            else:
                where = t.c.id.in_(sa.select(a.c.entity_id).where(a.c.policy_id == policy.id))
            stmt = sa.select(t).where(t.c.account_id == ctx.account_id, where)
            if prefix:
                stmt = stmt.where(t.c.path.startswith(prefix, autoescape=True))
            found += [(kind, r) for r in conn.execute(stmt.order_by(t.c.name_key))]
    items, more = list_page(found, params, lambda item: [item[0].name, item[1].name_key])
    out: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
    for kind, row in items:
        member, name_key, id_key = _MEMBERS[kind.name]
        out[member].append({name_key: row.name, id_key: row.id})
    return {**out, **more}
