"""IAM users: CreateUser, GetUser, UpdateUser, DeleteUser, ListUsers, boundaries and tags."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, managed, quotas, schema, shapes, tagging
from silvereye.services.iam.cache import cached_read, writing
from silvereye.services.iam.entities import USER, utc
from silvereye.services.iam.errors import validation
from silvereye.services.iam.credentials import root_arn


def create_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    path = entities.check_path(params.get("Path"))
    with writing(ctx.store) as conn:
        boundary = params.get("PermissionsBoundary")
        if boundary:
            managed.attachable(conn, ctx.account_id, boundary)
        quotas.enforce(conn, schema.users, "UsersPerAccount", quotas.USERS, schema.users.c.account_id == ctx.account_id)
        row = entities.insert(conn, USER, ctx.account_id, params["UserName"], path,
                              permissions_boundary=boundary or None, created=entities.now())
        tagging.put(conn, ctx.account_id, row.id, params.get("Tags"))
        return {"User": shapes.user(row, tagging.of(conn, row.id))}


def get_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("UserName")
    principal = ctx.principal
    with ctx.store.read() as conn:
        if not name:
            if principal.kind == "root":
                a = schema.accounts
                created = conn.execute(sa.select(a.c.created).where(a.c.id == ctx.account_id)).scalar_one()
                return {"User": {"UserId": ctx.account_id, "Arn": root_arn(ctx.account_id), "CreateDate": utc(created)}}
            if principal.kind != "user":
                raise validation("Must specify userName when calling with non-User credentials")
            name = principal.name
        row = entities.get(conn, USER, ctx.account_id, name)
        return {"User": shapes.user(row, tagging.of(conn, row.id))}


def update_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, USER, ctx.account_id, params["UserName"])
        entities.rename(conn, USER, row, params.get("NewUserName"), params.get("NewPath"))
    return {}


def delete_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, USER, ctx.account_id, params["UserName"])
        entities.check_unused(conn, row.id, [
            (schema.access_keys.c.user_id, "must delete access keys first"),
            (schema.login_profiles.c.user_id, "must delete login profile first"),
            *entities.INLINE_AND_ATTACHED,
            (schema.group_members.c.user_id, "must remove users from group first"),
        ])
        tagging.remove_all(conn, row.id)
        conn.execute(sa.delete(schema.users).where(schema.users.c.id == row.id))
    return {}


@cached_read
def list_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        rows, more = entities.list_entities(conn, USER, ctx.account_id, params)
    return {"Users": [shapes.user(r) for r in rows], **more}


def put_user_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return managed.set_boundary(ctx, USER, params, params["PermissionsBoundary"])


def delete_user_permissions_boundary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return managed.set_boundary(ctx, USER, params, None)


def tag_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.tag_named(ctx, USER, params)


def untag_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.untag_named(ctx, USER, params)


def list_user_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.list_named(ctx, USER, params)
