"""Signature Version 2, for the euca2ools-era clients that still speak it.

Two unrelated schemes share the name:

* the Query APIs' SigV2 (EC2, IAM, ... via boto 2 and euca2ools):
  ``AWSAccessKeyId``/``SignatureVersion=2``/``SignatureMethod``/``Timestamp``
  or ``Expires``/``Signature`` parameters, in the query string or the form
  body, over ``METHOD\\nhost\\npath\\nsorted-params``;
* S3's SigV2 (s3cmd, boto 2): ``Authorization: AWS key:signature`` or the
  ``AWSAccessKeyId``/``Expires``/``Signature`` query string, HMAC-SHA1 over
  ``METHOD\\nContent-MD5\\nContent-Type\\nDate\\n`` + the x-amz-* headers +
  the resource (bucket, key and sub-resources).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from silvereye.services.gateway.auth.dialect import Failure, fail
from silvereye.services.gateway.auth.keys import (
    check_skew,
    credential_for,
    iso_z,
    parse_http_date,
    parse_iso8601,
)
from silvereye.services.gateway.http import HttpRequest
from silvereye.services.gateway.identity import Credential, CredentialResolver

_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
_FORM = "application/x-www-form-urlencoded"

# The query parameters that are part of an S3 SigV2 resource (AWS's list).
S3_SUBRESOURCES = frozenset(
    """accelerate acl analytics cors defaultObjectAcl delete encryption intelligent-tiering inventory
    legal-hold lifecycle location logging metrics notification object-lock ownershipControls partNumber
    policy policyStatus publicAccessBlock replication requestPayment restore retention select select-type
    storageClass tagging torrent uploadId uploads versionId versioning versions website
    response-cache-control response-content-disposition response-content-encoding
    response-content-language response-content-type response-expires""".split()
)
# Eucalyptus clients reach S3 under these path prefixes but sign the bare resource.
_S3_PATH_PREFIXES = ("/services/objectstorage", "/services/Walrus")


@dataclass
class V2Result:
    credential: Credential
    auth_type: str  # 'sigv2' | 'sigv2-s3'


# ---- Query APIs --------------------------------------------------------------------


def query_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The parameters a Query SigV2 request signs: its query string plus its form body."""
    params = list(request.query)
    if request.method.upper() == "POST" and request.content_type == _FORM and request.body:
        params += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return params


def is_query_v2(params: dict[str, str]) -> bool:
    return "Signature" in params and "AWSAccessKeyId" in params


def verify_query(
    request: HttpRequest,
    params: dict[str, str],
    *,
    family: str,
    resolver: CredentialResolver,
    now: dt.datetime,
    skew_seconds: int,
) -> V2Result:
    version = params.get("SignatureVersion", "")
    method = params.get("SignatureMethod", "")
    if version != "2" or method not in _DIGESTS:
        fail(
            family, Failure.MALFORMED,
            detail=f"Unsupported signature version '{version}' or method '{method}': "
            "only SignatureVersion 2 with HmacSHA256 or HmacSHA1 is accepted.",
        )
    credential = credential_for(
        resolver, params["AWSAccessKeyId"], params.get("SecurityToken"), family=family, now=now
    )
    _check_query_time(params, family, now, skew_seconds)
    canonical = "&".join(
        f"{quote(name, safe='-_~')}={quote(value, safe='-_~')}"
        for name, value in sorted(params.items())
        if name != "Signature"
    )
    path = request.raw_path or "/"
    provided = params["Signature"]
    for host in _host_candidates(request.host):
        string_to_sign = f"{request.method.upper()}\n{host}\n{path}\n{canonical}"
        if _matches(credential.secret_access_key, string_to_sign, provided, _DIGESTS[method]):
            return V2Result(credential, "sigv2")
    fail(family, Failure.BAD_SIGNATURE, AWSAccessKeyId=params["AWSAccessKeyId"])


def _check_query_time(params: dict[str, str], family: str, now: dt.datetime, skew_seconds: int) -> None:
    if "Timestamp" in params:
        moment = parse_iso8601(params["Timestamp"])
        if moment is None:
            fail(family, Failure.MALFORMED, detail=f"Invalid Timestamp '{params['Timestamp']}'.")
        check_skew(family, moment, now, skew_seconds, params["Timestamp"])
    elif "Expires" in params:
        moment = parse_iso8601(params["Expires"])
        if moment is None:
            fail(family, Failure.MALFORMED, detail=f"Invalid Expires '{params['Expires']}'.")
        if now > moment:
            fail(
                family, Failure.PRESIGN_EXPIRED,
                request_time=params["Expires"], limit=iso_z(now), now=iso_z(now), minutes=0,
            )
    else:
        fail(family, Failure.MALFORMED, detail="Request must contain either a Timestamp or an Expires parameter.")


def _host_candidates(host: str) -> list[str]:
    """The host as sent, lowercased; and without a default port some clients leave out."""
    host = host.lower()
    candidates = [host]
    for port in (":80", ":443"):
        if host.endswith(port):
            candidates.append(host[: -len(port)])
    return candidates


# ---- S3 ------------------------------------------------------------------------------


def is_s3_header_v2(request: HttpRequest) -> bool:
    return (request.headers.get("authorization") or "").startswith("AWS ")


def is_s3_query_v2(request: HttpRequest) -> bool:
    query = "&" + request.query_string
    return "&Signature=" in query and "&AWSAccessKeyId=" in query


def verify_s3(
    request: HttpRequest,
    *,
    resolver: CredentialResolver,
    now: dt.datetime,
    skew_seconds: int,
    virtual_host_bucket: str | None,
) -> V2Result:
    query = dict(request.query)
    if is_s3_header_v2(request):
        header = request.headers.get("authorization") or ""
        access_key_id, sep, provided = header[4:].strip().rpartition(":")
        if not sep or not access_key_id or not provided:
            fail(
                "s3", Failure.UNSUPPORTED,
                s3_detail="AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                ArgumentName="Authorization", ArgumentValue=header,
            )
        token = request.headers.get("x-amz-security-token")
        date_line = _s3_header_date(request, skew_seconds, now)
    else:
        access_key_id, provided = query.get("AWSAccessKeyId", ""), query.get("Signature", "")
        expires = query.get("Expires", "")
        if not access_key_id or not provided or not expires.isdigit():
            fail("s3", Failure.QUERY_INCOMPLETE)
        token = query.get("x-amz-security-token") or request.headers.get("x-amz-security-token")
        if now.timestamp() > int(expires):
            fail(
                "s3", Failure.PRESIGN_EXPIRED,
                Expires=iso_z(dt.datetime.fromtimestamp(int(expires), dt.timezone.utc)), ServerTime=iso_z(now),
            )
        date_line = expires
    credential = credential_for(resolver, access_key_id, token, family="s3", now=now)
    head = _s3_head(request, query, date_line)
    strings = [head + resource for resource in _s3_resources(request, query, virtual_host_bucket)]
    for string_to_sign in strings:
        if _matches(credential.secret_access_key, string_to_sign, provided, hashlib.sha1):
            return V2Result(credential, "sigv2-s3")
    fail(
        "s3", Failure.BAD_SIGNATURE,
        AWSAccessKeyId=access_key_id, StringToSign=strings[0], SignatureProvided=provided,
        StringToSignBytes=" ".join(f"{byte:02x}" for byte in strings[0].encode()),
    )


def _s3_header_date(request: HttpRequest, skew_seconds: int, now: dt.datetime) -> str:
    """The Date line: empty when x-amz-date is sent (it is signed among the x-amz headers)."""
    amz_date = request.headers.get("x-amz-date")
    shown = amz_date or request.headers.get("date") or ""
    moment = parse_http_date(shown) if shown else None
    if moment is None:
        fail("s3", Failure.MISSING_DATE)
    check_skew("s3", moment, now, skew_seconds, shown)
    return "" if amz_date else shown


def _s3_head(request: HttpRequest, query: dict[str, str], date_line: str) -> str:
    amz: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower().startswith("x-amz-"):
            amz.setdefault(name.lower(), []).append(value.strip())
    for name, value in query.items():  # presigned URLs carry their x-amz-* "headers" here
        if name.lower().startswith("x-amz-") and name.lower() not in amz:
            amz[name.lower()] = [value.strip()]
    lines = [
        request.method.upper(),
        (request.headers.get("content-md5") or query.get("content-md5") or "").strip(),
        (request.headers.get("content-type") or query.get("content-type") or "").strip(),
        date_line,
    ]
    lines += [f"{name}:{','.join(values)}" for name, values in sorted(amz.items())]
    return "\n".join(lines) + "\n"


def _s3_resources(request: HttpRequest, query: dict[str, str], bucket: str | None) -> list[str]:
    """Candidate resources: as addressed, and without a Eucalyptus prefix."""
    path = request.raw_path or "/"
    if bucket is None:
        bucket = _bucket_from_host(request.host)
    if bucket:
        path = "/" + bucket + path
    paths = [path]
    for prefix in _S3_PATH_PREFIXES:
        if path.startswith(prefix + "/"):
            paths.append(path[len(prefix):])
    # botocore signs a bucket-level path-style request ('/b?uploads') as '/b/?uploads'.
    paths += [p + "/" for p in paths if p.count("/") == 1 and len(p) > 1]
    subresources = []
    for item in request.query_string.split("&"):
        name, sep, value = item.partition("=")
        if name in S3_SUBRESOURCES:
            subresources.append((name, f"{name}={unquote(value)}" if sep else name))
    suffix = ""
    if subresources:
        suffix = "?" + "&".join(text for _, text in sorted(subresources, key=lambda pair: pair[0]))
    return [p + suffix for p in paths]


def _bucket_from_host(host: str) -> str:
    """'bucket.s3.example.com' -> 'bucket' (virtual-host addressing); '' otherwise."""
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
    for marker in (".s3.", ".s3-"):
        index = name.find(marker)
        if index > 0:
            return name[:index]
    return ""


def _matches(secret: str, string_to_sign: str, provided: str, digest) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), digest).digest())
    return hmac.compare_digest(expected, provided.strip().encode("utf-8", "replace"))
