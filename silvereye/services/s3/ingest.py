"""Receiving an object's bytes: stream to a temporary blob, hashing as it goes, never whole in memory.

The event loop gathers the verified payload (:meth:`PayloadVerifier.iter_decoded`)
into batches of :data:`BATCH` bytes and hands each to a worker thread that
writes it and updates the MD5 (the ETag) and the requested checksum;
hashlib and zlib release the GIL on buffers this size, so hashing runs
beside the event loop. One batch is in the thread while the next fills, so
an upload holds at most about two batches in memory.

On any failure -- a bad signature in a chunk, a client that disconnects, a
body shorter than its Content-Length, a full disk -- the temporary file is
removed and nothing was ever visible. Success returns the named (fsynced)
blob; the caller records it in the store or frees it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import hashlib
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterable

from silvereye.services.s3 import checksums, errors
from silvereye.services.s3.blobstore import BlobStore, TempBlob

BATCH = 1024 * 1024
MAX_OBJECT = 5 * 1024**3  # a single PUT or one part: 5 GiB

_io = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-io")


def io_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads S3 does blocking file and store work on for its streaming handlers."""
    return _io


async def blocking(fn, *args):  # noqa: ANN001, ANN201
    return await asyncio.get_running_loop().run_in_executor(_io, fn, *args)


@dataclass
class Received:
    blob: str | None  # None: the body was empty
    size: int
    md5: str  # hex
    checksum: str | None = None  # base64, of the requested algorithm (when one was computed here)
    extra: dict[str, str] = field(default_factory=dict)


class _Digests:
    def __init__(self, algorithm: str | None):
        self.md5 = hashlib.md5()
        self.sum = checksums.new(algorithm) if algorithm else None

    def absorb(self, tmp: TempBlob, data: bytearray | bytes) -> None:
        self.md5.update(data)
        if self.sum is not None:
            self.sum.update(data)
        tmp.write(data)


def _map_os_error(e: OSError) -> Exception:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return errors.out_of_space()
    return e


def _abort_after(tmp: TempBlob, pending: concurrent.futures.Future | None) -> None:
    if pending is not None:
        concurrent.futures.wait([pending])
    tmp.abort()


async def receive(chunks: AsyncIterator[bytes], blobs: BlobStore, *, algorithm: str | None = None,
                  limit: int = MAX_OBJECT) -> Received:
    """Store what ``chunks`` yields as a new blob; ``algorithm``: a checksum to compute beside the MD5."""
    loop = asyncio.get_running_loop()
    tmp = blobs.temp()
    digests = _Digests(algorithm)
    pending: concurrent.futures.Future | None = None
    size = 0
    batch = bytearray()
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise errors.entity_too_large(size, limit)
            batch += chunk
            if len(batch) >= BATCH:
                if pending is not None:
                    await asyncio.wrap_future(pending)
                pending = _io.submit(digests.absorb, tmp, batch)
                batch = bytearray()
        if pending is not None:
            await asyncio.wrap_future(pending)
        pending = None
        if batch:
            await loop.run_in_executor(_io, digests.absorb, tmp, batch)
        blob = await loop.run_in_executor(_io, tmp.commit) if size else None
        if blob is None:
            await loop.run_in_executor(_io, tmp.abort)
    except OSError as e:
        _io.submit(_abort_after, tmp, pending)
        raise _map_os_error(e) from None
    except BaseException:
        # A thread may still be writing: it drops the file once that write is done.
        _io.submit(_abort_after, tmp, pending)
        raise
    return Received(blob, size, digests.md5.hexdigest(), digests.sum.b64digest() if digests.sum else None)


def receive_sync(chunks: Iterable[bytes], blobs: BlobStore, *, algorithm: str | None = None,
                 limit: int | None = None) -> Received:
    """The same from a plain iterator (the internal API, from a worker thread)."""
    tmp = blobs.temp()
    digests = _Digests(algorithm)
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise errors.entity_too_large(size, limit)
            digests.absorb(tmp, chunk)
        blob = tmp.commit() if size else None
        if blob is None:
            tmp.abort()
    except OSError as e:
        tmp.abort()
        raise _map_os_error(e) from None
    except BaseException:
        tmp.abort()
        raise
    return Received(blob, size, digests.md5.hexdigest(), digests.sum.b64digest() if digests.sum else None)
