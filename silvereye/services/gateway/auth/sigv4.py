"""Signature Version 4: in the Authorization header and in presigned query strings.

The canonical request is rebuilt from the request exactly as it arrived (the
path as sent, the query as sent), following AWS's rules: paths are
normalised and encoded twice for every service but S3, which signs its path
encoded once and untouched; query parameters are re-encoded and sorted by
encoded key, then value; header values are trimmed with inner whitespace
runs collapsed. The region and service are the ones in the credential scope,
as the client signed them — an IAM client that signs for region '' or
'us-east-1' is accepted as it is.

Signing keys are derived once per (key, day, region, service) and cached, so
verifying a request costs two SHA-256 passes over small strings and one HMAC.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from silvereye.services.gateway.auth.dialect import Failure, fail
from silvereye.services.gateway.auth.keys import (
    AMZ_DATE,
    check_skew,
    credential_for,
    iso_z,
    parse_amz_date,
)
from silvereye.services.gateway.http import HttpRequest
from silvereye.services.gateway.identity import Credential, CredentialResolver

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_MALFORMED_CREDENTIAL = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
_QUERY_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Scope:
    """The credential scope a SigV4 request claims: key, day, region, service."""

    access_key_id: str
    date: str  # YYYYMMDD
    region: str  # as signed; may be ''
    service: str  # signing name: 'ec2', 's3', 'iam', 'monitoring', ...
    terminator: str = TERMINATOR

    @property
    def credential_scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def parse_credential(value: str) -> Scope | None:
    parts = value.split("/")
    if len(parts) != 5 or not parts[0]:
        return None
    return Scope(*parts)


@dataclass
class Signed:
    """What a SigV4 request says about its own signature."""

    scope: Scope
    signed_headers: list[str]
    signature: str
    timestamp: str  # the ISO 8601 basic timestamp that goes into the string to sign
    request_time: dt.datetime
    presigned: bool
    expires: int | None
    token: str | None
    shown_date: str  # the date as the client wrote it (for RequestTimeTooSkewed)


@dataclass
class Verified:
    """The outcome of a good signature, with what a streaming payload needs."""

    credential: Credential
    scope: Scope
    signing_key: bytes
    signature: str  # the seed signature of an aws-chunked body
    timestamp: str
    content_sha256: str | None  # S3: the declared payload hash


def is_header_v4(request: HttpRequest) -> bool:
    return (request.headers.get("authorization") or "").startswith("AWS4-")


def is_query_v4(request: HttpRequest) -> bool:
    query = "&" + request.query_string
    return "&X-Amz-Algorithm=" in query or "&X-Amz-Credential=" in query


def peek_scope(request: HttpRequest) -> Scope | None:
    header = request.headers.get("authorization") or ""
    if header.startswith("AWS4-"):
        fields = _authorization_fields(header)
        return parse_credential(fields.get("Credential", "")) if fields is not None else None
    if is_query_v4(request):
        credential = request.query_get("X-Amz-Credential")
        return parse_credential(credential) if credential else None
    return None


def read_signature(request: HttpRequest, family: str, expected_services: frozenset[str]) -> Signed:
    """Parse the header or query form; refuse what is incomplete or scoped wrong."""
    if is_header_v4(request):
        return _read_header(request, family, expected_services)
    return _read_query(request, family, expected_services)


def _authorization_fields(header: str) -> dict[str, str] | None:
    algorithm, _, rest = header.partition(" ")
    fields: dict[str, str] = {"": algorithm}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def _read_header(request: HttpRequest, family: str, expected: frozenset[str]) -> Signed:
    header = request.headers.get("authorization") or ""
    fields = _authorization_fields(header) or {}
    if fields.get("") != ALGORITHM:
        fail(
            family, Failure.UNSUPPORTED,
            detail=f"Unsupported AWS 'algorithm': '{fields.get('')}'",
            s3_detail="Unsupported Authorization Type", ArgumentName="Authorization", ArgumentValue=header,
        )
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
    if missing:
        fail(
            family, Failure.MALFORMED,
            detail=" ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={header}",
            s3_detail="the authorization header requires three components: Credential, SignedHeaders, and Signature.",
        )
    scope = parse_credential(fields["Credential"])
    if scope is None:
        fail(
            family, Failure.MALFORMED,
            detail=f"Credential should have exactly 5 slash-separated parts. Authorization={header}",
            s3_detail=_MALFORMED_CREDENTIAL,
        )
    shown = request.headers.get("x-amz-date") or request.headers.get("date") or ""
    moment = parse_amz_date(shown) if shown else None
    if moment is None:
        fail(
            family, Failure.MISSING_DATE,
            detail="Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={header}",
        )
    signed = Signed(
        scope=scope,
        signed_headers=fields["SignedHeaders"].lower().split(";"),
        signature=fields["Signature"],
        timestamp=moment.strftime(AMZ_DATE),
        request_time=moment,
        presigned=False,
        expires=None,
        token=request.headers.get("x-amz-security-token"),
        shown_date=shown,
    )
    _check_scope(signed, family, expected)
    return signed


def _read_query(request: HttpRequest, family: str, expected: frozenset[str]) -> Signed:
    params = dict(request.query)
    if any(not params.get(name) for name in _QUERY_PARAMS) or "X-Amz-Expires" not in params and family == "s3":
        fail(
            family, Failure.BAD_QUERY_AUTH,
            detail="AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date' and 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.",
            s3_detail="Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        fail(
            family, Failure.BAD_QUERY_AUTH,
            detail=f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'",
            s3_detail=f'X-Amz-Algorithm only supports "{ALGORITHM}"',
        )
    scope = parse_credential(params["X-Amz-Credential"])
    if scope is None:
        fail(
            family, Failure.BAD_QUERY_AUTH,
            detail="Credential should have exactly 5 slash-separated parts.",
            s3_detail="Error parsing the X-Amz-Credential parameter; " + _MALFORMED_CREDENTIAL,
        )
    try:
        moment = dt.datetime.strptime(params["X-Amz-Date"], AMZ_DATE).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        fail(
            family, Failure.BAD_QUERY_AUTH,
            detail="X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    expires = _presign_expiry(params.get("X-Amz-Expires"), family)
    signed = Signed(
        scope=scope,
        signed_headers=params["X-Amz-SignedHeaders"].lower().split(";"),
        signature=params["X-Amz-Signature"],
        timestamp=params["X-Amz-Date"],
        request_time=moment,
        presigned=True,
        expires=expires,
        token=params.get("X-Amz-Security-Token"),
        shown_date=params["X-Amz-Date"],
    )
    _check_scope(signed, family, expected)
    return signed


def _presign_expiry(value: str | None, family: str) -> int | None:
    if value is None:
        return None
    if not value.lstrip("-").isdigit():
        fail(family, Failure.BAD_QUERY_AUTH, detail="X-Amz-Expires should be a number")
    seconds = int(value)
    if seconds < 0:
        fail(family, Failure.BAD_QUERY_AUTH, detail="X-Amz-Expires must be non-negative")
    if seconds > MAX_PRESIGN_SECONDS:
        fail(
            family, Failure.BAD_QUERY_AUTH,
            detail=f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_SECONDS}",
        )
    return seconds


def _check_scope(signed: Signed, family: str, expected: frozenset[str]) -> None:
    scope = signed.scope
    prefix = "Error parsing the X-Amz-Credential parameter; " if signed.presigned else ""
    kind = Failure.BAD_QUERY_AUTH if signed.presigned and family == "s3" else Failure.BAD_SCOPE
    if scope.service not in expected:
        correct = sorted(expected)[0]
        fail(
            family, kind,
            detail=f"Credential should be scoped to correct service: '{correct}'. ",
            s3_detail=f'{prefix}incorrect service "{scope.service}". This endpoint belongs to "{correct}".',
        )
    if scope.terminator != TERMINATOR:
        fail(
            family, kind,
            detail=f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{scope.terminator}'. ",
            s3_detail=f'{prefix}incorrect terminal "{scope.terminator}". This endpoint uses "{TERMINATOR}".',
        )
    if scope.date != signed.timestamp[:8]:
        fail(
            family, kind,
            detail="Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope.date}' != '{signed.timestamp[:8]}', from '{signed.timestamp}'.",
            s3_detail=f'{prefix}Invalid credential date "{scope.date}". This date is not the same as X-Amz-Date: '
            f'"{signed.timestamp[:8]}".',
        )
    if "host" not in signed.signed_headers:
        fail(
            family, kind if signed.presigned else Failure.MALFORMED,
            detail="'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            s3_detail=f"{prefix}the SignedHeaders must include host.",
        )


def check_time(signed: Signed, family: str, now: dt.datetime, skew_seconds: int) -> None:
    """Header signatures live within now ± skew; presigned URLs until their expiry."""
    if not signed.presigned or signed.expires is None:
        check_skew(family, signed.request_time, now, skew_seconds, signed.shown_date)
        return
    skew = dt.timedelta(seconds=skew_seconds)
    if signed.request_time > now + skew:
        fail(
            family, Failure.PRESIGN_EARLY,
            request_time=signed.timestamp, limit=(now + skew).strftime(AMZ_DATE),
            now=now.strftime(AMZ_DATE), minutes=skew_seconds // 60,
        )
    valid = dt.timedelta(seconds=signed.expires)
    if now > signed.request_time + valid:
        fail(
            family, Failure.PRESIGN_EXPIRED,
            request_time=signed.timestamp, limit=(now - valid).strftime(AMZ_DATE),
            now=now.strftime(AMZ_DATE), minutes=f"{signed.expires / 60:g}",
            **{"X-Amz-Expires": str(signed.expires), "Expires": iso_z(signed.request_time + valid),
               "ServerTime": iso_z(now)},
        )


def verify(
    request: HttpRequest,
    signed: Signed,
    *,
    family: str,
    resolver: CredentialResolver,
    now: dt.datetime,
    skew_seconds: int,
    body_hash: str | None,
) -> Verified:
    credential = credential_for(resolver, signed.scope.access_key_id, signed.token, family=family, now=now)
    check_time(signed, family, now, skew_seconds)
    s3 = family == "s3"
    content_sha256 = None
    if s3:
        content_sha256 = _s3_payload_hash(request, signed)
        payload_hash = content_sha256
        _check_amz_headers_signed(request, signed)
    else:
        payload_hash = body_hash if body_hash is not None else hashlib.sha256(request.body).hexdigest()
    canonical = canonical_request(request, signed, payload_hash, s3=s3)
    string_to_sign = "\n".join(
        (ALGORITHM, signed.timestamp, signed.scope.credential_scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = signing_key(credential.secret_access_key, signed.scope.date, signed.scope.region, signed.scope.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signed.signature.encode("utf-8", "replace")):
        fail(
            family, Failure.BAD_SIGNATURE,
            AWSAccessKeyId=signed.scope.access_key_id,
            StringToSign=string_to_sign,
            SignatureProvided=signed.signature,
            StringToSignBytes=_hex_bytes(string_to_sign),
            CanonicalRequest=canonical,
            CanonicalRequestBytes=_hex_bytes(canonical),
        )
    return Verified(credential, signed.scope, key, expected, signed.timestamp, content_sha256)


@functools.lru_cache(maxsize=4096)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_request(request: HttpRequest, signed: Signed, payload_hash: str, *, s3: bool) -> str:
    return "\n".join(
        (
            request.method.upper(),
            canonical_uri(request.raw_path, s3=s3),
            canonical_query(request.query_string, drop_signature=signed.presigned),
            canonical_headers(request, signed.signed_headers),
            ";".join(signed.signed_headers),
            payload_hash,
        )
    )


def canonical_uri(raw_path: str, *, s3: bool) -> str:
    path = raw_path or "/"
    if s3:
        # S3 signs each segment URI-encoded once, whatever escaping the client chose.
        return "/".join(quote_from_bytes(unquote_to_bytes(segment), safe="~") for segment in path.split("/"))
    return quote(_remove_dot_segments(path), safe="/~")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, plus the empty segments AWS drops ('//' becomes '/')."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    head = "/" if path.startswith("/") else ""
    tail = "/" if path.endswith("/") and kept else ""
    return head + "/".join(kept) + tail


def canonical_query(query_string: str, *, drop_signature: bool) -> str:
    pairs = []
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name_enc = quote_from_bytes(unquote_to_bytes(name), safe="~")
        if drop_signature and name_enc == "X-Amz-Signature":
            continue
        pairs.append((name_enc, quote_from_bytes(unquote_to_bytes(value), safe="~")))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_headers(request: HttpRequest, names: list[str]) -> str:
    lines = []
    for name in names:
        values = request.headers.get_all(name)
        lines.append(name + ":" + ",".join(" ".join(value.split()) for value in values))
    return "\n".join(lines) + "\n"


# ---- S3 specifics ---------------------------------------------------------------

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
UNSIGNED = "UNSIGNED-PAYLOAD"
S3_PAYLOAD_MODES = frozenset({UNSIGNED, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})


def _s3_payload_hash(request: HttpRequest, signed: Signed) -> str:
    declared = request.headers.get("x-amz-content-sha256")
    if declared is None:
        if signed.presigned:
            return UNSIGNED
        fail("s3", Failure.CONTENT_SHA_MISSING)
    if declared not in S3_PAYLOAD_MODES and not _HEX64.match(declared):
        fail("s3", Failure.CONTENT_SHA_INVALID, ArgumentName="x-amz-content-sha256", ArgumentValue=declared)
    if signed.presigned and declared.startswith("STREAMING-"):
        fail("s3", Failure.CONTENT_SHA_INVALID, ArgumentName="x-amz-content-sha256", ArgumentValue=declared)
    return declared


def _check_amz_headers_signed(request: HttpRequest, signed: Signed) -> None:
    """S3 refuses x-amz-* headers the signature does not cover (a presigned PUT cannot gain an ACL)."""
    covered = set(signed.signed_headers)
    loose = sorted(
        {
            name.lower()
            for name, _ in request.headers
            if name.lower().startswith("x-amz-")
            and name.lower() not in covered
            and name.lower() not in ("x-amz-content-sha256", "x-amz-security-token")
        }
    )
    if loose:
        fail("s3", Failure.HEADERS_NOT_SIGNED, HeadersNotSigned=", ".join(loose))


def _hex_bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in text.encode())
