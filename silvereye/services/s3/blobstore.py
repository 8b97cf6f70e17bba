"""Object bytes on disk: immutable blob files named by random ids, never by keys.

Layout under ``cfg.objects_path``::

    tmp/<random>            bytes being received (O_EXCL, 0600)
    blobs/<2 hex>/<32 hex>  finished blobs, never modified once named

A blob is born in ``tmp/``, written, fsynced, renamed into ``blobs/`` and the
directory fsynced; only then does the caller record it in the store, in the
same transaction that makes the object visible. So after a crash at any
point an upload is either committed whole or invisible, and what it leaves
behind -- a temporary file, or a named blob no row refers to -- is removed by
:meth:`BlobStore.sweep` at the next start. Deleting or overwriting an object
frees its blobs only after the transaction that dropped the last reference
has committed (:meth:`BlobStore.free`); a crash in between leaves an
unreferenced blob for the same sweep.

No part of a path ever comes from a request: blob ids are checked against
``[0-9a-f]{32}`` before they are joined to the root, so a key (``../``,
absolute paths, NUL, 1024 bytes of anything) cannot reach outside it.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable

log = logging.getLogger("silvereye.s3")

_BLOB_ID = re.compile(r"[0-9a-f]{32}")
_FANOUT = [f"{i:02x}" for i in range(256)]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(blob_id: str) -> str:
    if not _BLOB_ID.fullmatch(blob_id):
        raise ValueError(f"not a blob id: {blob_id!r}")
    return blob_id


class TempBlob:
    """A blob being written: bytes go to ``tmp/`` until :meth:`commit` names it."""

    def __init__(self, store: "BlobStore"):
        self._store = store
        self.path = os.path.join(store.tmp, secrets.token_hex(16))
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def commit(self) -> str:
        """fsync, rename into ``blobs/``, fsync the directory; returns the blob id."""
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        blob_id = secrets.token_hex(16)
        final = self._store.path(blob_id)
        os.rename(self.path, final)
        _fsync_dir(os.path.dirname(final))
        return blob_id

    def abort(self) -> None:
        """Drop what was written (an upload that failed or was refused)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class SweepReport:
    temporary: int
    unreferenced: int


class BlobStore:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = str(root)
        self.tmp = os.path.join(self.root, "tmp")
        self.blobs = os.path.join(self.root, "blobs")

    def ensure(self) -> None:
        """Create the directories (once), so that renames never need a new directory."""
        os.makedirs(self.tmp, mode=0o700, exist_ok=True)
        os.makedirs(self.blobs, mode=0o700, exist_ok=True)
        created = False
        for name in _FANOUT:
            sub = os.path.join(self.blobs, name)
            if not os.path.isdir(sub):
                os.mkdir(sub, 0o700)
                created = True
        if created:
            _fsync_dir(self.blobs)
            _fsync_dir(self.root)

    def temp(self) -> TempBlob:
        return TempBlob(self)

    def adopt(self, path: str) -> str:
        """Rename an existing (fsynced) file on the same filesystem into a blob; returns its id."""
        blob_id = secrets.token_hex(16)
        final = self.path(blob_id)
        os.rename(path, final)
        os.chmod(final, 0o600)
        _fsync_dir(os.path.dirname(final))
        return blob_id

    def path(self, blob_id: str) -> str:
        _check(blob_id)
        return os.path.join(self.blobs, blob_id[:2], blob_id)

    def open(self, blob_id: str) -> int:
        """A read-only descriptor (FileNotFoundError once the blob has been freed)."""
        return os.open(self.path(blob_id), os.O_RDONLY | os.O_CLOEXEC)

    def free(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs no committed row refers to any more."""
        for blob_id in blob_ids:
            try:
                os.unlink(self.path(blob_id))
            except FileNotFoundError:
                pass
            except OSError as e:  # the sweep at the next start will try again
                log.warning("could not free blob %s: %s", blob_id, e.strerror)

    def sweep(self, referenced: Callable[[list[str]], set[str]], batch: int = 500) -> SweepReport:
        """At start-up: remove every temporary file and every blob that ``referenced`` does not claim.

        ``referenced(ids)`` answers which of ``ids`` some committed row refers to.
        Run it before the server takes requests: a blob renamed a moment ago
        by a request in flight would look unreferenced.
        """
        self.ensure()
        temporary = 0
        for entry in os.scandir(self.tmp):
            try:
                os.unlink(entry.path)
                temporary += 1
            except OSError as e:
                if e.errno != errno.ENOENT:
                    log.warning("could not remove %s: %s", entry.path, e.strerror)
        unreferenced = 0
        for name in _FANOUT:
            sub = os.path.join(self.blobs, name)
            found: list[str] = []
            for entry in os.scandir(sub):
                if _BLOB_ID.fullmatch(entry.name):
                    found.append(entry.name)
                else:  # nothing else belongs here: not ours to keep
                    os.unlink(entry.path)
                    unreferenced += 1
            for i in range(0, len(found), batch):
                chunk = found[i : i + batch]
                keep = referenced(chunk)
                orphans = [b for b in chunk if b not in keep]
                self.free(orphans)
                unreferenced += len(orphans)
        return SweepReport(temporary, unreferenced)

    def usage(self) -> int:
        """Bytes held in named blobs (for tests and diagnostics)."""
        return sum(e.stat().st_size for name in _FANOUT for e in os.scandir(os.path.join(self.blobs, name)))


@functools.lru_cache(maxsize=16)
def blobstore_at(root: str) -> BlobStore:
    """One BlobStore per objects directory, directories created on first use."""
    store = BlobStore(root)
    store.ensure()
    return store


def for_config(cfg) -> BlobStore:  # noqa: ANN001 - silvereye.config.Config
    """The blob store under the configuration's objects directory."""
    return blobstore_at(str(cfg.objects_path))
