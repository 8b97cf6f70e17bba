"""Issuing STS temporary credentials: an ASIA key, a secret and a session token that expire.

The store keeps each session with the principal it acts as (the user, the
account's root, or a role session) and its session policy, so the
credential resolver can rebuild the principal from the key alone.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from silvereye import ids
from silvereye.services.gateway.identity import Principal
from silvereye.services.iam import schema


def issue(
    conn: sa.Connection,
    principal: Principal,
    *,
    entity_id: str | None,
    seconds: int,
    session_name: str = "",
    session_policy: str | None = None,
    session_tags: list[tuple[str, str]] | None = None,
    source_identity: str | None = None,
) -> dict[str, Any]:
    """Store a new session for ``principal``; returns the Credentials member of the response."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    expires = now + dt.timedelta(seconds=seconds)
    key_id, secret, token = ids.access_key_id(temporary=True), ids.secret_access_key(), ids.session_token()
    conn.execute(sa.insert(schema.sessions).values(
        access_key_id=key_id,
        account_id=principal.account_id,
        secret=secret,
        token=token,
        principal_kind=principal.kind,
        principal_arn=principal.arn,
        principal_id=principal.user_id,
        principal_name=principal.name,
        entity_id=entity_id,
        session_name=session_name or None,
        session_policy=session_policy,
        session_tags=json.dumps(session_tags) if session_tags else None,
        source_identity=source_identity,
        created=now,
        expires=expires,
    ))
    return {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token, "Expiration": expires}
