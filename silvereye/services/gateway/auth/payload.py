"""Checking an S3 request body while it is written to disk.

S3 signs the body in one of several ways, named by ``x-amz-content-sha256``:
a hex SHA-256 of the whole payload (checked at the end), UNSIGNED-PAYLOAD
(nothing to check), or an ``aws-chunked`` stream whose chunks are each signed
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, a chain that starts from the
header's seed signature), optionally followed by trailing headers (a checksum
and, when signed, ``x-amz-trailer-signature``), or unsigned chunks with a
trailing checksum (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, boto3's default
over TLS).

:meth:`PayloadVerifier.iter_decoded` yields the payload bytes as they arrive
and raises S3's error when something does not match; the caller stores what
it gets in a temporary file and discards it when an error is raised, so
nothing unverified becomes visible. Data is handled in the pieces the server
receives (hashing and slicing in C), never byte by byte in Python and never
whole in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import AsyncIterator

from silvereye.services.gateway.auth.checksums import ALGORITHMS, Checksum, new_checksum
from silvereye.services.gateway.auth.dialect import Failure, error, s3_error
from silvereye.services.gateway.auth.sigv4 import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED,
)
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import BodyStream

MIN_CHUNK = 8192  # every signed chunk but the last must be at least this long
_MAX_LINE = 4096  # a chunk header or trailer line longer than this is not one
_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


@dataclass(frozen=True)
class ChunkSigning:
    """What continues the signature chain of a signed aws-chunked body."""

    key: bytes
    timestamp: str
    scope: str  # 'YYYYMMDD/region/s3/aws4_request'
    seed: str  # the request's own signature


def incomplete_body() -> ServiceError:
    return s3_error(
        "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header"
    )


def _bad_chunk(detail: str) -> ServiceError:
    return s3_error("IncompleteBody", f"The request body terminated unexpectedly: {detail}")


def _malformed_trailer() -> ServiceError:
    return s3_error(
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform to our published schema.",
    )


def _signature_mismatch() -> ServiceError:
    return error("s3", Failure.BAD_SIGNATURE)


@dataclass
class PayloadVerifier:
    """How an S3 body was signed, and the means to check it while it streams."""

    content_sha256: str  # the declared x-amz-content-sha256
    signing: ChunkSigning | None = None
    decoded_content_length: int | None = None  # x-amz-decoded-content-length
    content_length: int | None = None  # Content-Length (the encoded length for aws-chunked)
    trailer: tuple[str, ...] = ()  # names announced in x-amz-trailer (lowercase)
    trailing_checksums: dict[str, str] = field(default_factory=dict)  # after iteration

    @property
    def chunked(self) -> bool:
        return self.content_sha256.startswith("STREAMING-")

    async def iter_decoded(self, stream: BodyStream) -> AsyncIterator[bytes]:
        """The payload bytes, verified; raises S3's ServiceError on any mismatch."""
        if self.chunked:
            decoder = _ChunkedDecoder(self)
            async for piece in stream:
                for data in decoder.feed(piece):
                    yield data
            self.trailing_checksums = decoder.finish()
            return
        digest = hashlib.sha256() if self.content_sha256 != UNSIGNED else None
        received = 0
        async for piece in stream:
            received += len(piece)
            if digest is not None:
                digest.update(piece)
            yield bytes(piece) if not isinstance(piece, bytes) else piece
        if self.content_length is not None and received < self.content_length:
            raise incomplete_body()
        if digest is not None and digest.hexdigest() != self.content_sha256:
            raise error(
                "s3", Failure.CONTENT_SHA_MISMATCH,
                ClientComputedContentSHA256=self.content_sha256, S3ComputedContentSHA256=digest.hexdigest(),
            )


class _ChunkedDecoder:
    """A state machine over aws-chunked framing; ``feed`` returns the payload pieces found."""

    def __init__(self, verifier: PayloadVerifier):
        mode = verifier.content_sha256
        if mode not in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
            raise error("s3", Failure.CONTENT_SHA_INVALID, ArgumentName="x-amz-content-sha256", ArgumentValue=mode)
        self._signed = mode != STREAMING_UNSIGNED_TRAILER
        self._signing = verifier.signing
        if self._signed and self._signing is None:
            raise _signature_mismatch()
        self._previous = self._signing.seed if self._signing else ""
        self._expect_trailer = mode != STREAMING_SIGNED
        self._declared = verifier.decoded_content_length
        self._content_length = verifier.content_length
        unknown = [name for name in verifier.trailer if name not in ALGORITHMS]
        if unknown:
            raise s3_error(
                "InvalidRequest", f"The value specified in the x-amz-trailer header is not supported: {unknown[0]}"
            )
        self._announced = verifier.trailer
        self._checksums: dict[str, Checksum] = {name: new_checksum(name) for name in verifier.trailer}
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._chunk_hash = hashlib.sha256()
        self._chunk_signature = ""
        self._chunk_size = 0
        self._chunks = 0
        self._short_chunk_seen = False
        self._decoded = 0
        self._received = 0
        self._trailers: list[tuple[str, str]] = []
        self._trailer_signature: str | None = None
        self._blank_skipped = False

    def feed(self, piece: bytes) -> list[bytes]:
        out: list[bytes] = []
        size = len(piece)
        self._received += size
        view = memoryview(piece)
        pos = 0
        while pos < size:
            if self._state == _DATA:
                take = min(self._remaining, size - pos)
                data = piece if take == size and isinstance(piece, bytes) else bytes(view[pos : pos + take])
                if self._signed:
                    self._chunk_hash.update(data)
                for checksum in self._checksums.values():
                    checksum.update(data)
                out.append(data)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _DATA_END
            elif self._state == _DATA_END:
                take = min(2 - len(self._line), size - pos)
                self._line += view[pos : pos + take]
                pos += take
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        raise _bad_chunk("chunk data is not followed by CRLF")
                    self._line.clear()
                    self._end_chunk()
                    self._state = _HEADER
            elif self._state == _DONE:
                raise _bad_chunk("data after the end of the aws-chunked body")
            else:
                end = piece.find(b"\n", pos)
                if end < 0:
                    self._line += view[pos:]
                    pos = size
                    if len(self._line) > _MAX_LINE:
                        raise _bad_chunk("chunk header too long")
                    continue
                self._line += view[pos : end + 1]
                pos = end + 1
                line = bytes(self._line)
                self._line.clear()
                if not line.endswith(b"\r\n"):
                    raise _bad_chunk("line not terminated by CRLF")
                if self._state == _HEADER:
                    self._begin_chunk(line[:-2])
                else:
                    self._trailer_line(line[:-2])
        return out

    def _begin_chunk(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
            raise _bad_chunk("chunk size is not hexadecimal")
        size = int(size_text, 16)
        signature = ""
        if self._signed:
            name, _, value = extension.partition(b"=")
            if name.strip() != b"chunk-signature" or len(value.strip()) != 64:
                raise _signature_mismatch()
            signature = value.strip().decode("ascii", "replace")
        self._chunks += 1
        if size and self._short_chunk_seen and self._signed:
            raise s3_error(
                "InvalidChunkSizeError", "Only the last chunk is allowed to have a size less than 8192 bytes", 403,
                Chunk=str(self._chunks - 1), BadChunkSize=str(self._chunk_size),
            )
        self._short_chunk_seen = 0 < size < MIN_CHUNK
        self._decoded += size
        if self._declared is not None and self._decoded > self._declared:
            raise incomplete_body()
        self._chunk_size = size
        self._chunk_signature = signature
        self._chunk_hash = hashlib.sha256()
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._end_chunk()  # the final, empty chunk is signed like the others
            self._state = _TRAILER

    def _end_chunk(self) -> None:
        if not self._signed:
            return
        signing = self._signing
        string_to_sign = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{signing.timestamp}\n{signing.scope}\n{self._previous}\n"
            f"{EMPTY_SHA256}\n{self._chunk_hash.hexdigest()}"
        )
        expected = hmac.new(signing.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), self._chunk_signature.encode()):
            raise _signature_mismatch()
        self._previous = expected

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            # The AWS documentation's own example puts a blank line before the trailers.
            if self._expect_trailer and not self._trailers and not self._blank_skipped:
                self._blank_skipped = True
                return
            self._state = _DONE
            return
        name, sep, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise _malformed_trailer()
        if name == "x-amz-trailer-signature":
            self._trailer_signature = value.strip()
        else:
            self._trailers.append((name, value.strip()))

    def finish(self) -> dict[str, str]:
        """After the last piece: check the ending, trailers, checksums and lengths."""
        if self._state not in (_TRAILER, _DONE) or self._line:
            raise _bad_chunk("the body ended inside a chunk")
        if self._declared is not None and self._decoded != self._declared:
            raise incomplete_body()
        if self._content_length is not None and self._received < self._content_length:
            raise incomplete_body()
        if self._signed and self._expect_trailer:
            self._check_trailer_signature()
        received = dict(self._trailers)
        if set(received) != set(self._announced) or len(received) != len(self._trailers):
            raise _malformed_trailer()
        for name, checksum in self._checksums.items():
            if checksum.b64digest() != received[name]:
                raise s3_error(
                    "BadDigest", f"The {ALGORITHMS[name]} you specified did not match the calculated checksum."
                )
        return {name: value for name, value in received.items() if name in ALGORITHMS}

    def _check_trailer_signature(self) -> None:
        if self._trailer_signature is None:
            raise _signature_mismatch()
        canonical = "".join(f"{name}:{value}\n" for name, value in self._trailers)
        signing = self._signing
        string_to_sign = (
            f"AWS4-HMAC-SHA256-TRAILER\n{signing.timestamp}\n{signing.scope}\n{self._previous}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        expected = hmac.new(signing.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), self._trailer_signature.encode("utf-8", "replace")):
            raise _signature_mismatch()
