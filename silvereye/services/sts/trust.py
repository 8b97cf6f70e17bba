"""Who may call what in STS.

* GetCallerIdentity: any authenticated caller, no policy needed (AWS documents this).
* GetSessionToken: any user or root with long-term keys; no policy needed
  (it only authenticates), refused with session credentials.
* AssumeRole: never by an account's root; otherwise the role's trust policy
  is evaluated as the role's resource policy together with the caller's
  identity policies: a trust policy naming the caller itself suffices in the
  role's account; one naming only the caller's account (or a caller from
  another account) also needs the caller's own allow for ``sts:AssumeRole``.
  Session tags need ``sts:TagSession`` and a source identity
  ``sts:SetSourceIdentity`` in the same way.
* GetAccessKeyInfo: an identity allow for ``sts:GetAccessKeyInfo``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam import schema
from silvereye.services.iam.access import access_for, denied
from silvereye.services.iam.entities import arn as make_arn
from silvereye.services.iam.entities import parse_arn
from silvereye.services.iam.policy import MalformedPolicyDocument, evaluate_trust, parse_policy


def role_for(ctx: RequestContext, role_arn: str) -> Any:
    """The role an AssumeRole names (looked up once per request); AccessDenied when there is none."""
    cached = ctx.extras.get("sts_role")
    if cached is not None and cached[0] == role_arn:
        return cached[1]
    parsed = parse_arn(role_arn)
    row = None
    if parsed is not None and parsed[0] == "iam" and parsed[3].startswith("role/"):
        name = parsed[3].rsplit("/", 1)[-1]
        r = schema.roles
        with ctx.store.read() as conn:
            row = conn.execute(sa.select(r).where(r.c.account_id == parsed[2], r.c.name_key == name.lower())).first()
        if row is not None and make_arn(row.account_id, "role", row.path, row.name) != role_arn:
            row = None
    if row is None:
        raise denied(ctx.principal, "sts:AssumeRole", role_arn)
    ctx.extras["sts_role"] = (role_arn, row)
    return row


def _session_credentials(ctx: RequestContext) -> bool:
    return ctx.principal.access_key_id.startswith("ASIA")


def sts_authorize(ctx: RequestContext, operation: str, params: dict[str, Any]) -> None:
    principal = ctx.principal
    if principal.is_anonymous:
        raise ServiceError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    if operation == "GetCallerIdentity":
        return
    if operation == "GetSessionToken":
        if _session_credentials(ctx):
            raise ServiceError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        return
    if operation == "AssumeRole":
        _authorize_assume_role(ctx, params)
        return
    access = access_for(ctx.store)
    if principal.kind in ("user", "root") and _session_credentials(ctx):
        # GetSessionToken credentials may call only AssumeRole and GetCallerIdentity.
        raise denied(principal, f"sts:{operation}", "*", "with session credentials from GetSessionToken")
    access.authorize(ctx, f"sts:{operation}", ["*"])


def _authorize_assume_role(ctx: RequestContext, params: dict[str, Any]) -> None:
    principal = ctx.principal
    if principal.is_root:
        raise ServiceError("AccessDenied", "Roles may not be assumed by root accounts.", 403)
    role_arn = params["RoleArn"]
    role = role_for(ctx, role_arn)
    try:
        trust = parse_policy(role.trust_policy, kind="trust")
    except MalformedPolicyDocument:
        raise denied(principal, "sts:AssumeRole", role_arn) from None
    extra: dict[str, Any] = {"sts:RoleSessionName": params.get("RoleSessionName", "")}
    if params.get("ExternalId"):
        extra["sts:ExternalId"] = params["ExternalId"]
    if params.get("SourceIdentity"):
        extra["sts:SourceIdentity"] = params["SourceIdentity"]
    tags = params.get("Tags") or []
    for tag in tags:
        extra[f"aws:RequestTag/{tag.get('Key', '')}"] = tag.get("Value", "")
    if tags:
        extra["aws:TagKeys"] = [tag.get("Key", "") for tag in tags]
    actions = ["sts:AssumeRole"]
    if tags:
        actions.append("sts:TagSession")  # passing session tags needs its own grant
    if params.get("SourceIdentity"):
        actions.append("sts:SetSourceIdentity")
    access = access_for(ctx.store)
    context = access.context(ctx, extra)
    for action in actions:
        # A role is assumed only if its trust policy says so, even inside its own account.
        if not evaluate_trust(trust, principal, action, context).allowed:
            raise denied(principal, action, role_arn)
        access.authorize(ctx, action, [role_arn], resource_policy=trust, resource_account=role.account_id,
                         extra_context=extra)
