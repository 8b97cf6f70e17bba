"""Access keys to principals: the gateway's CredentialResolver over IAM's tables.

Long-term keys (``AKIA...``) belong to an account's root or to a user;
temporary ones (``ASIA...``, from STS) carry the principal they were issued
for, their session policy and their expiry. Expired temporary credentials
are still returned: the authenticator answers ExpiredToken for them rather
than "unknown key". Lookups are cached (see :mod:`.cache`).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.identity import Credential, Principal
from silvereye.services.iam import schema
from silvereye.services.iam.cache import TtlCache
from silvereye.services.iam.entities import USER, entity_arn, utc
from silvereye.services.iam.usage import recorder_for


def root_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def root_principal(account_id: str, access_key_id: str = "") -> Principal:
    return Principal(account_id=account_id, arn=root_arn(account_id), user_id=account_id, kind="root",
                     access_key_id=access_key_id)


def user_principal(conn: sa.Connection, user: Any, access_key_id: str = "") -> Principal:
    t = schema.tags
    tags = tuple((r.key, r.value) for r in conn.execute(
        sa.select(t.c.key, t.c.value).where(t.c.entity_id == user.id).order_by(t.c.key_lower)))
    return Principal(account_id=user.account_id, arn=entity_arn(USER, user), user_id=user.id, kind="user",
                     name=user.name, access_key_id=access_key_id, tags=tags)


class StoreCredentialResolver:
    def __init__(self, store: Any):
        self.store = store
        self._cache = TtlCache()
        self._usage = recorder_for(store)

    def lookup(self, access_key_id: str) -> Credential | None:
        return self._cache.get(access_key_id, lambda: self._load(access_key_id), keep_none=False)

    def record_use(self, access_key_id: str, service: str, region: str) -> None:
        cred = self._cache.get(access_key_id, lambda: None, keep_none=False) if access_key_id.startswith("ASIA") else None
        role_id = cred.principal.role_id if cred is not None else ""
        self._usage.record(access_key_id, service, region, role_id)

    # -- loading -------------------------------------------------------------

    def _load(self, access_key_id: str) -> Credential | None:
        with self.store.read() as conn:
            if access_key_id.startswith("ASIA"):
                return self._load_session(conn, access_key_id)
            return self._load_key(conn, access_key_id)

    @staticmethod
    def _load_key(conn: sa.Connection, access_key_id: str) -> Credential | None:
        k = schema.access_keys
        key = conn.execute(sa.select(k).where(k.c.id == access_key_id)).first()
        if key is None:
            return None
        if key.user_id is None:
            principal = root_principal(key.account_id, access_key_id)
        else:
            user = conn.execute(sa.select(schema.users).where(schema.users.c.id == key.user_id)).first()
            if user is None:
                return None
            principal = user_principal(conn, user, access_key_id)
        return Credential(access_key_id=access_key_id, secret_access_key=key.secret, principal=principal,
                          active=key.status == "Active")

    @staticmethod
    def _load_session(conn: sa.Connection, access_key_id: str) -> Credential | None:
        s = schema.sessions
        row = conn.execute(sa.select(s).where(s.c.access_key_id == access_key_id)).first()
        if row is None:
            return None
        tags: tuple[tuple[str, str], ...] = ()
        if row.principal_kind == "user":
            user = conn.execute(sa.select(schema.users).where(schema.users.c.id == row.entity_id)).first()
            if user is None:  # the user is gone, and with it its sessions
                return None
            tags = user_principal(conn, user).tags
        elif row.principal_kind == "assumed-role":
            t = schema.tags
            role_tags = {r.key_lower: (r.key, r.value) for r in conn.execute(
                sa.select(t).where(t.c.entity_id == row.entity_id))}
            for key, value in json.loads(row.session_tags or "[]"):  # session tags win
                role_tags[key.lower()] = (key, value)
            tags = tuple(sorted(role_tags.values()))
        principal = Principal(
            account_id=row.account_id,
            arn=row.principal_arn,
            user_id=row.principal_id,
            kind=row.principal_kind,
            name=row.principal_name,
            access_key_id=access_key_id,
            session_policy=json.loads(row.session_policy) if row.session_policy else None,
            session_name=row.session_name or "",
            role_id=row.entity_id if row.principal_kind == "assumed-role" else "",
            tags=tags,
        )
        return Credential(access_key_id=access_key_id, secret_access_key=row.secret, principal=principal,
                          session_token=row.token, expires_at=utc(row.expires))
