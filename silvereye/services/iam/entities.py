"""What users, groups, roles, instance profiles and server certificates share.

Each is a named entity of one account with a path, an ARN of the form
``arn:aws:iam::ACCOUNT:<type><path><name>``, a unique id, and AWS's wording
when it is missing or already exists. :class:`Kind` holds those facts so the
handler modules look entities up, create and list them the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from silvereye import ids
from silvereye.services.iam import schema
from silvereye.services.iam.errors import already_exists, delete_conflict, no_such_entity, validation
from silvereye.services.iam.pagination import select_page

_PATH = re.compile(r"^(/|/[\x21-\x7e]+/)$")


@dataclass(frozen=True)
class Kind:
    name: str  # 'user'
    table: sa.Table
    arn_type: str  # the resource type in the ARN: 'user', 'instance-profile', ...
    id_prefix: str  # 'AIDA'
    missing: str  # message format with {name}
    exists: str
    name_param: str  # the request member naming it: 'UserName'


USER = Kind("user", schema.users, "user", "AIDA", "The user with name {name} cannot be found.",
            "User with name {name} already exists.", "UserName")
GROUP = Kind("group", schema.groups, "group", "AGPA", "The group with name {name} cannot be found.",
             "Group with name {name} already exists.", "GroupName")
ROLE = Kind("role", schema.roles, "role", "AROA", "The role with name {name} cannot be found.",
            "Role with name {name} already exists.", "RoleName")
INSTANCE_PROFILE = Kind("instance-profile", schema.instance_profiles, "instance-profile", "AIPA",
                        "Instance Profile {name} cannot be found.", "Instance Profile {name} already exists.",
                        "InstanceProfileName")
SERVER_CERTIFICATE = Kind("server-certificate", schema.server_certificates, "server-certificate", "ASCA",
                          "The Server Certificate with name {name} cannot be found.",
                          "The Server Certificate with name {name} already exists.", "ServerCertificateName")


def now() -> dt.datetime:
    """Now in UTC, to the second (what IAM reports)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp read back from the store, as an aware UTC datetime (SQLite forgets the zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def arn(account_id: str, arn_type: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:{arn_type}{path}{name}"


def entity_arn(kind: Kind, row: Any) -> str:
    return arn(row.account_id, kind.arn_type, row.path, row.name)


def parse_arn(value: str) -> tuple[str, str, str, str] | None:
    """'arn:aws:iam::123:user/a/b' -> ('iam', '', '123', 'user/a/b'), None if it is not an ARN."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1]:
        return None
    return parts[2], parts[3], parts[4], parts[5]


def check_path(path: str | None, member: str = "path") -> str:
    if path is None:
        return "/"
    if len(path) > 512 or not _PATH.match(path):
        raise validation(
            f"1 validation error detected: Value '{path}' at '{member}' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
        )
    return path


def find(conn: sa.Connection, kind: Kind, account_id: str, name: str) -> Any | None:
    t = kind.table
    return conn.execute(
        sa.select(t).where(t.c.account_id == account_id, t.c.name_key == name.lower())
    ).first()


def get(conn: sa.Connection, kind: Kind, account_id: str, name: str) -> Any:
    row = find(conn, kind, account_id, name)
    if row is None:
        raise no_such_entity(kind.missing.format(name=name))
    return row


def insert(conn: sa.Connection, kind: Kind, account_id: str, name: str, path: str, **values: Any) -> Any:
    """Create the entity (EntityAlreadyExists when the name is taken, whatever its case)."""
    if find(conn, kind, account_id, name) is not None:
        raise already_exists(kind.exists.format(name=name))
    row = dict(id=ids.iam_id(kind.id_prefix), account_id=account_id, name=name, name_key=name.lower(), path=path, **values)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(kind.table).values(**row))
    except sa.exc.IntegrityError:  # a concurrent create won the race
        raise already_exists(kind.exists.format(name=name)) from None
    return conn.execute(sa.select(kind.table).where(kind.table.c.id == row["id"])).one()


def rename(conn: sa.Connection, kind: Kind, row: Any, new_name: str | None, new_path: str | None) -> None:
    """UpdateUser/UpdateGroup: a new name (unique) and/or path."""
    values: dict[str, Any] = {}
    if new_path is not None:
        values["path"] = check_path(new_path, "newPath")
    if new_name is not None and new_name != row.name:
        other = find(conn, kind, row.account_id, new_name)
        if other is not None and other.id != row.id:
            raise already_exists(kind.exists.format(name=new_name))
        values.update(name=new_name, name_key=new_name.lower())
    if values:
        conn.execute(sa.update(kind.table).where(kind.table.c.id == row.id).values(**values))


def list_entities(
    conn: sa.Connection, kind: Kind, account_id: str, params: dict[str, Any], *extra_where: Any
) -> tuple[list[Any], dict[str, Any]]:
    """One page of an account's entities of a kind, by name, filtered by PathPrefix."""
    t = kind.table
    stmt = sa.select(t).where(t.c.account_id == account_id, *extra_where)
    prefix = params.get("PathPrefix")
    if prefix:
        stmt = stmt.where(t.c.path.startswith(prefix, autoescape=True))
    return select_page(conn, stmt, [t.c.name_key], params)


def check_unused(conn: sa.Connection, entity_id: str, blockers: list[tuple[sa.Column, str]]) -> None:
    """DeleteConflict naming the first thing still holding on to the entity.

    ``blockers``: (a column referring to the entity, what must be done first).
    """
    for column, what in blockers:
        found = conn.execute(sa.select(sa.literal(1)).select_from(column.table).where(column == entity_id).limit(1)).first()
        if found is not None:
            raise delete_conflict(f"Cannot delete entity, {what}.")


INLINE_AND_ATTACHED = [
    (schema.inline_policies.c.owner_id, "must delete policies first"),
    (schema.policy_attachments.c.entity_id, "must detach all policies first"),
]
