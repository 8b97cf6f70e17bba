"""EBS snapshot records, who may restore them, and who still needs them.

A snapshot's bytes are one object in the system bucket (``snapshots/<id>``),
a self-contained qcow2 image of the volume at one instant. The record is
written first (``pending``, with its progress), the object after, and the
record completed last; a record whose object never arrived (a crash) is
``error``. Sharing is EC2's createVolumePermission: grantee account ids, or
the group ``all`` (public). An image that boots from a snapshot keeps it in
use: the images code registers a check with :func:`register_user`, and
DeleteSnapshot asks :func:`used_by`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors
from silvereye.services.ec2.models.common import check_id, iso, now, utc
from silvereye.services.ec2.tables import Account, ResourceId, When
from silvereye.store import create_tables, metadata, register_migrations

BUCKET = "silvereye-system-snapshots"
VISIBLE = ("pending", "completed", "error")  # the states Describe shows
PUBLIC = "all"

snapshots = sa.Table(
    "ec2_snapshots",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("volume_id", ResourceId, nullable=False),  # the source volume (of a copy: the source's)
    sa.Column("volume_size", sa.Integer, nullable=False),  # GiB
    sa.Column("description", sa.String(255), nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False, index=True),  # pending|completed|error|deleting
    sa.Column("progress", sa.Integer, nullable=False, default=0),  # percent
    sa.Column("error_message", sa.String(512), nullable=True),
    sa.Column("created", When, nullable=False),
    sa.Column("completed", When, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),  # bytes of the stored image
    sa.Column("source_snapshot_id", ResourceId, nullable=True),  # CopySnapshot
)

permissions = sa.Table(
    "ec2_snapshot_permissions",
    metadata,
    sa.Column("snapshot_id", ResourceId, primary_key=True),
    sa.Column("grantee", sa.String(12), primary_key=True),  # an account id, or 'all'
    sa.Column("owner_id", Account, nullable=False, index=True),
)

register_migrations("ec2_snapshots", [create_tables(snapshots, permissions)])
s, p = snapshots, permissions


def object_key(snapshot_id: str) -> str:
    return f"snapshots/{snapshot_id}.qcow2"


def check_snapshot_id(value: str) -> str:
    return check_id(value, ("snap",), "InvalidSnapshotID.Malformed")


def not_found(snapshot_id: str) -> Exception:
    return errors.error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


# -- who needs a snapshot ------------------------------------------------------------------------

_users: list[Callable[[sa.Connection, str], str | None]] = []


def register_user(check: Callable[[sa.Connection, str], str | None]) -> None:
    """``check(conn, snapshot_id)`` names a resource (an image id) that needs the snapshot, or None."""
    if check not in _users:
        _users.append(check)


def used_by(conn: sa.Connection, snapshot_id: str) -> str | None:
    """What still needs this snapshot (an image id), or None: DeleteSnapshot refuses while it is used."""
    for check in _users:
        found = check(conn, snapshot_id)
        if found:
            return found
    return None


# -- reading -------------------------------------------------------------------------------------


def get(conn: sa.Connection, snapshot_id: str) -> Any | None:
    return conn.execute(sa.select(s).where(s.c.id == snapshot_id)).first()


def grantees(conn: sa.Connection, snapshot_ids: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    if snapshot_ids:
        for r in conn.execute(sa.select(p).where(p.c.snapshot_id.in_(snapshot_ids))):
            out.setdefault(r.snapshot_id, set()).add(r.grantee)
    return out


def visible(conn: sa.Connection, account_id: str) -> list[Any]:
    """Snapshots the account owns or may restore (shared with it, or public)."""
    shared = sa.select(p.c.snapshot_id).where(p.c.grantee.in_([account_id, PUBLIC]))
    return list(conn.execute(sa.select(s).where(s.c.state.in_(VISIBLE), sa.or_(s.c.account_id == account_id,
                                                                               s.c.id.in_(shared))).order_by(s.c.id)))


def owned(conn: sa.Connection, account_id: str, snapshot_id: str) -> Any:
    row = get(conn, check_snapshot_id(snapshot_id))
    if row is None or row.account_id != account_id or row.state not in VISIBLE:
        raise not_found(snapshot_id)
    return row


def readable(conn: sa.Connection, account_id: str, snapshot_id: str) -> Any:
    """A snapshot the account owns or was granted; InvalidSnapshot.NotFound otherwise."""
    row = get(conn, check_snapshot_id(snapshot_id))
    if row is None or row.state not in VISIBLE:
        raise not_found(snapshot_id)
    if row.account_id != account_id and not grantees(conn, [row.id]).get(row.id, set()) & {account_id, PUBLIC}:
        raise not_found(snapshot_id)
    return row


def restorable(conn: sa.Connection, account_id: str, snapshot_id: str) -> Any:
    """A completed snapshot the account may make a volume from (CreateVolume, RegisterImage...)."""
    row = readable(conn, account_id, snapshot_id)
    if row.state != "completed":
        raise errors.error("IncorrectState", f"Snapshot '{snapshot_id}' is not 'completed' (it is {row.state}).")
    return row


def shape(row: Any, tag_map: dict[str, str] | None) -> dict[str, Any]:
    from silvereye.services.ec2.models.tags import tag_list

    out = {"SnapshotId": row.id, "VolumeId": row.volume_id, "VolumeSize": row.volume_size, "State": row.state,
           "StartTime": utc(row.created), "Progress": f"{row.progress}%", "OwnerId": row.account_id,
           "Description": row.description or "", "Encrypted": False, "StorageTier": "standard",
           "Tags": tag_list(tag_map)}
    if row.error_message:
        out["StateMessage"] = row.error_message
    if row.completed:
        out["CompletionTime"] = iso(row.completed)
    return out


# -- writing -------------------------------------------------------------------------------------


def insert(conn: sa.Connection, snapshot_id: str, account_id: str, volume_id: str, volume_size: int,
           description: str, source_snapshot_id: str | None = None) -> Any:
    conn.execute(sa.insert(s).values(id=snapshot_id, account_id=account_id, volume_id=volume_id,
                                     volume_size=volume_size, description=description or "", state="pending",
                                     progress=0, created=now(), source_snapshot_id=source_snapshot_id))
    return get(conn, snapshot_id)


def update(conn: sa.Connection, snapshot_id: str, **values: Any) -> None:
    conn.execute(sa.update(s).where(s.c.id == snapshot_id).values(**values))


def grant(conn: sa.Connection, row: Any, grantee: str) -> None:
    exists = conn.execute(sa.select(p.c.grantee).where(p.c.snapshot_id == row.id, p.c.grantee == grantee)).first()
    if exists is None:
        conn.execute(sa.insert(p).values(snapshot_id=row.id, grantee=grantee, owner_id=row.account_id))


def revoke(conn: sa.Connection, snapshot_id: str, grantee: str | None = None) -> None:
    where = [p.c.snapshot_id == snapshot_id] + ([p.c.grantee == grantee] if grantee is not None else [])
    conn.execute(sa.delete(p).where(*where))


def purge(conn: sa.Connection, account_id: str) -> None:
    """An account's snapshots go to ``deleting`` (housekeeping removes their objects); its grants go now."""
    conn.execute(sa.delete(p).where(sa.or_(p.c.owner_id == account_id, p.c.grantee == account_id)))
    conn.execute(sa.update(s).where(s.c.account_id == account_id).values(state="deleting"))


def count(conn: sa.Connection, account_id: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(s)
                        .where(s.c.account_id == account_id, s.c.state.in_(VISIBLE))).scalar_one()
