"""Paging through sorted keys with S3's prefix, delimiter and max-keys rules (every List* operation).

Keys are UTF-8 bytes sorted byte-wise. With a delimiter, every key whose
remainder after the prefix contains it is rolled up into one common prefix
(``photos/2024/``), which counts against max-keys like a key; the walk then
jumps past the whole prefix by asking for keys after ``prefix + b"\\xff"`` --
a byte that never occurs in UTF-8, so no key under the prefix is skipped
and none is read twice. Fetching is left to the caller (one SQL query per
batch), so the same walk serves objects, versions and multipart uploads.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar
from urllib.parse import quote

from silvereye.services.s3 import errors

T = TypeVar("T")
DEFAULT_MAX_KEYS = 1000
BATCH = 1000
PAST = b"\xff"  # after every key under a prefix


@dataclass
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    prefixes: list[bytes] = field(default_factory=list)
    truncated: bool = False
    last_item: T | None = None  # the last thing returned, when it was an item
    last_prefix: bytes | None = None  # ... or when it was a common prefix

    @property
    def last_key(self) -> bytes:
        """Where the next page starts after: the last common prefix or key returned."""
        return self.last_prefix if self.last_prefix is not None else self.last_item.key  # type: ignore[union-attr]

    def next_markers(self, encode: "Encoder", second: str, attribute: str) -> dict[str, str]:
        """NextKeyMarker and, when the page ended on an item, its second marker (version or upload id)."""
        if not self.truncated:
            return {}
        out = {"NextKeyMarker": encode(self.last_key)}
        if self.last_prefix is None:
            out[second] = getattr(self.last_item, attribute)
        return out


Fetch = Callable[[Any, int], list[T]]


def walk(fetch: Fetch, key_of: Callable[[T], bytes], cursor_of: Callable[[T], Any], skip: Callable[[bytes], Any], *,
         start: Any, prefix: bytes, delimiter: bytes | None, limit: int) -> Page[T]:
    """Walk from ``start`` (a cursor the fetcher understands); ``skip(b)`` is the cursor just after key ``b``."""
    page: Page[T] = Page()
    if limit == 0:
        return page  # max-keys=0: an empty, untruncated page
    count = 0
    cursor = start
    while True:
        rows = fetch(cursor, BATCH)
        if not rows:
            return page
        jumped = False
        for row in rows:
            key = key_of(row)
            if not key.startswith(prefix):
                return page  # sorted and started at the prefix: nothing further matches
            if count == limit:
                page.truncated = True
                return page
            count += 1
            if delimiter:
                at = key.find(delimiter, len(prefix))
                if at >= 0:
                    common = key[: at + len(delimiter)]
                    page.prefixes.append(common)
                    page.last_item, page.last_prefix = None, common
                    cursor = skip(common + PAST)
                    jumped = True
                    break
            page.items.append(row)
            page.last_item, page.last_prefix = row, None
            cursor = cursor_of(row)
        if not jumped and len(rows) < BATCH:
            return page


def max_keys(params: dict[str, Any], member: str = "MaxKeys") -> int:
    value = params.get(member)
    if value is None:
        return DEFAULT_MAX_KEYS
    if value < 0:
        raise errors.invalid_argument(f"Argument {member.lower()} must be an integer between 0 and 2147483647",
                                      member.lower(), value)
    return min(value, DEFAULT_MAX_KEYS)


def start_after_marker(marker: bytes | None, prefix: bytes, delimiter: bytes | None) -> bytes | None:
    """Where to continue after a marker; a marker that is a common prefix skips everything under it."""
    if marker is None:
        return None
    if delimiter and marker.startswith(prefix) and marker.endswith(delimiter) and \
            marker.find(delimiter, len(prefix)) == len(marker) - len(delimiter):
        return marker + PAST
    return marker


def encode_token(key: bytes) -> str:
    return base64.urlsafe_b64encode(b"k" + key).decode()


def decode_token(token: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(b"k"):
        raise errors.invalid_argument("The continuation token provided is incorrect", "continuation-token", token)
    return raw[1:]


class Encoder:
    """encoding-type=url: keys and prefixes in a listing are URL-encoded (botocore decodes them)."""

    def __init__(self, params: dict[str, Any]):
        kind = params.get("EncodingType")
        if kind not in (None, "url"):
            raise errors.invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", kind)
        self.url = kind == "url"
        self.type = kind

    def __call__(self, value: str | bytes | None) -> str | None:
        if value is None:
            return None
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        return quote(text, safe="/") if self.url else text
