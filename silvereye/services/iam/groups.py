"""IAM groups and their members."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, quotas, schema, shapes
from silvereye.services.iam.cache import cached_read, writing
from silvereye.services.iam.entities import GROUP, USER
from silvereye.services.iam.errors import no_such_entity
from silvereye.services.iam.pagination import select_page

gm = schema.group_members


def create_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    path = entities.check_path(params.get("Path"))
    with writing(ctx.store) as conn:
        quotas.enforce(conn, schema.groups, "GroupsPerAccount", quotas.GROUPS, schema.groups.c.account_id == ctx.account_id)
        row = entities.insert(conn, GROUP, ctx.account_id, params["GroupName"], path, created=entities.now())
    return {"Group": shapes.group(row)}


def get_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    u = schema.users
    with ctx.store.read() as conn:
        group = entities.get(conn, GROUP, ctx.account_id, params["GroupName"])
        stmt = sa.select(u).join(gm, gm.c.user_id == u.c.id).where(gm.c.group_id == group.id)
        rows, more = select_page(conn, stmt, [u.c.name_key], params)
    return {"Group": shapes.group(group), "Users": [shapes.user(r) for r in rows], **more}


def update_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, GROUP, ctx.account_id, params["GroupName"])
        entities.rename(conn, GROUP, row, params.get("NewGroupName"), params.get("NewPath"))
    return {}


def delete_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, GROUP, ctx.account_id, params["GroupName"])
        entities.check_unused(conn, row.id, [(gm.c.group_id, "must remove users from group first"),
                                             *entities.INLINE_AND_ATTACHED])
        conn.execute(sa.delete(schema.groups).where(schema.groups.c.id == row.id))
    return {}


@cached_read
def list_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        rows, more = entities.list_entities(conn, GROUP, ctx.account_id, params)
    return {"Groups": [shapes.group(r) for r in rows], **more}


def add_user_to_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        group = entities.get(conn, GROUP, ctx.account_id, params["GroupName"])
        user = entities.get(conn, USER, ctx.account_id, params["UserName"])
        if quotas.count(conn, gm, gm.c.group_id == group.id, gm.c.user_id == user.id):
            return {}  # already a member: AWS answers success
        quotas.enforce(conn, gm, "GroupsPerUser", quotas.GROUPS_PER_USER, gm.c.user_id == user.id)
        conn.execute(sa.insert(gm).values(group_id=group.id, user_id=user.id, account_id=ctx.account_id))
    return {}


def remove_user_from_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        group = entities.get(conn, GROUP, ctx.account_id, params["GroupName"])
        user = entities.get(conn, USER, ctx.account_id, params["UserName"])
        gone = conn.execute(sa.delete(gm).where(gm.c.group_id == group.id, gm.c.user_id == user.id)).rowcount
        if not gone:
            raise no_such_entity(f"User {user.name} is not in group {group.name}.")
    return {}


def list_groups_for_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    g = schema.groups
    with ctx.store.read() as conn:
        user = entities.get(conn, USER, ctx.account_id, params["UserName"])
        stmt = sa.select(g).join(gm, gm.c.group_id == g.c.id).where(gm.c.user_id == user.id)
        rows, more = select_page(conn, stmt, [g.c.name_key], params)
    return {"Groups": [shapes.group(r) for r in rows], **more}
