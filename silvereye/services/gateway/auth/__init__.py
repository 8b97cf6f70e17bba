"""Request authentication: who signed this request, and was it signed right?

:func:`authenticate` accepts every way AWS clients sign: SigV4 in the
Authorization header or a presigned query string, S3's aws-chunked streaming
bodies (through the returned :class:`PayloadVerifier`), the Query APIs'
SigV2 and S3's SigV2 (header and query). It answers with the principal, or
raises the :class:`~silvereye.services.gateway.errors.ServiceError` that the
service's own family (EC2, S3, Query, JSON; see :mod:`.dialect`) returns for
that failure.

:func:`peek_scope` lets the router read the signed service before anything
is verified.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from silvereye.services.gateway.auth import sigv2, sigv4
from silvereye.services.gateway.auth.dialect import Failure, fail, family_of, s3_error
from silvereye.services.gateway.auth.keys import utc_now
from silvereye.services.gateway.auth.payload import ChunkSigning, PayloadVerifier
from silvereye.services.gateway.auth.sigv4 import UNSIGNED, Scope
from silvereye.services.gateway.http import HttpRequest
from silvereye.services.gateway.identity import ANONYMOUS, CredentialResolver, Principal

__all__ = ["AuthResult", "PayloadVerifier", "Scope", "authenticate", "peek_scope"]


@dataclass(frozen=True)
class AuthResult:
    principal: Principal
    auth_type: str  # 'sigv4' | 'sigv4-query' | 'sigv2' | 'sigv2-s3' | 'anonymous'
    access_key_id: str = ""
    region: str = ""  # as signed (SigV4 scope); '' for SigV2 and anonymous requests
    signed_service: str = ""  # the scope's service, or the routed service for SigV2
    payload: PayloadVerifier | None = None  # S3 only: how to read and check the body


def peek_scope(request: HttpRequest) -> Scope | None:
    """The SigV4 credential scope the request claims, verifying nothing; None when not SigV4."""
    return sigv4.peek_scope(request)


def authenticate(
    request: HttpRequest,
    *,
    service: str,
    resolver: CredentialResolver,
    now: dt.datetime | None = None,
    skew_seconds: int = 900,
    body_hash: str | None = None,
    virtual_host_bucket: str | None = None,
) -> AuthResult:
    """Verify the request's signature for ``service`` (a botocore service name).

    ``body_hash`` may carry the hex SHA-256 of ``request.body`` when the caller
    already has it (not used for S3, whose body is checked while it streams).
    ``virtual_host_bucket`` is the bucket a virtual-host S3 request addressed
    (S3 SigV2 signs it); when None it is read from a ``bucket.s3.`` host name.
    """
    family = family_of(service)
    moment = utc_now(now)
    header = request.headers.get("authorization")
    v4_query = sigv4.is_query_v4(request)
    if family == "s3":
        return _authenticate_s3(request, header, v4_query, resolver, moment, skew_seconds, virtual_host_bucket)
    if header and v4_query:
        fail(family, Failure.AMBIGUOUS, detail="Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
    if header is not None or v4_query:
        if not (header or "").startswith("AWS4-") and not v4_query:
            fail(
                family, Failure.MALFORMED,
                detail="Authorization header requires 'Credential' parameter. Authorization header requires "
                "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
                f"Authorization={header}",
            )
        return _sigv4(request, family, service, resolver, moment, skew_seconds, body_hash)
    params = dict(sigv2.query_params(request))
    if sigv2.is_query_v2(params):
        result = sigv2.verify_query(
            request, params, family=family, resolver=resolver, now=moment, skew_seconds=skew_seconds
        )
        resolver.record_use(result.credential.access_key_id, service, "")
        return AuthResult(result.credential.principal, result.auth_type, result.credential.access_key_id, "", service)
    fail(family, Failure.MISSING)


def _authenticate_s3(request, header, v4_query, resolver, moment, skew_seconds, bucket) -> AuthResult:
    v2_query = sigv2.is_s3_query_v2(request)
    if sum((header is not None, v4_query, v2_query)) > 1:
        fail("s3", Failure.AMBIGUOUS, ArgumentName="Authorization", ArgumentValue=header or "")
    if header is not None and not header.startswith(("AWS4-", "AWS ")):
        fail(
            "s3", Failure.UNSUPPORTED,
            s3_detail="Unsupported Authorization Type", ArgumentName="Authorization", ArgumentValue=header,
        )
    if (header or "").startswith("AWS4-") or v4_query:
        return _sigv4(request, "s3", "s3", resolver, moment, skew_seconds, None)
    unsigned = _s3_payload(request, UNSIGNED, None)
    if header is not None or v2_query:
        result = sigv2.verify_s3(
            request, resolver=resolver, now=moment, skew_seconds=skew_seconds, virtual_host_bucket=bucket
        )
        resolver.record_use(result.credential.access_key_id, "s3", "")
        return AuthResult(
            result.credential.principal, result.auth_type, result.credential.access_key_id, "", "s3", unsigned
        )
    return AuthResult(ANONYMOUS, "anonymous", payload=unsigned)


def _sigv4(request, family, service, resolver, moment, skew_seconds, body_hash) -> AuthResult:
    signed = sigv4.read_signature(request, family, signing_names(service))
    verified = sigv4.verify(
        request, signed, family=family, resolver=resolver, now=moment, skew_seconds=skew_seconds, body_hash=body_hash
    )
    scope = verified.scope
    resolver.record_use(scope.access_key_id, scope.service, scope.region)
    payload = None
    if family == "s3":
        signing = ChunkSigning(verified.signing_key, verified.timestamp, scope.credential_scope, verified.signature)
        payload = _s3_payload(request, verified.content_sha256 or UNSIGNED, signing)
    return AuthResult(
        principal=verified.credential.principal,
        auth_type="sigv4-query" if signed.presigned else "sigv4",
        access_key_id=scope.access_key_id,
        region=scope.region,
        signed_service=scope.service,
        payload=payload,
    )


def _s3_payload(request: HttpRequest, content_sha256: str, signing: ChunkSigning | None) -> PayloadVerifier:
    trailer = request.headers.get("x-amz-trailer") or ""
    return PayloadVerifier(
        content_sha256=content_sha256,
        signing=signing,
        decoded_content_length=_length(request, "x-amz-decoded-content-length"),
        content_length=_length(request, "content-length"),
        trailer=tuple(name.strip().lower() for name in trailer.split(",") if name.strip()),
    )


def _length(request: HttpRequest, header: str) -> int | None:
    value = request.headers.get(header)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise s3_error("InvalidArgument", f"{header} must be a non-negative integer", ArgumentName=header,
                       ArgumentValue=value)
    return int(value)


@functools.lru_cache(maxsize=None)
def signing_names(service: str) -> frozenset[str]:
    """The scope service names a client may sign for ``service``: its name and the model's signing name."""
    names = {service}
    try:
        from silvereye.services.gateway.models import service_model

        metadata = service_model(service).metadata
        names.update(filter(None, (metadata.get("signingName"), metadata.get("endpointPrefix"))))
    except Exception:  # not a botocore service (the SigV4 test suite signs for 'service')
        pass
    return frozenset(names)
