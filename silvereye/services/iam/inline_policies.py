"""Inline policies embedded in users, groups and roles: Put, Get, Delete and List for each."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import documents, entities
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import GROUP, ROLE, USER, Kind
from silvereye.services.iam.errors import no_such_entity
from silvereye.services.iam.pagination import select_page
from silvereye.services.iam.schema import inline_policies as ip


def _put(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    name, text = params["PolicyName"], params["PolicyDocument"]
    documents.check(text)
    with writing(ctx.store) as conn:
        owner = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        others = [r.document for r in conn.execute(
            sa.select(ip.c.document).where(ip.c.owner_id == owner.id, ip.c.name_key != name.lower()))]
        documents.check_inline_total(kind.name, owner.name, [*others, text])
        conn.execute(sa.delete(ip).where(ip.c.owner_id == owner.id, ip.c.name_key == name.lower()))
        conn.execute(sa.insert(ip).values(owner_id=owner.id, name_key=name.lower(), name=name,
                                          account_id=ctx.account_id, document=text))
    return {}


def _find(conn: sa.Connection, ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> tuple[Any, Any]:
    owner = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
    name = params["PolicyName"]
    row = conn.execute(sa.select(ip).where(ip.c.owner_id == owner.id, ip.c.name_key == name.lower())).first()
    if row is None:
        raise no_such_entity(f"The {kind.name} policy with name {name} cannot be found.")
    return owner, row


def _get(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        owner, row = _find(conn, ctx, kind, params)
    return {kind.name_param: owner.name, "PolicyName": row.name, "PolicyDocument": documents.encode(row.document)}


def _delete(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        owner, row = _find(conn, ctx, kind, params)
        conn.execute(sa.delete(ip).where(ip.c.owner_id == owner.id, ip.c.name_key == row.name_key))
    return {}


def _list(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        owner = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        rows, more = select_page(conn, sa.select(ip).where(ip.c.owner_id == owner.id), [ip.c.name_key], params)
    return {"PolicyNames": [r.name for r in rows], **more}


def put_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put(ctx, USER, params)


def get_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, USER, params)


def delete_user_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, USER, params)


def list_user_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, USER, params)


def put_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put(ctx, GROUP, params)


def get_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, GROUP, params)


def delete_group_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, GROUP, params)


def list_group_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, GROUP, params)


def put_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _put(ctx, ROLE, params)


def get_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _get(ctx, ROLE, params)


def delete_role_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, ROLE, params)


def list_role_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, ROLE, params)
