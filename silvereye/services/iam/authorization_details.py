"""GetAccountAuthorizationDetails: every user, group, role and policy with what grants them rights.

Auditing tools (and people moving an account elsewhere) read an account's
whole IAM state this way. The items are paged as one list, in the order
users, groups, roles, policies; AWS managed policies appear when the
account uses them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import documents, managed, schema, shapes, tagging
from silvereye.services.iam.entities import GROUP, ROLE, USER, entity_arn, utc
from silvereye.services.iam.pagination import list_page
from silvereye.services.iam.schema import AWS_ACCOUNT

_ORDER = ["User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy"]


def _inline(conn: sa.Connection, owner_id: str) -> list[dict[str, str]]:
    i = schema.inline_policies
    rows = conn.execute(sa.select(i).where(i.c.owner_id == owner_id).order_by(i.c.name_key))
    return [{"PolicyName": r.name, "PolicyDocument": documents.encode(r.document)} for r in rows]


def _attached(conn: sa.Connection, entity_id: str) -> list[dict[str, str]]:
    a, p = schema.policy_attachments, schema.managed_policies
    rows = conn.execute(sa.select(p.c.name, p.c.arn).join(a, a.c.policy_id == p.c.id)
                        .where(a.c.entity_id == entity_id).order_by(p.c.name_key))
    return [{"PolicyName": r.name, "PolicyArn": r.arn} for r in rows]


def _user(conn: sa.Connection, row: Any) -> dict[str, Any]:
    g, gm = schema.groups, schema.group_members
    out: dict[str, Any] = {
        "Path": row.path, "UserName": row.name, "UserId": row.id, "Arn": entity_arn(USER, row),
        "CreateDate": utc(row.created), "UserPolicyList": _inline(conn, row.id),
        "GroupList": [r.name for r in conn.execute(
            sa.select(g.c.name).join(gm, gm.c.group_id == g.c.id).where(gm.c.user_id == row.id).order_by(g.c.name_key))],
        "AttachedManagedPolicies": _attached(conn, row.id), "Tags": tagging.of(conn, row.id),
    }
    if row.permissions_boundary:
        out["PermissionsBoundary"] = managed.boundary(row.permissions_boundary)
    return out


def _group(conn: sa.Connection, row: Any) -> dict[str, Any]:
    return {"Path": row.path, "GroupName": row.name, "GroupId": row.id, "Arn": entity_arn(GROUP, row),
            "CreateDate": utc(row.created), "GroupPolicyList": _inline(conn, row.id),
            "AttachedManagedPolicies": _attached(conn, row.id)}


def _role(conn: sa.Connection, row: Any) -> dict[str, Any]:
    ip = schema.instance_profiles
    out = shapes.role(row, tagging.of(conn, row.id), detail=True)
    out.pop("MaxSessionDuration", None)
    out.pop("Description", None)
    out.update(
        InstanceProfileList=[shapes.instance_profile(p, [row]) for p in conn.execute(
            sa.select(ip).where(ip.c.role_id == row.id).order_by(ip.c.name_key))],
        RolePolicyList=_inline(conn, row.id),
        AttachedManagedPolicies=_attached(conn, row.id),
    )
    out.setdefault("Tags", [])
    return out


def _policy(conn: sa.Connection, account_id: str, row: Any) -> dict[str, Any]:
    v = schema.policy_versions
    attached, bounded = managed.usage_counts(conn, account_id, [row])[row.id]
    out = shapes.policy(row, attached, bounded)
    versions = sorted(conn.execute(sa.select(v).where(v.c.policy_id == row.id)), key=lambda r: -int(r.version_id[1:]))
    out["PolicyVersionList"] = [shapes.policy_version(r, row.default_version) for r in versions]
    return out


def get_account_authorization_details(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = set(params.get("Filter") or _ORDER)
    account = ctx.account_id
    found: list[tuple[int, str, str, Any]] = []  # (kind order, name key, kind, row)
    with ctx.store.read() as conn:
        for kind_name, kind in (("User", USER), ("Group", GROUP), ("Role", ROLE)):
            if kind_name in wanted:
                t = kind.table
                found += [(_ORDER.index(kind_name), r.name_key, kind_name, r)
                          for r in conn.execute(sa.select(t).where(t.c.account_id == account))]
        p, a = schema.managed_policies, schema.policy_attachments
        if "LocalManagedPolicy" in wanted:
            found += [(3, r.name_key, "Policy", r) for r in conn.execute(sa.select(p).where(p.c.account_id == account))]
        if "AWSManagedPolicy" in wanted:
            used = sa.select(a.c.policy_id).where(a.c.account_id == account)
            found += [(4, r.name_key, "Policy", r) for r in conn.execute(
                sa.select(p).where(p.c.account_id == AWS_ACCOUNT, p.c.id.in_(used)))]
        found.sort(key=lambda item: (item[0], item[1]))
        page, more = list_page(found, params, lambda item: [str(item[0]), item[1]])
        out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
        for _, _, kind_name, row in page:
            if kind_name == "User":
                out["UserDetailList"].append(_user(conn, row))
            elif kind_name == "Group":
                out["GroupDetailList"].append(_group(conn, row))
            elif kind_name == "Role":
                out["RoleDetailList"].append(_role(conn, row))
            else:
                out["Policies"].append(_policy(conn, account, row))
    return {**out, **more}
