"""Tags on users, roles, policies, instance profiles and server certificates.

IAM tag keys are unique without regard to case (a second key differing only
in case replaces nothing: it is refused), at most 50 per entity.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, schema
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import Kind
from silvereye.services.iam.errors import invalid_input, limit_exceeded, validation
from silvereye.services.iam.pagination import list_page

MAX_TAGS = 50
t = schema.tags


def check(tags: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    """Validated (key, value) pairs from a request's Tags member."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tag in tags or []:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128:
            raise validation(
                f"1 validation error detected: Value '{key}' at 'tags.member.key' failed to satisfy constraint: "
                "Member must have length less than or equal to 128"
            )
        if len(value) > 256:
            raise validation(
                f"1 validation error detected: Value '{value}' at 'tags.member.value' failed to satisfy constraint: "
                "Member must have length less than or equal to 256"
            )
        if key.lower() in seen:
            raise invalid_input("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        if key.lower().startswith("aws:"):
            raise invalid_input("User-defined tags cannot start with the prefix aws:")
        seen.add(key.lower())
        pairs.append((key, value))
    if len(pairs) > MAX_TAGS:
        raise limit_exceeded("The number of tags has reached the maximum limit.")
    return pairs


def put(conn: sa.Connection, account_id: str, entity_id: str, tags: list[dict[str, str]] | None) -> None:
    """Add or overwrite tags (TagUser and the tags given at creation)."""
    pairs = check(tags)
    if not pairs:
        return
    existing = {r.key_lower for r in conn.execute(sa.select(t.c.key_lower).where(t.c.entity_id == entity_id))}
    if len(existing | {k.lower() for k, _ in pairs}) > MAX_TAGS:
        raise limit_exceeded("The number of tags has reached the maximum limit.")
    for key, value in pairs:
        conn.execute(sa.delete(t).where(t.c.entity_id == entity_id, t.c.key_lower == key.lower()))
        conn.execute(sa.insert(t).values(entity_id=entity_id, key_lower=key.lower(), key=key, value=value, account_id=account_id))


def remove(conn: sa.Connection, entity_id: str, keys: list[str] | None) -> None:
    lowered = [k.lower() for k in keys or []]
    if lowered:
        conn.execute(sa.delete(t).where(t.c.entity_id == entity_id, t.c.key_lower.in_(lowered)))


def remove_all(conn: sa.Connection, entity_id: str) -> None:
    conn.execute(sa.delete(t).where(t.c.entity_id == entity_id))


def of(conn: sa.Connection, entity_id: str) -> list[dict[str, str]]:
    rows = conn.execute(sa.select(t.c.key, t.c.value).where(t.c.entity_id == entity_id).order_by(t.c.key_lower))
    return [{"Key": r.key, "Value": r.value} for r in rows]


def page(conn: sa.Connection, entity_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The body of a List*Tags answer."""
    items, more = list_page(of(conn, entity_id), params, lambda tag: [tag["Key"].lower()])
    return {"Tags": items, **more}


# -- the Tag*/Untag*/List*Tags operations of named entities -----------------------


def tag_named(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        put(conn, ctx.account_id, row.id, params["Tags"])
    return {}


def untag_named(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        remove(conn, row.id, params["TagKeys"])
    return {}


def list_named(ctx: RequestContext, kind: Kind, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = entities.get(conn, kind, ctx.account_id, params[kind.name_param])
        return page(conn, row.id, params)
