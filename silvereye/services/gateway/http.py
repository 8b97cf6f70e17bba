"""Plain HTTP request and response values, independent of the ASGI server.

Parsers, signers and handlers see these, never ASGI scopes, so they can be
tested with values built by hand (or by botocore's serializer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Iterable, Iterator, Union
from urllib.parse import parse_qsl, unquote


class Headers:
    """Case-insensitive, order-preserving, multi-valued HTTP headers."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] | None = None):
        if items is None:
            self._items: list[tuple[str, str]] = []
        elif isinstance(items, dict):
            self._items = [(k, v) for k, v in items.items()]
        else:
            self._items = [(k, v) for k, v in items]

    def get(self, name: str, default: str | None = None) -> str | None:
        n = name.lower()
        for k, v in self._items:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self._items if k.lower() == n]

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def keys(self) -> list[str]:
        return [k for k, _ in self._items]

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self._items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        n = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != n]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class BodyStream:
    """The request body as it arrives: an async iterator of byte chunks.

    Handlers that store large payloads (S3 PutObject, UploadPart) read it
    chunk by chunk so a body is never held whole in memory.
    """

    def __init__(self, chunks: AsyncIterator[bytes]):
        self._chunks = chunks
        self.consumed = False
        self.complete = False  # set by the server once the last byte has arrived

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.consumed = True
        return self._chunks

    async def read(self, limit: int | None = None) -> bytes:
        """Read everything (at most ``limit`` bytes; ValueError beyond it)."""
        buf = bytearray()
        async for chunk in self:
            buf += chunk
            if limit is not None and len(buf) > limit:
                raise ValueError("body too large")
        return bytes(buf)


@dataclass
class HttpRequest:
    method: str
    raw_path: str  # as sent, still percent-encoded (SigV4 signs this form)
    query_string: str = ""  # as sent, without the '?'
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""  # the whole body once read; b"" while only `stream` is set
    stream: BodyStream | None = None
    client_ip: str = ""
    scheme: str = "http"

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        return unquote(self.raw_path)

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    def query_get(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.query:
            if k == name:
                return v
        return default

    @property
    def host(self) -> str:
        return self.headers.get("host", "") or ""

    @property
    def content_type(self) -> str:
        return (self.headers.get("content-type", "") or "").split(";", 1)[0].strip().lower()


@dataclass
class FileBody:
    """A response body served from a file (S3 GET): sent in chunks, never read whole.

    ``fd``: a descriptor the handler already opened (the gateway closes it
    once the response is sent), so the bytes stay readable even if the file
    is unlinked in the meantime (S3 frees an overwritten object's blob).
    A response body may also be a list of FileBody, sent one after another
    (an object stored as several extents).
    """

    path: str
    offset: int = 0
    length: int = -1  # -1: to the end of the file
    fd: int | None = None


ResponseBody = Union[bytes, FileBody, list[FileBody], AsyncIterator[bytes]]


@dataclass
class HttpResponse:
    status: int = 200
    headers: Headers = field(default_factory=Headers)
    body: ResponseBody = b""
