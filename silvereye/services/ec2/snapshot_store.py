"""Snapshots' bytes in the system bucket: taking, copying, restoring and removing them in the background.

Like Walrus held EBS snapshots for Eucalyptus, every snapshot is an object of
the cloud's own S3 bucket (:data:`~.models.snapshots.BUCKET`). Taking one
freezes the volume crash-consistently (:meth:`Snapshots.create`), and the
resulting file is renamed into S3's blob store rather than copied again
(``put_file(move=True, integrity="crc32c")``: a hardware CRC32C, some
thirty times faster than the MD5 an ordinary PUT computes, which halved a
1 GiB snapshot's time). Progress goes to the record as it is made: the
disk copy is the first 90%, storing the rest. A copy is the same bytes
under a new key; a restore feeds the object to ``qemu-img convert``
straight from S3's open file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2.models import snapshots as records
from silvereye.services.ec2.models import tags
from silvereye.services.ec2.models.common import now, utc
from silvereye.services.ec2.runtime import Ec2Runtime
from silvereye.services.s3 import internal

log = logging.getLogger("silvereye.ec2")

COPY_SHARE = 90  # percent of a snapshot's progress that is the disk copy
PROGRESS_SECONDS = 0.5
STALE = dt.timedelta(minutes=2)  # a pending snapshot no job holds for this long was orphaned by a crash


def _progress(rt: Ec2Runtime, snapshot_id: str, share: int = COPY_SHARE):  # noqa: ANN202
    """A progress callback that writes the record at most every PROGRESS_SECONDS (each write is a
    commit, and the copy waits for it)."""
    last = [-1, 0.0]

    def report(fraction: float) -> None:
        percent = int(fraction * share)
        moment = time.monotonic()
        if percent != last[0] and (moment - last[1] >= PROGRESS_SECONDS or fraction >= 1.0):
            last[0], last[1] = percent, moment
            with rt.store.write() as conn:
                records.update(conn, snapshot_id, progress=percent)

    return report


def _finish(rt: Ec2Runtime, snapshot_id: str, size: int) -> None:
    """Complete the record, unless it was deleted meanwhile: then the object goes too."""
    with rt.store.write() as conn:
        row = records.get(conn, snapshot_id)
        if row is not None and row.state == "pending":
            records.update(conn, snapshot_id, state="completed", progress=100, completed=now(), size=size)
            return
    internal.delete_object(rt.store, rt.cfg, records.BUCKET, records.object_key(snapshot_id))


def _fail(rt: Ec2Runtime, snapshot_id: str, error: Exception) -> None:
    log.warning("snapshot %s failed: %s", snapshot_id, error)
    with rt.store.write() as conn:
        records.update(conn, snapshot_id, state="error", error_message=str(error)[:500])


def _flush_behind(path: Path) -> threading.Thread:
    """Start writing a fresh image to disk in the background: S3 makes the object durable (fsync)
    after reading it for its checksum, and that fsync then has little left to wait for."""
    fd = os.open(path, os.O_RDONLY)

    def flush() -> None:
        try:
            os.fdatasync(fd)
        except OSError:
            pass  # S3's own fsync still makes it durable
        finally:
            os.close(fd)

    thread = threading.Thread(target=flush, name="snapshot-flush", daemon=True)
    thread.start()
    return thread


def take(rt: Ec2Runtime, snapshot_id: str) -> None:
    """Snapshot a volume (crash-consistent even while a guest writes to it) into the system bucket."""
    from silvereye.services.ec2 import ebs

    with rt.store.read() as conn:
        row = records.get(conn, snapshot_id)
    if row is None or row.state != "pending":
        return
    image = None
    try:
        image = ebs.storage(rt).snapshots.create(row.volume_id, snapshot_id, progress=_progress(rt, snapshot_id))
        started = time.monotonic()
        internal.ensure_system_bucket(rt.store, rt.cfg, records.BUCKET)
        flushing = _flush_behind(image.path)  # the disk writes while S3 reads the image for its ETag
        try:
            stored = internal.put_file(rt.store, rt.cfg, records.BUCKET, records.object_key(snapshot_id), image.path,
                                       content_type="application/x-qcow2", move=True, integrity="crc32c",
                                       metadata={"volume-id": row.volume_id, "volume-size": str(image.volume_size)})
        finally:
            flushing.join()
    except Exception as e:  # noqa: BLE001 - the record says what went wrong
        _fail(rt, snapshot_id, e)
        return
    finally:
        if image is not None:
            image.discard()
    _finish(rt, snapshot_id, stored.size)
    log.info("snapshot %s of %s: %d MiB taken in %.2f s, stored in %.2f s", snapshot_id, row.volume_id,
             image.size >> 20, image.seconds, time.monotonic() - started)


def _counted(chunks: Iterator[bytes], total: int, report: Any) -> Iterator[bytes]:
    done = 0
    for chunk in chunks:
        done += len(chunk)
        report(done / total if total else 1.0)
        yield chunk


def copy(rt: Ec2Runtime, snapshot_id: str, source_id: str) -> None:
    """CopySnapshot's work: the source's object, byte for byte, under the new snapshot's key."""
    with rt.store.read() as conn:
        row = records.get(conn, snapshot_id)
    if row is None or row.state != "pending":
        return
    try:
        with internal.open_object(rt.store, rt.cfg, records.BUCKET, records.object_key(source_id)) as reader:
            chunks = _counted(reader.iter_chunks(8 << 20), reader.size, _progress(rt, snapshot_id, 99))
            stored = internal.put_chunks(rt.store, rt.cfg, records.BUCKET, records.object_key(snapshot_id), chunks,
                                         content_type="application/x-qcow2", metadata=dict(reader.info.metadata))
    except Exception as e:  # noqa: BLE001
        _fail(rt, snapshot_id, e)
        return
    _finish(rt, snapshot_id, stored.size)


def restore(rt: Ec2Runtime, snapshot_id: str, volume_id: str, size: int) -> None:
    """Make volume ``volume_id`` (``size`` bytes) from a stored snapshot, byte for byte."""
    from silvereye.services.ec2 import ebs

    snaps = ebs.storage(rt).snapshots
    with internal.open_object(rt.store, rt.cfg, records.BUCKET, records.object_key(snapshot_id)) as reader:
        try:
            source: Any = Path(reader.path)  # one blob: qemu-img reads S3's open file directly
        except ValueError:
            source = reader.iter_chunks(8 << 20)
        snaps.restore(volume_id, source, size)


def remove(rt: Ec2Runtime, snapshot_id: str) -> None:
    """Delete a ``deleting`` snapshot's object, then its record, grants and tags."""
    internal.delete_object(rt.store, rt.cfg, records.BUCKET, records.object_key(snapshot_id))
    with rt.store.write() as conn:
        conn.execute(sa.delete(records.s).where(records.s.c.id == snapshot_id, records.s.c.state == "deleting"))
        records.revoke(conn, snapshot_id)
        tags.remove_all(conn, [snapshot_id])


def _stored(rt: Ec2Runtime, snapshot_id: str) -> Any:
    try:
        return internal.head(rt.store, records.BUCKET, records.object_key(snapshot_id))
    except Exception:  # noqa: BLE001 - no bucket yet: no object
        return None


def housekeep(rt: Ec2Runtime, stale: dt.timedelta | None = STALE) -> None:
    """Remove deleted snapshots' objects; settle snapshots a crash left pending (no job holds them,
    and they are older than ``stale``; None: any age, at start-up)."""
    with rt.store.read() as conn:
        rows = list(conn.execute(sa.select(records.s).where(records.s.c.state.in_(("deleting", "pending")))))
    for row in rows:
        if row.state == "deleting":
            if not rt.busy(row.id):
                rt.submit(row.id, remove, rt, row.id)
        elif not rt.busy(row.volume_id) and not rt.busy(row.id) and (stale is None or now() - utc(row.created) > stale):
            with rt.store.write() as conn:
                stored = _stored(rt, row.id)
                if stored is not None:  # stored, but the server stopped before it said so
                    records.update(conn, row.id, state="completed", progress=100, completed=now(), size=stored.size)
                else:
                    records.update(conn, row.id, state="error", error_message="the server stopped while it was taken")
