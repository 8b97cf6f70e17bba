"""The flexible checksums S3 clients send (x-amz-checksum-*): CRC32, CRC32C, SHA1, SHA256.

Values travel base64-encoded (big-endian for the CRCs), as S3 returns them.
CRC32 comes from zlib, CRC32C from google-crc32c (hardware accelerated);
both are C loops over whole buffers, never Python per byte.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

import google_crc32c

# Header name -> the name S3 uses in its BadDigest message.
ALGORITHMS = {
    "x-amz-checksum-crc32": "CRC32",
    "x-amz-checksum-crc32c": "CRC32C",
    "x-amz-checksum-sha1": "SHA1",
    "x-amz-checksum-sha256": "SHA256",
}


class Checksum(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...

    def b64digest(self) -> str: ...


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | memoryview) -> None:
        self._value = zlib.crc32(data, self._value)

    def b64digest(self) -> str:
        return base64.b64encode(self._value.to_bytes(4, "big")).decode()


class _Crc32c:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        # google_crc32c takes read-only buffers only
        self._value = google_crc32c.extend(self._value, data if isinstance(data, bytes) else bytes(data))

    def b64digest(self) -> str:
        return base64.b64encode(self._value.to_bytes(4, "big")).decode()


class _Hash:
    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def b64digest(self) -> str:
        return base64.b64encode(self._hash.digest()).decode()


def new_checksum(header: str) -> Checksum:
    """A running checksum for an x-amz-checksum-* header name (lowercase)."""
    if header == "x-amz-checksum-crc32":
        return _Crc32()
    if header == "x-amz-checksum-crc32c":
        return _Crc32c()
    if header == "x-amz-checksum-sha1":
        return _Hash("sha1")
    if header == "x-amz-checksum-sha256":
        return _Hash("sha256")
    raise KeyError(header)
