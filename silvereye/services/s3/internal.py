"""The object store for other services, without HTTP: EC2 image parts and EBS snapshots live here, as in Walrus.

Everything goes through the same storage path as S3 requests -- a blob
written to a temporary file, fsynced, renamed, then recorded in the store in
one transaction -- so an interrupted write is never visible and never leaks
past the next start. Functions are blocking: call them from a worker thread
(``gateway.run_blocking``), or use :func:`put_stream` on the event loop.

Typical use (EC2)::

    from silvereye.services.s3 import internal

    internal.ensure_system_bucket(store, cfg, "silvereye-system-snapshots")
    info = internal.put_file(store, cfg, "silvereye-system-snapshots", "snap-0123/data", "/var/lib/.../snap.qcow2",
                             move=True)                  # the file is taken over (renamed) when it can be
    with internal.open_object(store, cfg, "silvereye-system-snapshots", "snap-0123/data") as obj:
        subprocess.run(["qemu-img", "convert", obj.path, target])   # obj.path: readable while obj is open
    internal.delete_object(store, cfg, "silvereye-system-snapshots", "snap-0123/data")

    # RegisterImage from a user's bucket: may this user read the manifest?
    if not internal.can_read(store, ctx.principal, bucket, manifest_key):
        raise AccessDenied

Functions:

``ensure_system_bucket(store, cfg, name)``
    Create a bucket owned by the cloud itself (account ``000000000000``),
    hidden from every ListBuckets; names must start ``silvereye-system-``.
``put_file(store, cfg, bucket, key, path, *, content_type=None, metadata=None, move=False) -> StoredObject``
    Store a local file (copied, or renamed into the store when ``move`` and
    on the same filesystem).
``put_chunks(store, cfg, bucket, key, chunks, ...) -> StoredObject``
    Store what an iterator of bytes yields (from a worker thread).
``await put_stream(store, cfg, bucket, key, chunks, ...) -> StoredObject``
    The same from an async iterator (on the event loop).
``open_object(store, cfg, bucket, key, version_id=None) -> ObjectReader``
    A context manager with ``size``, ``etag``, ``iter_chunks()``,
    ``copy_to(path)`` and ``path`` (a /proc path to an open descriptor,
    valid while the reader is open, for objects stored as one blob -- every
    object written through this module is). Raises NoSuchKey/NoSuchBucket.
``head(store, bucket, key) -> StoredObject | None``
``delete_object(store, cfg, bucket, key) -> bool``
``list_keys(store, bucket, prefix="") -> list[str]``
``can_read(store, principal, bucket, key, region="") -> bool``
    Whether ``principal`` may GetObject the key, by its identity policies,
    the bucket policy and the ACLs, exactly as an S3 GET would be decided.

Errors are S3's :class:`ServiceError` values (NoSuchBucket, NoSuchKey, ...).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Iterator

import google_crc32c
import sqlalchemy as sa

from silvereye.services.gateway.http import FileBody
from silvereye.services.gateway.identity import Principal
from silvereye.services.s3 import authz, catalog, errors, grants, ingest, names, reading
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.catalog import Extent, NewVersion
from silvereye.services.s3.deletion import delete_key
from silvereye.services.s3.owners import SYSTEM_ACCOUNT
from silvereye.services.s3.tables import objects
from silvereye.services.s3.writes import commit_object

__all__ = [
    "SYSTEM_ACCOUNT", "ObjectReader", "StoredObject", "can_read", "delete_object", "ensure_system_bucket", "head",
    "list_keys", "open_object", "put_chunks", "put_file", "put_stream",
]


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    version_id: str
    size: int
    etag: str  # hex MD5, or '<hex>-N' (multipart, or a CRC32C-checked system object), without quotes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


def _stored(row: catalog.Version) -> StoredObject:
    return StoredObject(row.bucket, row.key, row.version_id, row.size, row.etag,
                        row.headers.get("ContentType", ""), dict(row.metadata))


def ensure_system_bucket(store: Any, config: Any, name: str) -> None:
    """Create the cloud's own bucket ``name`` if it does not exist yet."""
    if not names.is_system_bucket_name(name):
        raise ValueError(f"system bucket names start with {names.SYSTEM_PREFIX!r}: {name!r}")
    names.check_bucket_name(name)
    with store.write() as conn:
        existing = catalog.get_bucket(conn, name)
        if existing is not None:
            if existing.account_id != SYSTEM_ACCOUNT:
                raise catalog.already_exists(name)
            return
        catalog.insert_bucket(conn, name, SYSTEM_ACCOUNT, config.region, grants.private(SYSTEM_ACCOUNT), system=True)


def _new_version(store: Any, bucket: str, received: ingest.Received, content_type: str | None,
                 metadata: dict[str, str] | None) -> NewVersion:
    with store.read() as conn:
        owner = catalog.require_bucket(conn, bucket).account_id
    checksum = {"algorithm": "CRC32C", "type": "FULL_OBJECT", "value": received.checksum} if received.checksum else None
    return NewVersion(size=received.size, etag=received.md5, owner=owner, checksum=checksum,
                      headers={"ContentType": content_type or "binary/octet-stream"},
                      metadata={k.lower(): v for k, v in (metadata or {}).items()}, acl=grants.private(owner))


def _commit(store: Any, config: Any, bucket: str, key: str, received: ingest.Received, content_type: str | None,
            metadata: dict[str, str] | None) -> StoredObject:
    blobs = [received.blob] if received.blob else []
    try:
        new = _new_version(store, bucket, received, content_type, metadata)
    except BaseException:
        for_config(config).free(blobs)
        raise
    items = [Extent(received.blob, 0, received.size)] if received.blob else []
    row, _ = commit_object(store, config, bucket, names.check_key(key), new, items, {}, blobs)
    return _stored(row)


def put_chunks(store: Any, config: Any, bucket: str, key: str, chunks: Iterable[bytes], *,
               content_type: str | None = None, metadata: dict[str, str] | None = None) -> StoredObject:
    names.check_key(key)
    received = ingest.receive_sync(chunks, for_config(config))
    return _commit(store, config, bucket, key, received, content_type, metadata)


async def put_stream(store: Any, config: Any, bucket: str, key: str, chunks: AsyncIterator[bytes], *,
                     content_type: str | None = None, metadata: dict[str, str] | None = None) -> StoredObject:
    names.check_key(key)
    received = await ingest.receive(chunks, for_config(config), limit=2**62)
    return await ingest.blocking(_commit, store, config, bucket, key, received, content_type, metadata)


def _file_chunks(path: str, size: int = 1024 * 1024) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def _adopt(config: Any, path: str, integrity: str = "md5") -> ingest.Received | None:
    """Take a file over by renaming it into the blob store (same filesystem only); None when it cannot be.

    ``integrity="crc32c"`` reads the file for a CRC32C instead of an MD5: some
    thirty times faster here (hardware CRC), which matters for gigabyte
    snapshots that only the cloud itself reads back. The CRC32C is stored as
    the object's full-object checksum, and the ETag takes S3's multipart form
    (``<hex>-1``), which tells every S3 client it is not the content's MD5.
    """
    blobs = for_config(config)
    digest = google_crc32c.Checksum() if integrity == "crc32c" else hashlib.md5()
    size = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, 1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    if integrity == "crc32c":
        crc = digest.digest()
        etag = hashlib.md5(crc + size.to_bytes(8, "big")).hexdigest() + "-1"
        received_extra = {"checksum": base64.b64encode(crc).decode()}
    else:
        etag, received_extra = digest.hexdigest(), {}
    if size == 0:
        os.unlink(path)
        return ingest.Received(None, 0, etag, **received_extra)
    try:
        blob = blobs.adopt(path)
    except OSError:  # another filesystem: copy instead
        return None
    return ingest.Received(blob, size, etag, **received_extra)


def put_file(store: Any, config: Any, bucket: str, key: str, path: str | os.PathLike[str], *,
             content_type: str | None = None, metadata: dict[str, str] | None = None, move: bool = False,
             integrity: str = "md5") -> StoredObject:
    """Store a local file as ``bucket/key``; with ``move`` the file is renamed into the store when it can be.

    ``integrity="crc32c"`` (with ``move``, for the cloud's own large objects):
    see :func:`_adopt`."""
    names.check_key(key)
    if integrity not in ("md5", "crc32c"):
        raise ValueError(f"integrity must be md5 or crc32c, not {integrity!r}")
    path = os.fspath(path)
    received = _adopt(config, path, integrity) if move else None
    if received is None:
        received = ingest.receive_sync(_file_chunks(path), for_config(config))
    return _commit(store, config, bucket, key, received, content_type, metadata)


class ObjectReader:
    """An object opened for reading: its bytes stay readable until close(), even if it is deleted meanwhile."""

    def __init__(self, info: StoredObject, bodies: list[FileBody]):
        self.info = info
        self.size = info.size
        self.etag = info.etag
        self._bodies = bodies

    @property
    def path(self) -> str:
        """A path to the bytes (for tools that want a file), when the object is one whole blob."""
        if len(self._bodies) != 1 or self._bodies[0].offset != 0 or os.fstat(self._bodies[0].fd).st_size != self.size:
            raise ValueError(f"{self.info.bucket}/{self.info.key} is stored in several pieces; read it with iter_chunks()")
        return f"/proc/{os.getpid()}/fd/{self._bodies[0].fd}"

    def iter_chunks(self, chunk: int = 1024 * 1024) -> Iterator[bytes]:
        return reading.read_bodies(self._bodies, chunk)

    def copy_to(self, path: str | os.PathLike[str]) -> None:
        with open(path, "wb") as out:
            for data in self.iter_chunks():
                out.write(data)

    def close(self) -> None:
        for body in self._bodies:
            if body.fd is not None:
                os.close(body.fd)
                body.fd = None
        self._bodies = []

    def __enter__(self) -> "ObjectReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_object(store: Any, config: Any, bucket: str, key: str, version_id: str | None = None) -> ObjectReader:
    stored_key = names.check_key(key)
    for _ in range(5):
        with store.read() as conn:
            catalog.require_bucket(conn, bucket)
            row = catalog.find(conn, bucket, stored_key, version_id)
            if row is None or row.delete_marker:
                raise errors.no_such_version(key, version_id) if version_id else errors.no_such_key(key)
            items = catalog.extents_of(conn, catalog.OBJECT, row.id)
        try:
            bodies = reading.open_bodies(for_config(config), items, 0, row.size - 1) if row.size else []
        except FileNotFoundError:  # rewritten between the lookup and the open: look again
            continue
        return ObjectReader(_stored(row), bodies)
    raise errors.s3("SlowDown", "The object is being rewritten too often to read it; please retry.", 503)


def head(store: Any, bucket: str, key: str) -> StoredObject | None:
    with store.read() as conn:
        row = catalog.latest(conn, bucket, names.check_key(key))
    return _stored(row) if row is not None and not row.delete_marker else None


def delete_object(store: Any, config: Any, bucket: str, key: str) -> bool:
    """Delete the key (a delete marker in a versioned bucket); False when there was nothing to delete."""
    with store.write() as conn:
        current = catalog.lock_bucket(conn, bucket)
        existing = catalog.latest(conn, bucket, names.check_key(key))
        if existing is None or existing.delete_marker:
            return False
        _, freed = delete_key(conn, current, key, None, current.account_id)
    for_config(config).free(freed)
    return True


def list_keys(store: Any, bucket: str, prefix: str = "") -> list[str]:
    start = prefix.encode()
    with store.read() as conn:
        rows = conn.execute(sa.select(objects.c.key).where(
            objects.c.bucket == bucket, objects.c.is_latest.is_(True), objects.c.delete_marker.is_(False),
            objects.c.key >= start).order_by(objects.c.key)).scalars()
        return [k.decode() for k in rows if k.startswith(start)]


def can_read(store: Any, principal: Principal, bucket: str, key: str, region: str = "") -> bool:
    """May ``principal`` read ``bucket/key`` (s3:GetObject), as S3 would decide it?"""
    with store.read() as conn:
        found = catalog.get_bucket(conn, bucket)
        if found is None:
            return False
        row = catalog.latest(conn, bucket, names.check_key(key))
    if row is None or row.delete_marker:
        return False
    return authz.allowed(authz.internal_subject(store, principal, region), "s3:GetObject", found, row)
