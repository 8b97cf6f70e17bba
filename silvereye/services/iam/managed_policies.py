"""Customer managed policies and their versions; AWS managed ones are readable, never writable."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye import ids
from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import documents, entities, managed, quotas, schema, shapes, tagging
from silvereye.services.iam.cache import cached_read, writing
from silvereye.services.iam.errors import already_exists, delete_conflict, invalid_input, no_such_entity, quota_exceeded
from silvereye.services.iam.pagination import list_page, select_page
from silvereye.services.iam.schema import AWS_ACCOUNT

p, v, a = schema.managed_policies, schema.policy_versions, schema.policy_attachments


def _shapes(conn: sa.Connection, account_id: str, rows: list[Any], tags: bool = False) -> list[dict[str, Any]]:
    counts = managed.usage_counts(conn, account_id, rows)
    return [shapes.policy(r, *counts[r.id], tagging.of(conn, r.id) if tags else None) for r in rows]


def _own(conn: sa.Connection, ctx: RequestContext, arn: str) -> Any:
    """A policy this account may change (AWS managed policies cannot be)."""
    row = managed.get(conn, ctx.account_id, arn)
    if row.account_id == AWS_ACCOUNT:
        raise invalid_input(f"Policy {arn} is an AWS managed policy; it cannot be modified.")
    return row


def create_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    path = entities.check_path(params.get("Path"))
    name, text = params["PolicyName"], params["PolicyDocument"]
    documents.check(text, require_version=True)
    documents.check_size(text, "PolicySize", "managed")
    arn = entities.arn(ctx.account_id, "policy", path, name)
    with writing(ctx.store) as conn:
        if conn.execute(sa.select(p.c.id).where(p.c.account_id == ctx.account_id, p.c.name_key == name.lower())).first():
            raise already_exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        quotas.enforce(conn, p, "PoliciesPerAccount", quotas.POLICIES, p.c.account_id == ctx.account_id)
        now = entities.now()
        policy_id = ids.iam_id("ANPA")
        conn.execute(sa.insert(p).values(
            id=policy_id, account_id=ctx.account_id, arn=arn, name=name, name_key=name.lower(), path=path,
            description=params.get("Description"), default_version="v1", next_version=2, created=now, updated=now))
        conn.execute(sa.insert(v).values(policy_id=policy_id, version_id="v1", account_id=ctx.account_id,
                                         document=text, created=now))
        tagging.put(conn, ctx.account_id, policy_id, params.get("Tags"))
        row = conn.execute(sa.select(p).where(p.c.id == policy_id)).one()
        return {"Policy": _shapes(conn, ctx.account_id, [row], tags=True)[0]}


def get_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = managed.get(conn, ctx.account_id, params["PolicyArn"])
        return {"Policy": _shapes(conn, ctx.account_id, [row], tags=True)[0]}


def delete_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = _own(conn, ctx, params["PolicyArn"])
        attached, boundary = managed.usage_counts(conn, ctx.account_id, [row])[row.id]
        if attached:
            raise delete_conflict("Cannot delete a policy attached to entities.")
        if boundary:
            raise delete_conflict("Cannot delete a policy that is used as a permissions boundary.")
        if quotas.count(conn, v, v.c.policy_id == row.id) > 1:
            raise delete_conflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's "
                "versions. The default version is deleted with the policy."
            )
        conn.execute(sa.delete(v).where(v.c.policy_id == row.id))
        tagging.remove_all(conn, row.id)
        conn.execute(sa.delete(p).where(p.c.id == row.id))
    return {}


@cached_read
def list_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = params.get("Scope") or "All"
    owners = {"All": [ctx.account_id, AWS_ACCOUNT], "AWS": [AWS_ACCOUNT], "Local": [ctx.account_id]}[scope]
    stmt = sa.select(p).where(p.c.account_id.in_(owners))
    if params.get("PathPrefix"):
        stmt = stmt.where(p.c.path.startswith(params["PathPrefix"], autoescape=True))
    if params.get("OnlyAttached"):
        stmt = stmt.where(p.c.id.in_(sa.select(a.c.policy_id).where(a.c.account_id == ctx.account_id)))
    usage = params.get("PolicyUsageFilter")
    if usage == "PermissionsBoundary":
        used = sa.union(*(sa.select(t.c.permissions_boundary).where(t.c.account_id == ctx.account_id)
                          for t in (schema.users, schema.roles)))
        stmt = stmt.where(p.c.arn.in_(used))
    with ctx.store.read() as conn:
        rows, more = select_page(conn, stmt, [p.c.name_key, p.c.id], params)
        return {"Policies": _shapes(conn, ctx.account_id, rows), **more}


# -- versions --------------------------------------------------------------------


def create_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    text = params["PolicyDocument"]
    documents.check(text, require_version=True)
    documents.check_size(text, "PolicySize", "managed")
    with writing(ctx.store) as conn:
        row = _own(conn, ctx, params["PolicyArn"])
        if quotas.count(conn, v, v.c.policy_id == row.id) >= quotas.VERSIONS_PER_POLICY:
            raise quota_exceeded("VersionsPerPolicy", quotas.VERSIONS_PER_POLICY)
        version_id, now = f"v{row.next_version}", entities.now()
        conn.execute(sa.insert(v).values(policy_id=row.id, version_id=version_id, account_id=ctx.account_id,
                                         document=text, created=now))
        values: dict[str, Any] = {"next_version": row.next_version + 1, "updated": now}
        if params.get("SetAsDefault"):
            values["default_version"] = version_id
        conn.execute(sa.update(p).where(p.c.id == row.id).values(**values))
        created = conn.execute(sa.select(v).where(v.c.policy_id == row.id, v.c.version_id == version_id)).one()
        return {"PolicyVersion": shapes.policy_version(created, values.get("default_version", row.default_version),
                                                       with_document=False)}


def _version(conn: sa.Connection, row: Any, version_id: str) -> Any:
    found = conn.execute(sa.select(v).where(v.c.policy_id == row.id, v.c.version_id == version_id)).first()
    if found is None:
        raise no_such_entity(f"Policy {row.arn} version {version_id} does not exist or is not attachable.")
    return found


def get_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = managed.get(conn, ctx.account_id, params["PolicyArn"])
        return {"PolicyVersion": shapes.policy_version(_version(conn, row, params["VersionId"]), row.default_version)}


def list_policy_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = managed.get(conn, ctx.account_id, params["PolicyArn"])
        versions = list(conn.execute(sa.select(v).where(v.c.policy_id == row.id)))
    versions.sort(key=lambda r: -int(r.version_id[1:]))  # newest first, as AWS lists them
    items, more = list_page(versions, params, lambda r: [f"{10**9 - int(r.version_id[1:]):010d}"])
    return {"Versions": [shapes.policy_version(r, row.default_version, with_document=False) for r in items], **more}


def delete_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = _own(conn, ctx, params["PolicyArn"])
        found = _version(conn, row, params["VersionId"])
        if found.version_id == row.default_version:
            raise delete_conflict("Cannot delete the default version of a policy.")
        conn.execute(sa.delete(v).where(v.c.policy_id == row.id, v.c.version_id == found.version_id))
    return {}


def set_default_policy_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = _own(conn, ctx, params["PolicyArn"])
        found = _version(conn, row, params["VersionId"])
        conn.execute(sa.update(p).where(p.c.id == row.id).values(default_version=found.version_id, updated=entities.now()))
    return {}


# -- tags --------------------------------------------------------------------------


def tag_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = _own(conn, ctx, params["PolicyArn"])
        tagging.put(conn, ctx.account_id, row.id, params["Tags"])
    return {}


def untag_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = _own(conn, ctx, params["PolicyArn"])
        tagging.remove(conn, row.id, params["TagKeys"])
    return {}


def list_policy_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = managed.get(conn, ctx.account_id, params["PolicyArn"])
        return tagging.page(conn, row.id, params)
