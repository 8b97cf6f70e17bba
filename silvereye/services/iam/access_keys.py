"""Long-term access keys of users and of the account's root (at most two each)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye import ids
from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import entities, quotas, schema
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import USER, utc
from silvereye.services.iam.errors import no_such_entity, validation
from silvereye.services.iam.pagination import list_page
from silvereye.services.iam.usage import recorder_for

k = schema.access_keys


def _owner(conn: sa.Connection, ctx: RequestContext, params: dict[str, Any]) -> Any | None:
    """The user named by UserName, else the caller: a user row, or None for the account's root."""
    name = params.get("UserName")
    if name:
        return entities.get(conn, USER, ctx.account_id, name)
    principal = ctx.principal
    if principal.kind == "root":
        return None
    if principal.kind == "user":
        return entities.get(conn, USER, ctx.account_id, principal.name)
    raise validation("Must specify userName when calling with non-User credentials")


def _owned_by(owner: Any | None) -> Any:
    return k.c.user_id == owner.id if owner is not None else k.c.user_id.is_(None)


def _key(conn: sa.Connection, ctx: RequestContext, owner: Any | None, key_id: str) -> Any:
    row = conn.execute(sa.select(k).where(k.c.id == key_id, k.c.account_id == ctx.account_id, _owned_by(owner))).first()
    if row is None:
        raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
    return row


def _named(owner: Any | None, out: dict[str, Any]) -> dict[str, Any]:
    if owner is not None:
        out["UserName"] = owner.name
    return out


def create_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        owner = _owner(conn, ctx, params)
        quotas.enforce(conn, k, "AccessKeysPerUser", quotas.ACCESS_KEYS_PER_USER, k.c.account_id == ctx.account_id,
                       _owned_by(owner))
        key_id, secret, now = ids.access_key_id(), ids.secret_access_key(), entities.now()
        conn.execute(sa.insert(k).values(id=key_id, account_id=ctx.account_id, user_id=owner.id if owner else None,
                                         secret=secret, status="Active", created=now))
    return {"AccessKey": _named(owner, {"AccessKeyId": key_id, "Status": "Active", "SecretAccessKey": secret,
                                        "CreateDate": now})}


def list_access_keys(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        owner = _owner(conn, ctx, params)
        rows = list(conn.execute(
            sa.select(k).where(k.c.account_id == ctx.account_id, _owned_by(owner)).order_by(k.c.created, k.c.id)))
    items, more = list_page(rows, params, lambda r: [r.created.isoformat(), r.id])
    return {"AccessKeyMetadata": [
        _named(owner, {"AccessKeyId": r.id, "Status": r.status, "CreateDate": utc(r.created)}) for r in items], **more}


def update_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = params["Status"]
    if status not in ("Active", "Inactive"):
        raise validation(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Inactive]"
        )
    with writing(ctx.store) as conn:
        row = _key(conn, ctx, _owner(conn, ctx, params), params["AccessKeyId"])
        conn.execute(sa.update(k).where(k.c.id == row.id).values(status=status))
    return {}


def delete_access_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = _key(conn, ctx, _owner(conn, ctx, params), params["AccessKeyId"])
        conn.execute(sa.delete(k).where(k.c.id == row.id))
    return {}


def get_access_key_last_used(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key_id = params["AccessKeyId"]
    recorder_for(ctx.store).flush()
    with ctx.store.read() as conn:
        row = conn.execute(sa.select(k).where(k.c.id == key_id, k.c.account_id == ctx.account_id)).first()
        if row is None:
            raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
        user = conn.execute(sa.select(schema.users.c.name).where(schema.users.c.id == row.user_id)).first() if row.user_id else None
    last: dict[str, Any] = {"ServiceName": row.last_used_service or "N/A", "Region": row.last_used_region or "N/A"}
    if row.last_used is not None:
        last["LastUsedDate"] = utc(row.last_used)
    out: dict[str, Any] = {"AccessKeyLastUsed": last}
    if user is not None:
        out["UserName"] = user.name
    return out
