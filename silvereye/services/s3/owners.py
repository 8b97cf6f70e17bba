"""Who owns buckets and objects, as S3 names them: canonical user ids and display names.

S3 names an account by a 64-hex-digit canonical user id in ACLs and
listings. silvereye derives it from the account id (a SHA-256 of it, so it is
stable across restarts and frontends without a table) and maps it back by
looking through the cloud's accounts, which are few. The display name is the
account's name (``admin`` for the first account).

The cloud's own buckets (EC2 image parts, EBS snapshots) belong to
:data:`SYSTEM_ACCOUNT`, an id no real account can have (real ids never start
with 0).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import sqlalchemy as sa

from silvereye.services.iam import schema as iam_schema

SYSTEM_ACCOUNT = "000000000000"
SYSTEM_NAME = "silvereye"
_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Owner:
    account_id: str
    canonical_id: str
    display_name: str

    def shape(self) -> dict[str, str]:
        return {"ID": self.canonical_id, "DisplayName": self.display_name}


def canonical_id(account_id: str) -> str:
    return hashlib.sha256(f"silvereye-s3-canonical-user:{account_id}".encode()).hexdigest()


class _Accounts:
    """account id <-> name, and canonical id -> account id, refreshed every few seconds."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._by_canonical: dict[str, str] = {}
        self._loaded = 0.0

    def _refresh(self, conn: sa.Connection, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded < _CACHE_SECONDS:
            return
        a = iam_schema.accounts
        names = {r.id: r.name for r in conn.execute(sa.select(a.c.id, a.c.name))}
        names[SYSTEM_ACCOUNT] = SYSTEM_NAME
        self._names = names
        self._by_canonical = {canonical_id(i): i for i in names}
        self._loaded = time.monotonic()

    def name(self, conn: sa.Connection, account_id: str) -> str:
        self._refresh(conn)
        if account_id not in self._names:
            self._refresh(conn, force=True)
        return self._names.get(account_id, account_id)

    def account_of(self, conn: sa.Connection, canonical: str) -> str | None:
        self._refresh(conn)
        if canonical not in self._by_canonical:
            self._refresh(conn, force=True)
        return self._by_canonical.get(canonical)


_accounts = _Accounts()


def owner(conn: sa.Connection, account_id: str) -> Owner:
    return Owner(account_id, canonical_id(account_id), _accounts.name(conn, account_id))


def account_for_canonical_id(conn: sa.Connection, canonical: str) -> str | None:
    """The account a canonical user id names, or None when no account of this cloud has it."""
    return _accounts.account_of(conn, canonical.lower())
