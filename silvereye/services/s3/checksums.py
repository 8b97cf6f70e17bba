"""S3's flexible checksums: which one a request asks for, and how multipart objects combine them.

A request names its algorithm by sending a value (``x-amz-checksum-crc32``
...), by announcing a trailer (``x-amz-trailer``, checked by the payload
decoder), or by ``x-amz-sdk-checksum-algorithm`` alone (we compute it).
silvereye computes CRC32, CRC32C, SHA1 and SHA256; the others the model
knows (CRC64NVME, SHA512, MD5, XXHASH*) are refused with NotImplemented
rather than stored unchecked.

A multipart object's checksum is either COMPOSITE -- the checksum of the
parts' binary checksums, suffixed ``-N`` -- or, for the CRCs when the client
asks for FULL_OBJECT, the CRC of the whole object, combined from the parts'
CRCs and lengths without reading the data again (zlib's crc32_combine,
written out for any reflected 32-bit polynomial).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from silvereye.services.gateway.auth.checksums import new_checksum
from silvereye.services.s3 import errors

SUPPORTED = ("CRC32", "CRC32C", "SHA1", "SHA256")
ALL = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128")
_POLY = {"CRC32": 0xEDB88320, "CRC32C": 0x82F63B78}  # reflected


def header(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm.lower()}"


def member(algorithm: str) -> str:
    return f"Checksum{algorithm}"


def new(algorithm: str):  # noqa: ANN201 - a running checksum (update/b64digest)
    return new_checksum(header(algorithm))


@dataclass(frozen=True)
class Request:
    """What a write asks for: the algorithm, and the value it claims (None: trailer or compute only)."""

    algorithm: str | None = None
    expected: str | None = None
    in_trailer: bool = False


def supported(algorithm: str) -> str:
    name = algorithm.upper()
    if name not in ALL:
        raise errors.invalid_request(f"Checksum algorithm {algorithm} is not valid")
    if name not in SUPPORTED:
        raise errors.not_implemented(f"The {name} checksum algorithm is not supported by silvereye; use CRC32, CRC32C, SHA1 or SHA256.")
    return name


def requested(params: dict[str, Any], trailer: tuple[str, ...] = (), default: str | None = None) -> Request:
    """The checksum a PUT or UploadPart asks for (``default``: the multipart upload's algorithm)."""
    given = [(name, params[member(name)]) for name in ALL if params.get(member(name))]
    if len(given) > 1:
        raise errors.invalid_request("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    announced = [h[len("x-amz-checksum-"):].upper() for h in trailer if h.startswith("x-amz-checksum-")]
    sdk = params.get("ChecksumAlgorithm")
    if given:
        name, value = given[0]
        return Request(supported(name), value)
    if announced:
        return Request(supported(announced[0]), None, True)
    if sdk or default:
        return Request(supported(sdk or default))
    return Request()


def check(request: Request, computed: str | None) -> None:
    if request.expected is not None and request.expected != computed:
        raise errors.s3("BadDigest", f"The {request.algorithm} you specified did not match the calculated checksum.", 400)


def composite(algorithm: str, part_values: list[str]) -> str:
    """COMPOSITE: the checksum of the parts' binary checksums, '-N'."""
    running = new(algorithm)
    for value in part_values:
        running.update(base64.b64decode(value))
    return f"{running.b64digest()}-{len(part_values)}"


def combine_crc(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """FULL_OBJECT for a CRC: combine (base64 CRC, length) of each part, in order."""
    poly = _POLY[algorithm]
    crc = 0
    for value, length in parts:
        crc = _multmodp(_x2nmodp(length, 3, poly), crc, poly) ^ int.from_bytes(base64.b64decode(value), "big")
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


def can_combine(algorithm: str) -> bool:
    return algorithm in _POLY


def shape(checksum: dict[str, str] | None, *, with_type: bool = True) -> dict[str, str]:
    """Output members for a stored checksum: {'ChecksumCRC32': ..., 'ChecksumType': ...}."""
    if not checksum:
        return {}
    out = {member(checksum["algorithm"]): checksum["value"]}
    if with_type:
        out["ChecksumType"] = checksum.get("type", "FULL_OBJECT")
    return out


def content_md5(value: str) -> bytes:
    """A Content-MD5 header's 16 bytes; InvalidDigest when it is not a base64 MD5."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_digest(value) from None
    if len(raw) != 16:
        raise errors.invalid_digest(value)
    return raw


def md5_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def multipart_etag(part_etags: list[str]) -> str:
    """AWS's multipart ETag: the MD5 of the parts' binary MD5s, '-N'."""
    digest = hashlib.md5(b"".join(bytes.fromhex(e) for e in part_etags)).hexdigest()
    return f"{digest}-{len(part_etags)}"


# -- CRC combination over GF(2) (after zlib's crc32_combine) ----------------------------


def _multmodp(a: int, b: int, poly: int) -> int:
    """a(x) * b(x) modulo the polynomial, in the reflected bit order CRCs use."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                break
        m >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return p


@functools.lru_cache(maxsize=None)
def _powers(poly: int) -> tuple[int, ...]:
    """x^(2^k) modulo the polynomial, k = 0..31."""
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1], poly))
    return tuple(table)


def _x2nmodp(n: int, k: int, poly: int) -> int:
    """x^(n * 2^k) modulo the polynomial."""
    powers = _powers(poly)
    p = 1 << 31  # x^0
    while n:
        if n & 1:
            p = _multmodp(powers[k & 31], p, poly)
        n >>= 1
        k += 1
    return p
