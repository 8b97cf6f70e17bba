"""IAM roles: trust policies, session limits, boundaries and tags."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import documents, entities, managed, quotas, schema, shapes, tagging
from silvereye.services.iam.cache import cached_read, writing
from silvereye.services.iam.entities import ROLE, USER, Kind
from silvereye.services.iam.errors import malformed_policy, validation
from silvereye.services.iam.usage import recorder_for

_ENTITY_ARN = re.compile(r"arn:aws:iam::(\d{12}):(user|role)/(?:.*/)?([^/]+)$")


def _check_trust(conn: sa.Connection, text: str) -> None:
    """A valid trust policy whose users and roles exist (AWS refuses principals it cannot find)."""
    policy = documents.check(text, "trust")
    documents.check_size(text, "ACLSizePerRole", "trust")
    statements = policy.document.get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal")
        values = principal.get("AWS", []) if isinstance(principal, dict) else []
        for value in values if isinstance(values, list) else [values]:
            m = _ENTITY_ARN.match(value)
            if m is None:
                continue
            account, kind_name, name = m.groups()
            kind: Kind = USER if kind_name == "user" else ROLE
            if entities.find(conn, kind, account, name) is None:
                raise malformed_policy(f'Invalid principal in policy: "AWS":"{value}"')


def _check_duration(seconds: int | None) -> int:
    if seconds is None:
        return 3600
    if not 3600 <= seconds <= 43200:
        raise validation(
            f"1 validation error detected: Value '{seconds}' at 'maxSessionDuration' failed to satisfy constraint: "
            "Member must have value less than or equal to 43200 and greater than or equal to 3600"
        )
    return seconds


def create_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    path = entities.check_path(params.get("Path"))
    duration = _check_duration(params.get("MaxSessionDuration"))
    with writing(ctx.store) as conn:
        _check_trust(conn, params["AssumeRolePolicyDocument"])
        boundary = params.get("PermissionsBoundary")
        if boundary:
            managed.attachable(conn, ctx.account_id, boundary)
        quotas.enforce(conn, schema.roles, "RolesPerAccount", quotas.ROLES, schema.roles.c.account_id == ctx.account_id)
        row = entities.insert(
            conn, ROLE, ctx.account_id, params["RoleName"], path,
            trust_policy=params["AssumeRolePolicyDocument"], description=params.get("Description"),
            max_session_duration=duration, permissions_boundary=boundary or None, created=entities.now(),
        )
        tagging.put(conn, ctx.account_id, row.id, params.get("Tags"))
        return {"Role": shapes.role(row, tagging.of(conn, row.id))}


def get_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    recorder_for(ctx.store).flush()
    with ctx.store.read() as conn:
        row = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        return {"Role": shapes.role(row, tagging.of(conn, row.id), detail=True)}


def update_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if params.get("MaxSessionDuration") is not None:
        values["max_session_duration"] = _check_duration(params["MaxSessionDuration"])
    if params.get("Description") is not None:
        values["description"] = params["Description"]
    with writing(ctx.store) as conn:
        row = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        if values:
            conn.execute(sa.update(schema.roles).where(schema.roles.c.id == row.id).values(**values))
    return {}


def update_role_description(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        conn.execute(sa.update(schema.roles).where(schema.roles.c.id == row.id).values(description=params["Description"]))
        row = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        return {"Role": shapes.role(row, tagging.of(conn, row.id))}


def update_assume_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        _check_trust(conn, params["PolicyDocument"])
        conn.execute(sa.update(schema.roles).where(schema.roles.c.id == row.id).values(trust_policy=params["PolicyDocument"]))
    return {}


def delete_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        entities.check_unused(conn, row.id, [
            *entities.INLINE_AND_ATTACHED,
            (schema.instance_profiles.c.role_id, "must remove roles from instance profile first"),
        ])
        tagging.remove_all(conn, row.id)
        conn.execute(sa.delete(schema.roles).where(schema.roles.c.id == row.id))
    return {}


@cached_read
def list_roles(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        rows, more = entities.list_entities(conn, ROLE, ctx.account_id, params)
    return {"Roles": [shapes.role(r, listing=True) for r in rows], **more}


def put_role_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return managed.set_boundary(ctx, ROLE, params, params["PermissionsBoundary"])


def delete_role_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return managed.set_boundary(ctx, ROLE, params, None)


def tag_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.tag_named(ctx, ROLE, params)


def untag_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.untag_named(ctx, ROLE, params)


def list_role_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.list_named(ctx, ROLE, params)
