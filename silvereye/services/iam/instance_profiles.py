"""Instance profiles: how an EC2 instance gets a role (one role per profile, as on AWS)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, quotas, schema, shapes, tagging
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import INSTANCE_PROFILE, ROLE
from silvereye.services.iam.errors import delete_conflict, no_such_entity, quota_exceeded
from silvereye.services.iam.pagination import select_page

ip, r = schema.instance_profiles, schema.roles


def _roles(conn: sa.Connection, rows: list[Any]) -> dict[str, Any]:
    """role id -> role row, for the roles of these profiles."""
    wanted = [row.role_id for row in rows if row.role_id]
    return {row.id: row for row in conn.execute(sa.select(r).where(r.c.id.in_(wanted)))} if wanted else {}


def _shapes(conn: sa.Connection, rows: list[Any], tags: bool = False) -> list[dict[str, Any]]:
    roles = _roles(conn, rows)
    return [shapes.instance_profile(row, [roles[row.role_id]] if row.role_id in roles else [],
                                    tagging.of(conn, row.id) if tags else None) for row in rows]


def create_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    path = entities.check_path(params.get("Path"))
    with writing(ctx.store) as conn:
        quotas.enforce(conn, ip, "InstanceProfilesPerAccount", quotas.INSTANCE_PROFILES, ip.c.account_id == ctx.account_id)
        row = entities.insert(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"], path,
                              role_id=None, created=entities.now())
        tagging.put(conn, ctx.account_id, row.id, params.get("Tags"))
        return {"InstanceProfile": _shapes(conn, [row], tags=True)[0]}


def get_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = entities.get(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        return {"InstanceProfile": _shapes(conn, [row], tags=True)[0]}


def delete_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        if row.role_id:
            raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
        tagging.remove_all(conn, row.id)
        conn.execute(sa.delete(ip).where(ip.c.id == row.id))
    return {}


def list_instance_profiles(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        rows, more = entities.list_entities(conn, INSTANCE_PROFILE, ctx.account_id, params)
        return {"InstanceProfiles": _shapes(conn, rows), **more}


def add_role_to_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        role = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        if row.role_id:
            raise quota_exceeded("InstanceSessionsPerInstanceProfile", quotas.ROLES_PER_INSTANCE_PROFILE)
        conn.execute(sa.update(ip).where(ip.c.id == row.id).values(role_id=role.id))
    return {}


def remove_role_from_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        role = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        if row.role_id != role.id:
            raise no_such_entity(f"The role with name {role.name} is not in instance profile {row.name}.")
        conn.execute(sa.update(ip).where(ip.c.id == row.id).values(role_id=None))
    return {}


def list_instance_profiles_for_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        role = entities.get(conn, ROLE, ctx.account_id, params["RoleName"])
        rows, more = select_page(conn, sa.select(ip).where(ip.c.role_id == role.id), [ip.c.name_key], params)
        return {"InstanceProfiles": _shapes(conn, rows), **more}


def tag_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.tag_named(ctx, INSTANCE_PROFILE, params)


def untag_instance_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.untag_named(ctx, INSTANCE_PROFILE, params)


def list_instance_profile_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.list_named(ctx, INSTANCE_PROFILE, params)
