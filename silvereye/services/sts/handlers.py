"""STS: who am I, session tokens, and assuming roles."""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.identity import Principal
from silvereye.services.iam import managed, schema, tagging
from silvereye.services.iam.policy import parse_policy, policy_size
from silvereye.services.sts import sessions
from silvereye.services.sts.trust import role_for

USER_SESSION_DEFAULT, USER_SESSION_MAX = 43200, 129600
ROOT_SESSION_MAX = 3600
CHAINED_ROLE_MAX = 3600
PACKED_LIMIT = 2048  # characters of session policy plus session tags: 100 %


def _validation(value: Any, member: str, constraint: str) -> ServiceError:
    return ServiceError(
        "ValidationError",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}",
        400,
    )


def _check_mfa(params: dict[str, Any]) -> None:
    if params.get("SerialNumber") or params.get("TokenCode"):
        raise ServiceError("AccessDenied", "MultiFactorAuthentication failed: this cloud has no MFA devices.", 403)


def get_caller_identity(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p = ctx.principal
    return {"UserId": p.user_id, "Account": p.account_id, "Arn": p.arn}


def get_session_token(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_mfa(params)
    principal = ctx.principal
    seconds = params.get("DurationSeconds")
    if seconds is not None and not 900 <= seconds <= USER_SESSION_MAX:
        raise _validation(seconds, "durationSeconds",
                          f"Member must have value less than or equal to {USER_SESSION_MAX} and greater than or equal to 900")
    if principal.is_root:
        seconds = min(seconds or ROOT_SESSION_MAX, ROOT_SESSION_MAX)  # AWS caps the root's sessions at one hour
    same = Principal(account_id=principal.account_id, arn=principal.arn, user_id=principal.user_id,
                     kind=principal.kind, name=principal.name)
    with ctx.store.write() as conn:
        creds = sessions.issue(conn, same, entity_id=principal.user_id if principal.kind == "user" else None,
                               seconds=seconds or USER_SESSION_DEFAULT)
    return {"Credentials": creds}


def _session_policy(conn: sa.Connection, account_id: str, params: dict[str, Any]) -> str | None:
    """The inline Policy and the PolicyArns, combined into one document (their union)."""
    statements: list[Any] = []
    inline = params.get("Policy")
    if inline:
        statements += _statements(parse_policy(inline, kind="session").document)
    for item in params.get("PolicyArns") or []:
        arn = item.get("arn", "")
        policy = managed.visible(conn, account_id, arn)
        if policy is None:
            raise ServiceError("MalformedPolicyDocument", f"Policy {arn} does not exist or is not attachable.", 400)
        v = schema.policy_versions
        text = conn.execute(sa.select(v.c.document).where(
            v.c.policy_id == policy.id, v.c.version_id == policy.default_version)).scalar_one()
        statements += _statements(json.loads(text))
    if not inline and not params.get("PolicyArns"):
        return None
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def _statements(doc: dict[str, Any]) -> list[Any]:
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def _packed_percent(params: dict[str, Any], tags: list[tuple[str, str]]) -> int | None:
    if not params.get("Policy") and not tags:
        return None
    packed = (policy_size(params["Policy"]) if params.get("Policy") else 0) + sum(len(k) + len(v) for k, v in tags)
    percent = math.ceil(packed * 100 / PACKED_LIMIT)
    if percent > 100:
        raise ServiceError(
            "PackedPolicyTooLarge",
            f"Packed size of consumed session policies and session tags exceeds the limit ({percent}% of allowed).",
            400,
        )
    return percent


def assume_role(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_mfa(params)
    caller = ctx.principal
    role = role_for(ctx, params["RoleArn"])  # found (and the trust policy evaluated) by the authorizer
    session_name = params["RoleSessionName"]
    limit = CHAINED_ROLE_MAX if caller.kind == "assumed-role" else role.max_session_duration
    seconds = params.get("DurationSeconds") or 3600
    if seconds > limit:
        which = ("the 1 hour session limit for roles assumed by role chaining" if caller.kind == "assumed-role"
                 else "the MaxSessionDuration set for this role")
        raise _validation(seconds, "durationSeconds", f"The requested DurationSeconds exceeds {which}.")
    tags = tagging.check(params.get("Tags"))
    percent = _packed_percent(params, tags)
    arn = f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session_name}"
    assumed_id = f"{role.id}:{session_name}"
    principal = Principal(account_id=role.account_id, arn=arn, user_id=assumed_id, kind="assumed-role",
                          name=role.name, session_name=session_name, role_id=role.id)
    with ctx.store.write() as conn:
        policy = _session_policy(conn, role.account_id, params)
        creds = sessions.issue(conn, principal, entity_id=role.id, seconds=seconds, session_name=session_name,
                               session_policy=policy, session_tags=tags, source_identity=params.get("SourceIdentity"))
    out: dict[str, Any] = {"Credentials": creds, "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": arn}}
    if percent is not None:
        out["PackedPolicySize"] = percent
    if params.get("SourceIdentity"):
        out["SourceIdentity"] = params["SourceIdentity"]
    return out


def get_access_key_info(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    key_id = params["AccessKeyId"]
    k, s = schema.access_keys, schema.sessions
    with ctx.store.read() as conn:
        account = conn.execute(sa.select(k.c.account_id).where(k.c.id == key_id)).scalar() or conn.execute(
            sa.select(s.c.account_id).where(s.c.access_key_id == key_id)).scalar()
    if account is None:
        raise ServiceError("InvalidParameterValue", f"The access key {key_id} does not belong to any account of this cloud.", 400)
    return {"Account": account}
