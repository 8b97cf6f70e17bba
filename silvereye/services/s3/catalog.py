"""Buckets and object versions in the store: reading them, and the write steps every mutation shares.

Each function takes an open connection, so a handler composes them inside
one ``store.write()`` transaction. Functions that drop references to blobs
return the blob ids that are now unreferenced; the caller frees them with
:meth:`BlobStore.free` only after the transaction has committed.

Writers lock the bucket row first (:func:`lock_bucket`): on PostgreSQL that
serializes the writes to one bucket (two PUTs of the same key cannot both
replace its ``null`` version), on SQLite every write transaction is already
exclusive (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import sqlalchemy as sa

from silvereye.services.gateway.errors import ServiceError

from silvereye.services.s3 import errors, names
from silvereye.services.s3.tables import buckets, extents, objects, parts, uploads

UTC = dt.timezone.utc
OBJECT, PART = "o", "p"


def now_us() -> int:
    """Now, in microseconds, rounded to the millisecond S3 reports."""
    return time.time_ns() // 1_000_000 * 1000


def to_datetime(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1e6, UTC)


def loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass
class Bucket:
    name: str
    account_id: str
    region: str
    created: int
    acl: dict[str, Any]
    policy: str | None = None
    cors: list[dict[str, Any]] | None = None
    lifecycle: list[dict[str, Any]] | None = None
    tags: list[dict[str, str]] | None = None
    versioning: str = ""
    system: bool = False

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"

    @classmethod
    def from_row(cls, row: Any) -> "Bucket":
        return cls(row.name, row.account_id, row.region, row.created, loads(row.acl, {}), row.policy,
                   loads(row.cors), loads(row.lifecycle), loads(row.tags), row.versioning or "", bool(row.system))


@dataclass(frozen=True)
class Extent:
    blob: str
    start: int
    length: int


@dataclass(kw_only=True)
class Written:
    """What a write says about an object beside its bytes (shared by stored and new versions)."""

    size: int
    etag: str  # hex MD5, without quotes; 'md5-N' for multipart objects
    owner: str  # the account that wrote it
    delete_marker: bool = False
    storage_class: str = "STANDARD"
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    checksum: dict[str, str] | None = None
    tags: list[dict[str, str]] | None = None
    acl: dict[str, Any] | None = None
    parts: list[int] | None = None


@dataclass(kw_only=True)
class Version(Written):
    """One row of s3_objects: an object version or a delete marker."""

    id: int
    bucket: str
    key: str
    version_id: str
    is_latest: bool
    modified: int

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"'

    @property
    def last_modified(self) -> dt.datetime:
        return to_datetime(self.modified)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.key}"

    @classmethod
    def from_row(cls, row: Any) -> "Version":
        return cls(
            id=row.id, bucket=row.bucket, key=names.key_text(row.key), version_id=row.version_id,
            is_latest=bool(row.is_latest), delete_marker=bool(row.delete_marker), size=row.size, etag=row.etag,
            modified=row.modified, owner=row.owner, storage_class=row.storage_class, headers=loads(row.headers, {}),
            metadata=loads(row.metadata, {}), checksum=loads(row.checksum), tags=loads(row.tags), acl=loads(row.acl),
            parts=loads(row.parts),
        )


@dataclass(kw_only=True)
class NewVersion(Written):
    """What a write puts in a new version row (everything but its id, version id and latest flag)."""

    modified: int = field(default_factory=now_us)


# -- buckets -------------------------------------------------------------------------


def get_bucket(conn: sa.Connection, name: str) -> Bucket | None:
    row = conn.execute(sa.select(buckets).where(buckets.c.name == name)).first()
    return Bucket.from_row(row) if row else None


def require_bucket(conn: sa.Connection, name: str) -> Bucket:
    found = get_bucket(conn, name)
    if found is None:
        raise errors.no_such_bucket(name)
    return found


def lock_bucket(conn: sa.Connection, name: str) -> Bucket:
    """The bucket, locked for the rest of the transaction (NoSuchBucket when it is gone)."""
    row = conn.execute(sa.select(buckets).where(buckets.c.name == name).with_for_update()).first()
    if row is None:
        raise errors.no_such_bucket(name)
    return Bucket.from_row(row)


def already_exists(name: str) -> ServiceError:
    return errors.s3("BucketAlreadyExists",
                     "The requested bucket name is not available. The bucket namespace is shared by all users of "
                     "the system. Please select a different name and try again.", 409, BucketName=name)


def insert_bucket(conn: sa.Connection, name: str, account_id: str, region: str, acl: dict[str, Any],
                  *, system: bool = False) -> None:
    existing = get_bucket(conn, name)
    if existing is not None:
        if existing.account_id == account_id:
            raise errors.s3("BucketAlreadyOwnedByYou",
                            "Your previous request to create the named bucket succeeded and you already own it.",
                            409, BucketName=name)
        raise already_exists(name)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(buckets).values(name=name, account_id=account_id, region=region,
                                                   created=now_us(), acl=dumps(acl), versioning="", system=system))
    except sa.exc.IntegrityError:  # created a moment ago by another frontend
        raise already_exists(name) from None


def update_bucket(conn: sa.Connection, name: str, **values: Any) -> None:
    conn.execute(sa.update(buckets).where(buckets.c.name == name).values(**values))


def configure(store: Any, name: str, **values: Any) -> None:
    """Change a bucket's configuration (policy, CORS, tags, ...) in a transaction of its own."""
    with store.write() as conn:
        lock_bucket(conn, name)
        update_bucket(conn, name, **values)


# -- object versions -------------------------------------------------------------------


def latest(conn: sa.Connection, bucket: str, key: bytes) -> Version | None:
    row = conn.execute(
        sa.select(objects).where(objects.c.bucket == bucket, objects.c.key == key, objects.c.is_latest.is_(True))
    ).first()
    return Version.from_row(row) if row else None


def version(conn: sa.Connection, bucket: str, key: bytes, version_id: str) -> Version | None:
    row = conn.execute(
        sa.select(objects).where(objects.c.bucket == bucket, objects.c.key == key, objects.c.version_id == version_id)
    ).first()
    return Version.from_row(row) if row else None


def row_exists(conn: sa.Connection, row_id: int) -> bool:
    return conn.execute(sa.select(objects.c.id).where(objects.c.id == row_id)).first() is not None


def find(conn: sa.Connection, bucket: str, key: bytes, version_id: str | None) -> Version | None:
    return version(conn, bucket, key, version_id) if version_id else latest(conn, bucket, key)


def addressed(conn: Any, params: dict[str, Any]) -> Version:
    """The version a request names by Bucket, Key and VersionId (MethodNotAllowed on a delete marker)."""
    version_id = names.check_version_id(params["VersionId"]) if params.get("VersionId") else None
    row = find(conn, params["Bucket"], names.check_key(params["Key"]), version_id)
    if row is None:
        raise errors.no_such_version(params["Key"], version_id) if version_id else errors.no_such_key(params["Key"])
    if row.delete_marker:
        if version_id:
            raise errors.method_not_allowed("GET", "DeleteMarker")
        raise errors.no_such_key(params["Key"])
    return row


def extents_of(conn: sa.Connection, kind: str, owner_id: int, *, share: bool = False) -> list[Extent]:
    """The extents of an object version or part, in order.

    ``share``: lock them against a concurrent delete until this transaction
    ends (PostgreSQL), for a writer that is about to refer to the same blobs.
    """
    query = sa.select(extents.c.blob, extents.c.start, extents.c.length).where(
        extents.c.owner_kind == kind, extents.c.owner_id == owner_id).order_by(extents.c.seq)
    if share:
        query = query.with_for_update(read=True)
    return [Extent(r.blob, r.start, r.length) for r in conn.execute(query)]


def add_extents(conn: sa.Connection, kind: str, owner_id: int, items: Iterable[Extent]) -> None:
    rows = [{"owner_kind": kind, "owner_id": owner_id, "seq": i, "blob": e.blob, "start": e.start, "length": e.length}
            for i, e in enumerate(items)]
    if rows:
        conn.execute(sa.insert(extents), rows)


def drop_extents(conn: sa.Connection, kind: str, owner_ids: list[int]) -> set[str]:
    """Delete the extents of these owners; returns the blobs they referred to (maybe still used elsewhere)."""
    if not owner_ids:
        return set()
    where = sa.and_(extents.c.owner_kind == kind, extents.c.owner_id.in_(owner_ids))
    blobs = {r.blob for r in conn.execute(sa.select(extents.c.blob).where(where))}
    conn.execute(sa.delete(extents).where(where))
    return blobs


def unreferenced(conn: sa.Connection, candidates: Iterable[str]) -> list[str]:
    """Which of these blobs no extent refers to any more (free them after commit)."""
    wanted = sorted(set(candidates))
    if not wanted:
        return []
    used = {r.blob for r in conn.execute(sa.select(extents.c.blob).where(extents.c.blob.in_(wanted)).distinct())}
    return [b for b in wanted if b not in used]


def referenced(conn: sa.Connection, blobs: list[str]) -> set[str]:
    return {r.blob for r in conn.execute(sa.select(extents.c.blob).where(extents.c.blob.in_(blobs)).distinct())}


def _insert(conn: sa.Connection, bucket: str, key: bytes, version_id: str, new: NewVersion) -> int:
    result = conn.execute(sa.insert(objects).values(
        bucket=bucket, key=key, version_id=version_id, is_latest=True, delete_marker=new.delete_marker,
        size=new.size, etag=new.etag, modified=new.modified, owner=new.owner, storage_class=new.storage_class,
        headers=dumps(new.headers or None), metadata=dumps(new.metadata or None), checksum=dumps(new.checksum),
        tags=dumps(new.tags or None), acl=dumps(new.acl), parts=dumps(new.parts),
    ))
    return int(result.inserted_primary_key[0])


def _delete_rows(conn: sa.Connection, ids: list[int]) -> set[str]:
    if not ids:
        return set()
    blobs = drop_extents(conn, OBJECT, ids)
    conn.execute(sa.delete(objects).where(objects.c.id.in_(ids)))
    return blobs


def put_version(conn: sa.Connection, bucket: Bucket, key: bytes, new: NewVersion,
                items: list[Extent]) -> tuple[Version, list[str]]:
    """Make ``new`` the latest version of ``key``, by the bucket's versioning state.

    Versioning enabled: a new version with a fresh id; otherwise the ``null``
    version is replaced. Returns the row and the blobs to free after commit.
    """
    freed: set[str] = set()
    if bucket.versioning == "Enabled":
        version_id = names.new_version_id()
    else:
        version_id = "null"
        old = conn.execute(sa.select(objects.c.id).where(
            objects.c.bucket == bucket.name, objects.c.key == key, objects.c.version_id == "null")).scalars().all()
        freed |= _delete_rows(conn, list(old))
    conn.execute(sa.update(objects).where(
        objects.c.bucket == bucket.name, objects.c.key == key, objects.c.is_latest.is_(True)).values(is_latest=False))
    row_id = _insert(conn, bucket.name, key, version_id, new)
    add_extents(conn, OBJECT, row_id, items)
    written = {f.name: getattr(new, f.name) for f in dataclasses.fields(Written)}
    row = Version(id=row_id, bucket=bucket.name, key=names.key_text(key), version_id=version_id, is_latest=True,
                  modified=new.modified, **written)
    return row, unreferenced(conn, freed)


def remove_version(conn: sa.Connection, row: Version) -> list[str]:
    """Delete one version for good; the next newest becomes the latest. Returns blobs to free."""
    freed = _delete_rows(conn, [row.id])
    if row.is_latest:
        promote_newest(conn, row.bucket, names.check_key(row.key))
    return unreferenced(conn, freed)


def promote_newest(conn: sa.Connection, bucket: str, key: bytes) -> None:
    newest = conn.execute(sa.select(objects.c.id).where(objects.c.bucket == bucket, objects.c.key == key)
                          .order_by(objects.c.id.desc()).limit(1)).scalar()
    if newest is not None:
        conn.execute(sa.update(objects).where(objects.c.id == newest).values(is_latest=True))


def delete_bucket_contents(conn: sa.Connection, name: str) -> set[str]:
    """Everything a bucket holds (for purging an account); returns blobs it referred to."""
    ids = list(conn.execute(sa.select(objects.c.id).where(objects.c.bucket == name)).scalars())
    blobs = _delete_rows(conn, ids)
    upload_ids = list(conn.execute(sa.select(uploads.c.upload_id).where(uploads.c.bucket == name)).scalars())
    if upload_ids:
        part_ids = list(conn.execute(sa.select(parts.c.id).where(parts.c.upload_id.in_(upload_ids))).scalars())
        blobs |= drop_extents(conn, PART, part_ids)
        conn.execute(sa.delete(parts).where(parts.c.upload_id.in_(upload_ids)))
        conn.execute(sa.delete(uploads).where(uploads.c.upload_id.in_(upload_ids)))
    return blobs


def set_object_fields(conn: sa.Connection, row: Version, **values: Any) -> None:
    conn.execute(sa.update(objects).where(objects.c.id == row.id).values(**values))
