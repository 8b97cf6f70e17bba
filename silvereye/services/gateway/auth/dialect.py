"""How each AWS service family words an authentication failure.

The verifiers only say *what* went wrong (a :class:`Failure` plus the facts
that go into the message); the table below says how EC2, S3, the Query
services (IAM, STS, CloudWatch, ELB, ...) and the JSON services phrase it:
error code, HTTP status, message, and which extra members the envelope
carries (S3 adds StringToSign, RequestTime, ...). Codes and messages are the
ones AWS returns, so SDK retry and refresh logic (which keys on codes such as
ExpiredToken, RequestExpired, RequestTimeTooSkewed) behaves as against AWS.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any, NoReturn

from silvereye.services.gateway.errors import ServiceError


class Failure(enum.Enum):
    MISSING = "no signature at all"
    MALFORMED = "signature parts missing or unparsable"
    BAD_SCOPE = "credential scope wrong (service, terminator, date)"
    MISSING_DATE = "no X-Amz-Date / Date"
    UNKNOWN_KEY = "no such access key"
    INACTIVE_KEY = "access key deactivated"
    TOKEN_MISSING = "temporary key used without its session token"
    TOKEN_INVALID = "session token does not belong to the key"
    TOKEN_EXPIRED = "temporary credentials expired"
    BAD_SIGNATURE = "signature mismatch"
    SKEW_PAST = "request time too far in the past"
    SKEW_FUTURE = "request time too far in the future"
    PRESIGN_EXPIRED = "presigned URL past its expiry"
    PRESIGN_EARLY = "presigned URL dated in the future"
    BAD_QUERY_AUTH = "presigned URL parameters missing or invalid"
    UNSUPPORTED = "unsupported authorization scheme"
    AMBIGUOUS = "more than one auth mechanism"
    QUERY_INCOMPLETE = "S3: SigV2 query string without Signature, Expires or AWSAccessKeyId"
    HEADERS_NOT_SIGNED = "x-amz-* headers present but not signed"
    CONTENT_SHA_MISSING = "S3: no x-amz-content-sha256"
    CONTENT_SHA_INVALID = "S3: x-amz-content-sha256 not a known value"
    CONTENT_SHA_MISMATCH = "S3: payload hash differs from the declared one"


@dataclass(frozen=True)
class Wording:
    code: str
    status: int
    message: str  # str.format template over the failure's facts
    fields: tuple[str, ...] = ()  # which facts become extra envelope members


_SIG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_S3_SIG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_SKEW_PAST = "Signature expired: {request_time} is now earlier than {limit} ({now} - {minutes} min.)"
_SKEW_FUTURE = "Signature not yet current: {request_time} is still later than {limit} ({now} + {minutes} min.)"
_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"
_MISSING_TOKEN = "Request is missing Authentication Token"
_EC2_AUTH = "AWS was not able to validate the provided access credentials"

_QUERY: dict[Failure, Wording] = {
    Failure.MISSING: Wording("MissingAuthenticationToken", 403, _MISSING_TOKEN),
    Failure.MALFORMED: Wording("IncompleteSignature", 400, "{detail}"),
    Failure.BAD_SCOPE: Wording("SignatureDoesNotMatch", 403, "{detail}"),
    Failure.MISSING_DATE: Wording("IncompleteSignature", 400, "{detail}"),
    Failure.UNKNOWN_KEY: Wording("InvalidClientTokenId", 403, _INVALID_TOKEN),
    Failure.INACTIVE_KEY: Wording("InvalidClientTokenId", 403, _INVALID_TOKEN),
    Failure.TOKEN_MISSING: Wording("InvalidClientTokenId", 403, _INVALID_TOKEN),
    Failure.TOKEN_INVALID: Wording("InvalidClientTokenId", 403, _INVALID_TOKEN),
    Failure.TOKEN_EXPIRED: Wording("ExpiredToken", 403, _EXPIRED_TOKEN),
    Failure.BAD_SIGNATURE: Wording("SignatureDoesNotMatch", 403, _SIG_MISMATCH),
    Failure.SKEW_PAST: Wording("SignatureDoesNotMatch", 403, _SKEW_PAST),
    Failure.SKEW_FUTURE: Wording("SignatureDoesNotMatch", 403, _SKEW_FUTURE),
    Failure.PRESIGN_EXPIRED: Wording("SignatureDoesNotMatch", 403, _SKEW_PAST),
    Failure.PRESIGN_EARLY: Wording("SignatureDoesNotMatch", 403, _SKEW_FUTURE),
    Failure.BAD_QUERY_AUTH: Wording("IncompleteSignature", 400, "{detail}"),
    Failure.UNSUPPORTED: Wording("IncompleteSignature", 400, "{detail}"),
    Failure.AMBIGUOUS: Wording("IncompleteSignature", 400, "{detail}"),
}

# JSON-protocol services (not in query-compatible mode) use the coral names.
_JSON: dict[Failure, Wording] = {
    **{
        failure: Wording(wording.code + "Exception", 400, wording.message, wording.fields)
        for failure, wording in _QUERY.items()
    },
    Failure.MISSING: Wording("MissingAuthenticationTokenException", 400, "Missing Authentication Token"),
    Failure.UNKNOWN_KEY: Wording("UnrecognizedClientException", 400, _INVALID_TOKEN),
    Failure.INACTIVE_KEY: Wording("UnrecognizedClientException", 400, _INVALID_TOKEN),
    Failure.TOKEN_MISSING: Wording("UnrecognizedClientException", 400, _INVALID_TOKEN),
    Failure.TOKEN_INVALID: Wording("UnrecognizedClientException", 400, _INVALID_TOKEN),
    Failure.BAD_SIGNATURE: Wording("InvalidSignatureException", 400, _SIG_MISMATCH),
    Failure.BAD_SCOPE: Wording("InvalidSignatureException", 400, "{detail}"),
    Failure.SKEW_PAST: Wording("InvalidSignatureException", 400, _SKEW_PAST),
    Failure.SKEW_FUTURE: Wording("InvalidSignatureException", 400, _SKEW_FUTURE),
    Failure.PRESIGN_EXPIRED: Wording("InvalidSignatureException", 400, _SKEW_PAST),
    Failure.PRESIGN_EARLY: Wording("InvalidSignatureException", 400, _SKEW_FUTURE),
}

_EC2: dict[Failure, Wording] = {
    **_QUERY,
    Failure.MISSING: Wording("MissingParameter", 400, "The request must contain the parameter AWSAccessKeyId"),
    Failure.UNKNOWN_KEY: Wording("AuthFailure", 401, _EC2_AUTH),
    Failure.INACTIVE_KEY: Wording("AuthFailure", 401, _EC2_AUTH),
    Failure.TOKEN_MISSING: Wording("AuthFailure", 401, _EC2_AUTH),
    Failure.TOKEN_INVALID: Wording("AuthFailure", 401, _EC2_AUTH),
    Failure.TOKEN_EXPIRED: Wording("RequestExpired", 400, "Request has expired."),
    Failure.BAD_SIGNATURE: Wording("AuthFailure", 401, _EC2_AUTH),
    Failure.BAD_SCOPE: Wording("AuthFailure", 401, "{detail}"),
    Failure.SKEW_PAST: Wording("RequestExpired", 400, "Request has expired."),
    Failure.SKEW_FUTURE: Wording("RequestExpired", 400, "Request has expired."),
    Failure.PRESIGN_EXPIRED: Wording("RequestExpired", 400, "Request has expired."),
    Failure.PRESIGN_EARLY: Wording("RequestExpired", 400, "Request has expired."),
}

_S3_MALFORMED = Wording("AuthorizationHeaderMalformed", 400, "The authorization header is malformed; {s3_detail}")
_S3: dict[Failure, Wording] = {
    Failure.MALFORMED: _S3_MALFORMED,
    Failure.BAD_SCOPE: _S3_MALFORMED,
    Failure.MISSING_DATE: Wording("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header"),
    Failure.UNKNOWN_KEY: Wording(
        "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.",
        ("AWSAccessKeyId",),
    ),
    Failure.INACTIVE_KEY: Wording(
        "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.",
        ("AWSAccessKeyId",),
    ),
    Failure.TOKEN_MISSING: Wording(
        "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.",
        ("AWSAccessKeyId",),
    ),
    Failure.TOKEN_INVALID: Wording("InvalidToken", 400, "The provided token is malformed or otherwise invalid."),
    Failure.TOKEN_EXPIRED: Wording("ExpiredToken", 400, "The provided token has expired."),
    Failure.BAD_SIGNATURE: Wording(
        "SignatureDoesNotMatch", 403, _S3_SIG_MISMATCH,
        ("AWSAccessKeyId", "StringToSign", "SignatureProvided", "StringToSignBytes",
         "CanonicalRequest", "CanonicalRequestBytes"),
    ),
    Failure.SKEW_PAST: Wording(
        "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.",
        ("RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"),
    ),
    Failure.SKEW_FUTURE: Wording(
        "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.",
        ("RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"),
    ),
    Failure.PRESIGN_EXPIRED: Wording(
        "AccessDenied", 403, "Request has expired", ("X-Amz-Expires", "Expires", "ServerTime")
    ),
    Failure.PRESIGN_EARLY: Wording("AccessDenied", 403, "Request is not valid yet"),
    Failure.BAD_QUERY_AUTH: Wording("AuthorizationQueryParametersError", 400, "{s3_detail}"),
    Failure.UNSUPPORTED: Wording(
        "InvalidArgument", 400, "{s3_detail}", ("ArgumentName", "ArgumentValue")
    ),
    Failure.AMBIGUOUS: Wording(
        "InvalidArgument", 400,
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
        "parameter or the Authorization header should be specified",
        ("ArgumentName", "ArgumentValue"),
    ),
    Failure.QUERY_INCOMPLETE: Wording(
        "AccessDenied", 403, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
    ),
    Failure.HEADERS_NOT_SIGNED: Wording(
        "AccessDenied", 403, "There were headers present in the request which were not signed",
        ("HeadersNotSigned",),
    ),
    Failure.CONTENT_SHA_MISSING: Wording(
        "InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256"
    ),
    Failure.CONTENT_SHA_INVALID: Wording(
        "InvalidArgument", 400,
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        ("ArgumentName", "ArgumentValue"),
    ),
    Failure.CONTENT_SHA_MISMATCH: Wording(
        "XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ("ClientComputedContentSHA256", "S3ComputedContentSHA256"),
    ),
}

FAMILIES: dict[str, dict[Failure, Wording]] = {"query": _QUERY, "json": _JSON, "ec2": _EC2, "s3": _S3}
_FIXED_FAMILY = {"s3": "s3", "ec2": "ec2"}


@functools.lru_cache(maxsize=None)
def family_of(service: str) -> str:
    """The dialect of a botocore service name: its model's protocol decides."""
    if service in _FIXED_FAMILY:
        return _FIXED_FAMILY[service]
    try:
        from silvereye.services.gateway.models import service_model

        metadata = service_model(service).metadata
    except Exception:  # a name botocore does not know (test suites sign for 'service')
        return "query"
    protocol = metadata.get("protocol", "query")
    if protocol in ("json", "rest-json") and not metadata.get("awsQueryCompatible"):
        return "json"
    return "query"


def error(family: str, failure: Failure, **facts: Any) -> ServiceError:
    """The ServiceError AWS would send for ``failure`` in this service family.

    A family that has no wording of its own for a failure (only S3 knows
    HEADERS_NOT_SIGNED, ...) uses the Query wording of the closest failure:
    a plain signature mismatch.
    """
    table = FAMILIES[family]
    wording = table.get(failure) or table.get(Failure.BAD_SIGNATURE) or _QUERY[Failure.BAD_SIGNATURE]
    facts.setdefault("detail", "")
    facts.setdefault("s3_detail", facts["detail"])
    message = wording.message.format(**facts)
    fields = {name: facts[name] for name in wording.fields if facts.get(name) is not None}
    return ServiceError(wording.code, message, wording.status, **fields)


def fail(family: str, failure: Failure, **facts: Any) -> NoReturn:
    raise error(family, failure, **facts)


def s3_error(code: str, message: str, status: int = 400, **fields: Any) -> ServiceError:
    """Errors only S3's payload checks raise (IncompleteBody, BadDigest, ...)."""
    return ServiceError(code, message, status, **fields)
