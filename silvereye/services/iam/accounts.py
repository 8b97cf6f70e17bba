"""Accounts of the cloud and their root credentials.

Eucalyptus had several accounts per cloud, each with its own IAM world;
silvereye does too. The first start of the server creates the ``admin``
account with a root access key; ``silvereye account create`` adds more.
These functions are for the server's start-up and the CLI (which open the
store directly); they raise :class:`SilvereyeError` for the CLI to print.

Services holding per-account resources register an :class:`AccountResources`
in :data:`RESOURCES`, so deleting an account refuses while any remain (or,
with force, removes them too).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa

from silvereye import ids
from silvereye.errors import SilvereyeError
from silvereye.services.iam import schema
from silvereye.services.iam.cache import invalidate

ADMIN = "admin"
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$")


@dataclass(frozen=True)
class AccountResources:
    describe: Callable[[sa.Connection, str], list[str]]  # what the account still holds ("3 buckets")
    purge: Callable[[sa.Connection, str], None]


def _iam_describe(conn: sa.Connection, account_id: str) -> list[str]:
    found = []
    for what, table in (("users", schema.users), ("groups", schema.groups), ("roles", schema.roles),
                        ("policies", schema.managed_policies), ("instance profiles", schema.instance_profiles),
                        ("server certificates", schema.server_certificates)):
        n = conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.account_id == account_id)).scalar_one()
        if n:
            found.append(f"{n} IAM {what}")
    return found


def _iam_purge(conn: sa.Connection, account_id: str) -> None:
    for table in schema.ALL_TABLES:
        if table is not schema.accounts:
            conn.execute(sa.delete(table).where(table.c.account_id == account_id))


RESOURCES: list[AccountResources] = [AccountResources(_iam_describe, _iam_purge)]


def register_resources(describe: Callable[[sa.Connection, str], list[str]],
                       purge: Callable[[sa.Connection, str], None]) -> None:
    """A service declares what an account holds in it (once, however often its module is imported)."""
    if not any(r.describe is describe for r in RESOURCES):
        RESOURCES.append(AccountResources(describe, purge))


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    alias: str | None
    created: dt.datetime


@dataclass(frozen=True)
class RootKey:
    account_id: str
    account_name: str
    access_key_id: str
    secret_access_key: str


def _account(row: Any) -> Account:
    return Account(id=row.id, name=row.name, alias=row.alias, created=row.created)


def find(conn: sa.Connection, name: str) -> Account | None:
    a = schema.accounts
    row = conn.execute(sa.select(a).where(sa.or_(a.c.name_key == name.lower(), a.c.id == name))).first()
    return _account(row) if row else None


def get(conn: sa.Connection, name: str) -> Account:
    found = find(conn, name)
    if found is None:
        raise SilvereyeError(f"no account named {name!r}; `silvereye account list` shows the accounts")
    return found


def all_accounts(conn: sa.Connection) -> list[Account]:
    a = schema.accounts
    return [_account(r) for r in conn.execute(sa.select(a).order_by(a.c.name_key))]


def create(conn: sa.Connection, name: str) -> RootKey:
    """A new account with one root access key."""
    if not _NAME.match(name):
        raise SilvereyeError(
            f"account name {name!r} is not valid: use 3 to 63 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    if find(conn, name) is not None:
        raise SilvereyeError(f"an account named {name!r} already exists")
    a = schema.accounts
    taken = {r.id for r in conn.execute(sa.select(a.c.id))}
    account_id = ids.account_id()
    while account_id in taken:
        account_id = ids.account_id()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    conn.execute(sa.insert(a).values(id=account_id, name=name, name_key=name.lower(), created=now))
    key = RootKey(account_id, name, ids.access_key_id(), ids.secret_access_key())
    conn.execute(sa.insert(schema.access_keys).values(id=key.access_key_id, account_id=account_id, user_id=None,
                                                      secret=key.secret_access_key, status="Active", created=now))
    invalidate()
    return key


def root_key(conn: sa.Connection, name: str) -> RootKey:
    """The account's oldest active root access key (what `silvereye credentials` prints)."""
    account = get(conn, name)
    k = schema.access_keys
    row = conn.execute(
        sa.select(k).where(k.c.account_id == account.id, k.c.user_id.is_(None), k.c.status == "Active")
        .order_by(k.c.created, k.c.id)
    ).first()
    if row is None:
        raise SilvereyeError(
            f"account {account.name!r} has no active root access key; create one with that account's root "
            "credentials (aws iam create-access-key) or re-activate one"
        )
    return RootKey(account.id, account.name, row.id, row.secret)


def delete(conn: sa.Connection, name: str, *, force: bool = False) -> Account:
    account = get(conn, name)
    if account.name == ADMIN:
        raise SilvereyeError("the admin account cannot be deleted: it is the cloud administrator's")
    held = [item for r in RESOURCES for item in r.describe(conn, account.id)]
    if held and not force:
        raise SilvereyeError(
            f"account {account.name!r} still holds {', '.join(held)}; delete them first, or pass --force to delete them too"
        )
    for r in RESOURCES:
        r.purge(conn, account.id)
    conn.execute(sa.delete(schema.accounts).where(schema.accounts.c.id == account.id))
    invalidate()
    return account


def ensure_admin(store: Any) -> RootKey | None:
    """Create the admin account on first start; None when it already exists.

    Several frontends sharing one PostgreSQL database may start together:
    the one that loses the race sees the account the other created.
    """
    with store.read() as conn:
        if find(conn, ADMIN) is not None:
            return None
    try:
        with store.write() as conn:
            if find(conn, ADMIN) is not None:
                return None
            return create(conn, ADMIN)
    except sa.exc.IntegrityError:
        return None
