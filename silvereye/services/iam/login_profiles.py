"""Login profiles (a user's password) and ChangePassword."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam import entities, passwords
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import USER, utc
from silvereye.services.iam.errors import already_exists, no_such_entity
from silvereye.services.iam.schema import login_profiles as lp

KEEP_PREVIOUS = 24  # the largest PasswordReusePrevention


def _profile(conn: sa.Connection, user: Any) -> Any:
    row = conn.execute(sa.select(lp).where(lp.c.user_id == user.id)).first()
    if row is None:
        raise no_such_entity(f"Login Profile for User {user.name} cannot be found.")
    return row


def _set_password(conn: sa.Connection, user: Any, row: Any, password: str, reset_required: bool | None) -> None:
    previous = json.loads(row.previous_hashes)
    passwords.check_password(conn, user.account_id, password, [row.password_hash, *previous])
    values: dict[str, Any] = {
        "password_hash": passwords.hash_password(password),
        "previous_hashes": json.dumps([row.password_hash, *previous][:KEEP_PREVIOUS]),
        "password_changed": entities.now(),
    }
    if reset_required is not None:
        values["reset_required"] = reset_required
    conn.execute(sa.update(lp).where(lp.c.user_id == user.id).values(**values))


def create_login_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        user = entities.get(conn, USER, ctx.account_id, params["UserName"])
        if conn.execute(sa.select(lp.c.user_id).where(lp.c.user_id == user.id)).first():
            raise already_exists(f"Login Profile for user {user.name} already exists.")
        passwords.check_password(conn, ctx.account_id, params["Password"])
        now, reset = entities.now(), bool(params.get("PasswordResetRequired"))
        conn.execute(sa.insert(lp).values(user_id=user.id, account_id=ctx.account_id,
                                          password_hash=passwords.hash_password(params["Password"]),
                                          previous_hashes="[]", reset_required=reset, password_changed=now, created=now))
    return {"LoginProfile": {"UserName": user.name, "CreateDate": now, "PasswordResetRequired": reset}}


def get_login_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        name = params.get("UserName") or (ctx.principal.name if ctx.principal.kind == "user" else "")
        user = entities.get(conn, USER, ctx.account_id, name)
        row = _profile(conn, user)
    return {"LoginProfile": {"UserName": user.name, "CreateDate": utc(row.created),
                             "PasswordResetRequired": row.reset_required}}


def update_login_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        user = entities.get(conn, USER, ctx.account_id, params["UserName"])
        row = _profile(conn, user)
        reset = params.get("PasswordResetRequired")
        if params.get("Password"):
            _set_password(conn, user, row, params["Password"], reset)
        elif reset is not None:
            conn.execute(sa.update(lp).where(lp.c.user_id == user.id).values(reset_required=reset))
    return {}


def delete_login_profile(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        user = entities.get(conn, USER, ctx.account_id, params["UserName"])
        _profile(conn, user)
        conn.execute(sa.delete(lp).where(lp.c.user_id == user.id))
    return {}


def change_password(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A user changes its own password, proving it knows the old one."""
    if ctx.principal.kind != "user":
        raise ServiceError("InvalidUserType", "Only IAM users can change their own password.", 400)
    with writing(ctx.store) as conn:
        user = entities.get(conn, USER, ctx.account_id, ctx.principal.name)
        row = _profile(conn, user)
        if not passwords.verify_password(params["OldPassword"], row.password_hash):
            raise ServiceError("AccessDenied", "The old password is incorrect.", 403)
        _set_password(conn, user, row, params["NewPassword"], False)
    return {}
