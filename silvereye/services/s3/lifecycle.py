"""Lifecycle configuration (Put/Get/DeleteBucketLifecycleConfiguration) and the controller that carries it out.

The controller runs for the life of the server (started from the S3
service's start-up hook with the gateway's ``spawn``): every
:data:`INTERVAL` seconds, and right after a configuration changes, it walks
the buckets that have rules and applies what is due -- expiring current
versions (a delete, or a delete marker in a versioned bucket), removing
noncurrent versions and expired delete markers, aborting stale multipart
uploads. Each removal is its own small transaction that re-checks the row,
so it never races a client writing the same key; blobs are freed after
commit like any delete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.registry import helper
from silvereye.services.s3 import catalog, errors, lifecycle_rules as rules, uploads
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.catalog import Bucket, Version
from silvereye.services.s3.deletion import delete_key
from silvereye.services.s3.tables import buckets, objects
from silvereye.services.s3.tables import uploads as uploads_table

log = logging.getLogger("silvereye.s3.lifecycle")

INTERVAL = 3600.0
BATCH = 500
_wake: dict[str, Any] = {}  # the controller's event and loop, for handlers in worker threads
_lock = threading.Lock()


def put_bucket_lifecycle_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    stored = rules.check_configuration((params.get("LifecycleConfiguration") or {}).get("Rules") or [])
    catalog.configure(ctx.store, params["Bucket"], lifecycle=catalog.dumps(stored))
    wake()
    return {}


def get_bucket_lifecycle_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    if not bucket.lifecycle:
        raise errors.not_configured("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist",
                                    bucket.name)
    return {"Rules": rules.to_shape(bucket.lifecycle)}


def delete_bucket_lifecycle(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    catalog.configure(ctx.store, params["Bucket"], lifecycle=None)
    return {}


# -- the controller ------------------------------------------------------------------------


@dataclass
class Tally:
    expired: int = 0
    noncurrent: int = 0
    markers: int = 0
    aborted: int = 0


@helper
def wake() -> None:
    """Run the controller soon (a configuration changed)."""
    with _lock:
        event, loop = _wake.get("event"), _wake.get("loop")
    if event is not None and loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(event.set)


@helper
async def controller(gateway: Any) -> None:
    event = asyncio.Event()
    with _lock:
        _wake.update(event=event, loop=asyncio.get_running_loop())
    while True:
        try:
            await asyncio.wait_for(event.wait(), timeout=INTERVAL)
        except asyncio.TimeoutError:
            pass
        event.clear()
        try:
            tally = await gateway.run_blocking(sweep, gateway.store, gateway.config)
            if any(vars(tally).values()):
                log.info("lifecycle: %s", tally)
        except Exception:  # a database hiccup must not end the loop
            log.exception("lifecycle pass failed; retrying at the next one")


@helper
def sweep(store: Any, config: Any, now: dt.datetime | None = None) -> Tally:
    """One pass over every bucket with lifecycle rules."""
    now = now or dt.datetime.now(dt.timezone.utc)
    tally = Tally()
    with store.read() as conn:
        names = list(conn.execute(sa.select(buckets.c.name).where(buckets.c.lifecycle.is_not(None))).scalars())
    for name in names:
        with store.read() as conn:
            bucket = catalog.get_bucket(conn, name)
        if bucket is None:
            continue
        for rule in rules.enabled(bucket):
            _expire_current(store, config, bucket, rule, now, tally)
            _expire_noncurrent(store, config, bucket, rule, now, tally)
            _expire_markers(store, config, bucket, rule, tally)
            _abort_uploads(store, config, bucket, rule, now, tally)
    return tally


def _versions(store: Any, bucket: Bucket, rule: dict[str, Any], *conditions: Any):  # noqa: ANN202
    """The rule's rows (key order, newest first within a key), a batch per read, until past its prefix."""
    prefix = rules.prefix_of(rule)
    after = None
    while True:
        q = sa.select(objects).where(objects.c.bucket == bucket.name, objects.c.key >= prefix.encode(), *conditions)
        if after is not None:
            key, row_id = after
            q = q.where(sa.or_(objects.c.key > key, sa.and_(objects.c.key == key, objects.c.id < row_id)))
        with store.read() as conn:
            rows = conn.execute(q.order_by(objects.c.key, objects.c.id.desc()).limit(BATCH)).all()
        for raw in rows:
            row = Version.from_row(raw)
            if not row.key.startswith(prefix):
                return
            yield row
        if len(rows) < BATCH:
            return
        after = (rows[-1].key, rows[-1].id)


def _remove(store: Any, config: Any, bucket_name: str, row: Version, *, as_current: bool) -> bool:
    """Expire one row if it is still what we looked at; True when something was removed."""
    with store.write() as conn:
        bucket = catalog.get_bucket(conn, bucket_name)
        if bucket is None:
            return False
        current = conn.execute(sa.select(objects.c.id, objects.c.is_latest).where(objects.c.id == row.id)).first()
        if current is None or (as_current and not current.is_latest):
            return False
        if as_current:
            _, freed = delete_key(conn, bucket, row.key, None, bucket.account_id)
        else:
            freed = catalog.remove_version(conn, row)
    for_config(config).free(freed)
    return True


def _expire_current(store, config, bucket: Bucket, rule, now, tally: Tally) -> None:  # noqa: ANN001
    if not (rule.get("Expiration") or {}).get("Days") and not (rule.get("Expiration") or {}).get("Date"):
        return
    for row in _versions(store, bucket, rule, objects.c.is_latest.is_(True), objects.c.delete_marker.is_(False)):
        when = rules.current_expiry(rule, row)
        if when is not None and when <= now and _remove(store, config, bucket.name, row, as_current=True):
            tally.expired += 1


def _expire_noncurrent(store, config, bucket: Bucket, rule, now, tally: Tally) -> None:  # noqa: ANN001
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    if not noncurrent.get("NoncurrentDays"):
        return
    keep = noncurrent.get("NewerNoncurrentVersions") or 0
    key, newer, seen = None, None, 0
    for row in _versions(store, bucket, rule):
        if row.key != key:
            key, newer, seen = row.key, row, 0
            continue  # the newest version of a key is current
        since = catalog.to_datetime(newer.modified)
        newer = row
        seen += 1
        if seen <= keep or not rules.applies(rule, row.key, row.size, row.tags):
            continue
        when = rules.noncurrent_expiry(rule, since)
        if when is not None and when <= now and _remove(store, config, bucket.name, row, as_current=False):
            tally.noncurrent += 1


def _expire_markers(store, config, bucket: Bucket, rule, tally: Tally) -> None:  # noqa: ANN001
    if not (rule.get("Expiration") or {}).get("ExpiredObjectDeleteMarker"):
        return
    for row in _versions(store, bucket, rule, objects.c.is_latest.is_(True), objects.c.delete_marker.is_(True)):
        with store.read() as conn:
            others = conn.execute(sa.select(sa.func.count()).select_from(objects).where(
                objects.c.bucket == bucket.name, objects.c.key == row.key.encode())).scalar_one()
        if others == 1 and _remove(store, config, bucket.name, row, as_current=False):
            tally.markers += 1


def _abort_uploads(store, config, bucket: Bucket, rule, now, tally: Tally) -> None:  # noqa: ANN001
    if not (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"):
        return
    prefix = rules.prefix_of(rule)
    with store.read() as conn:
        rows = conn.execute(sa.select(uploads_table).where(uploads_table.c.bucket == bucket.name)).all()
    for raw in rows:
        upload = uploads.Upload.from_row(raw)
        when = rules.abort_expiry(rule, catalog.to_datetime(upload.initiated))
        if not upload.key.startswith(prefix) or when is None or when > now:
            continue
        with store.write() as conn:
            if uploads.find_row(conn, upload.upload_id) is None:
                continue
            freed = uploads.abort(conn, upload.upload_id)
        for_config(config).free(freed)
        tally.aborted += 1
