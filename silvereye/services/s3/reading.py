"""Reading objects: conditional requests, byte ranges, and opening the extents to send.

Conditions follow RFC 9110 as S3 applies them (S3 API reference, GetObject):
If-Match / If-Unmodified-Since fail with 412; If-None-Match /
If-Modified-Since answer 304; when If-Match holds, If-Unmodified-Since is not
consulted, and when If-None-Match fails, If-Modified-Since is not. Dates
compare at the one-second resolution of HTTP dates.

Extents are opened while their rows are known to be current; a blob freed
between reading the rows and opening it (a concurrent overwrite) shows up as
FileNotFoundError, and the caller reads the rows again. Open descriptors go
to the gateway in :class:`FileBody` values, which keep the bytes readable
until the response is sent even if the blob is freed meanwhile.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import re
from typing import Any

from silvereye.services.gateway.http import FileBody
from silvereye.services.s3 import errors
from silvereye.services.s3.blobstore import BlobStore
from silvereye.services.s3.catalog import Extent, Version

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def http_date(when: dt.datetime) -> str:
    return email.utils.format_datetime(when.replace(microsecond=0), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    for item in header.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        if item == "*" or item.strip('"') == etag:
            return True
    return False


def _seconds(obj: Version) -> dt.datetime:
    return obj.last_modified.replace(microsecond=0)


def check_conditions(obj: Version, params: dict[str, Any], *, copy_source: bool = False) -> None:
    """Raise PreconditionFailed or NotModified when the request's conditions say so.

    ``copy_source``: the x-amz-copy-source-if-* headers of a copy, which fail with 412 only.
    """
    prefix = "CopySource" if copy_source else ""
    wire = "x-amz-copy-source-" if copy_source else ""
    if_match, if_none_match = params.get(prefix + "IfMatch"), params.get(prefix + "IfNoneMatch")
    modified_since, unmodified_since = params.get(prefix + "IfModifiedSince"), params.get(prefix + "IfUnmodifiedSince")
    modified = _seconds(obj)
    if if_match is not None:
        if not _etag_matches(if_match, obj.etag):
            raise errors.precondition_failed(wire + "If-Match")
    elif unmodified_since is not None and modified > unmodified_since:
        raise errors.precondition_failed(wire + "If-Unmodified-Since")
    if if_none_match is not None:
        if _etag_matches(if_none_match, obj.etag):
            raise errors.precondition_failed(wire + "If-None-Match") if copy_source else errors.not_modified()
    elif modified_since is not None and modified <= modified_since <= dt.datetime.now(dt.timezone.utc):
        raise errors.precondition_failed(wire + "If-Modified-Since") if copy_source else errors.not_modified()


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single 'bytes=' range; None for no range (or one S3 ignores); 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # not a range S3 understands (several ranges, other units): the whole object
    first_text, last_text = m.groups()
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise errors.invalid_range(header, size)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # syntactically invalid: ignored (RFC 9110 14.1.1)
    if first >= size:
        raise errors.invalid_range(header, size)
    return first, min(last, size - 1)


def part_range(obj: Version, number: int) -> tuple[int, int]:
    """The bytes of part ``number`` of a multipart object (the whole object is its part 1 otherwise)."""
    sizes = obj.parts or [obj.size]
    if not 1 <= number <= len(sizes):
        raise errors.s3("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                        PartNumberRequested=str(number), ActualPartCount=str(len(sizes)))
    start = sum(sizes[: number - 1])
    return start, start + sizes[number - 1] - 1


def slices(items: list[Extent], first: int, last: int) -> list[tuple[Extent, int, int]]:
    """(extent, offset within its blob, length) covering bytes first..last of the object."""
    out = []
    position = 0
    for extent in items:
        end = position + extent.length  # exclusive
        if end > first and position <= last:
            lo = max(first, position)
            hi = min(last + 1, end)
            out.append((extent, extent.start + (lo - position), hi - lo))
        position = end
        if position > last:
            break
    return out


def open_bodies(blobs: BlobStore, items: list[Extent], first: int, last: int) -> list[FileBody]:
    """Open descriptors for bytes first..last; FileNotFoundError if a blob was freed (read the rows again)."""
    bodies: list[FileBody] = []
    try:
        for extent, offset, length in slices(items, first, last):
            fd = blobs.open(extent.blob)
            bodies.append(FileBody(blobs.path(extent.blob), offset, length, fd=fd))
    except BaseException:
        for body in bodies:
            os.close(body.fd)
        raise
    return bodies


def read_bodies(bodies: list[FileBody], chunk: int = 1024 * 1024):  # noqa: ANN201 - Iterator[bytes]
    """The bytes of opened bodies, in chunks."""
    for body in bodies:
        offset, remaining = body.offset, body.length
        while remaining > 0:
            data = os.pread(body.fd, min(chunk, remaining), offset)
            if not data:
                raise OSError(f"blob {body.path} is shorter than its extent")
            offset += len(data)
            remaining -= len(data)
            yield data


def iter_bytes(blobs: BlobStore, items: list[Extent], first: int, last: int, chunk: int = 1024 * 1024):
    """The bytes first..last, read in chunks (server-side copies and the internal API).

    Every blob is opened before the first byte is yielded, so a blob freed
    while the reader works through the others is still read whole.
    """
    bodies = open_bodies(blobs, items, first, last)
    try:
        yield from read_bodies(bodies, chunk)
    finally:
        for body in bodies:
            os.close(body.fd)
