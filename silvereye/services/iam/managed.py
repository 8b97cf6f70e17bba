"""Managed policies as other IAM resources refer to them: by ARN, for attaching and boundaries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, schema
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import Kind
from silvereye.services.iam.errors import no_such_entity
from silvereye.services.iam.schema import AWS_ACCOUNT

p = schema.managed_policies
attachments = schema.policy_attachments


def visible(conn: sa.Connection, account_id: str, arn: str) -> Any | None:
    """The policy with this ARN if the account may use it (its own, or AWS managed)."""
    row = conn.execute(sa.select(p).where(p.c.arn == arn)).first()
    if row is None or row.account_id not in (account_id, AWS_ACCOUNT):
        return None
    return row


def get(conn: sa.Connection, account_id: str, arn: str) -> Any:
    """GetPolicy and friends: NoSuchEntity in AWS's words."""
    row = visible(conn, account_id, arn)
    if row is None:
        raise no_such_entity(f"Policy {arn} was not found.")
    return row


def attachable(conn: sa.Connection, account_id: str, arn: str) -> Any:
    """AttachUserPolicy, PutUserPermissionsBoundary...: NoSuchEntity in AWS's words."""
    row = visible(conn, account_id, arn)
    if row is None:
        raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
    return row


def boundary(arn: str | None) -> dict[str, str] | None:
    """The PermissionsBoundary member of a User or Role."""
    if not arn:
        return None
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def set_boundary(ctx: RequestContext, kind: Kind, params: dict[str, Any], arn: str | None) -> dict[str, Any]:
    """Put*PermissionsBoundary (``arn``) and Delete*PermissionsBoundary (None) for users and roles."""
    with writing(ctx.store) as conn:
        row = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        if arn is not None:
            attachable(conn, ctx.account_id, arn)
        conn.execute(sa.update(kind.table).where(kind.table.c.id == row.id).values(permissions_boundary=arn))
    return {}


def usage_counts(conn: sa.Connection, account_id: str, rows: list[Any]) -> dict[str, tuple[int, int]]:
    """Policy id -> (attachments, uses as a permissions boundary) within the account."""
    a = attachments
    attached = dict(conn.execute(
        sa.select(a.c.policy_id, sa.func.count())
        .where(a.c.policy_id.in_([r.id for r in rows]), a.c.account_id == account_id)
        .group_by(a.c.policy_id)).all())
    bounded: dict[str, int] = {}
    for t in (schema.users, schema.roles):
        for arn, n in conn.execute(
            sa.select(t.c.permissions_boundary, sa.func.count())
            .where(t.c.account_id == account_id, t.c.permissions_boundary.in_([r.arn for r in rows]))
            .group_by(t.c.permissions_boundary)
        ):
            bounded[arn] = bounded.get(arn, 0) + n
    return {r.id: (attached.get(r.id, 0), bounded.get(r.arn, 0)) for r in rows}
