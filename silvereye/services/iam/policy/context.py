"""The request context: the global condition keys AWS fills in for every request.

Which keys exist for which principal follows AWS's "Global condition context
keys" page: ``aws:username`` only for IAM users, ``aws:MultiFactorAuthPresent``
and ``aws:TokenIssueTime`` only for temporary credentials, principal tags only
when the principal has tags. A key that AWS would leave out is left out, so
that conditions on it fail (or pass with IfExists) as they do on AWS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from silvereye.services.gateway.identity import Principal

_PRINCIPAL_TYPES = {
    "root": "Account",
    "user": "User",
    "assumed-role": "AssumedRole",
    "federated": "FederatedUser",
    "anonymous": "Anonymous",
}


def _is_temporary(principal: Principal) -> bool:
    return principal.kind in ("assumed-role", "federated") or principal.access_key_id.startswith("ASIA")


def _principal_arn(principal: Principal) -> str:
    """aws:PrincipalArn: for a role session, the role's ARN (without its path, which the session ARN lacks)."""
    parts = principal.arn.split(":", 5)
    if principal.kind == "assumed-role" and len(parts) == 6 and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{principal.account_id}:role/{role}"
    return principal.arn


def build_context(
    principal: Principal,
    *,
    source_ip: str,
    secure: bool,
    now: dt.datetime,
    region: str,
    extra: dict[str, Any] | None = None,
    token_issued_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The condition keys of one request; ``extra`` adds or overrides (service keys, aws:RequestTag/...).

    Pass ``extra={"aws:PrincipalArn": role_arn}`` when the role has a path.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    ctx: dict[str, Any] = {
        "aws:SourceIp": source_ip,
        "aws:CurrentTime": now,
        "aws:EpochTime": int(now.timestamp()),
        "aws:SecureTransport": secure,
        "aws:userid": principal.user_id,
        "aws:PrincipalType": _PRINCIPAL_TYPES.get(principal.kind, principal.kind),
    }
    if region:
        ctx["aws:RequestedRegion"] = region
    if not principal.is_anonymous:
        ctx["aws:PrincipalArn"] = _principal_arn(principal)
        ctx["aws:PrincipalAccount"] = principal.account_id
        ctx["aws:PrincipalIsAWSService"] = principal.kind == "service"
    if principal.kind == "user":
        ctx["aws:username"] = principal.name
    for key, value in principal.tags:
        ctx[f"aws:PrincipalTag/{key}"] = value
    if _is_temporary(principal):
        ctx["aws:MultiFactorAuthPresent"] = principal.mfa
        if token_issued_at is not None:
            ctx["aws:TokenIssueTime"] = token_issued_at
    if extra:
        ctx.update(extra)
    return ctx
