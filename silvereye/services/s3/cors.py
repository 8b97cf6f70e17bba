"""Bucket CORS: the configuration (Put/Get/DeleteBucketCors), browser preflights, and headers on real requests.

A browser asks before a cross-origin request with an unsigned ``OPTIONS``
carrying ``Origin``, ``Access-Control-Request-Method`` and
``Access-Control-Request-Headers``; the gateway hands it to :func:`preflight`
before authentication. The first rule whose origin, method and headers all
match answers (S3 User Guide, "How does Amazon S3 evaluate the CORS
configuration on a bucket?"); the same rules add ``Access-Control-*``
headers to ordinary requests that carry an ``Origin`` (:func:`apply`).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import HttpResponse
from silvereye.services.gateway.models import service_model
from silvereye.services.gateway.protocols import serializer_for
from silvereye.services.registry import helper
from silvereye.services.s3 import catalog, errors
from silvereye.services.s3.catalog import Bucket

METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
MAX_RULES = 100
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request "
    "method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the "
    "resource's CORS spec."
)


# -- configuration ---------------------------------------------------------------------


def _check_rules(rules: list[dict[str, Any]]) -> None:
    if not rules:
        raise errors.malformed_xml()
    if len(rules) > MAX_RULES:
        raise errors.invalid_request(f"The CORS configuration must not have more than {MAX_RULES} rules")
    for rule in rules:
        for method in rule.get("AllowedMethods") or []:
            if method not in METHODS:
                raise errors.invalid_request(f"Found unsupported HTTP method in CORS config. Unsupported method is {method}")
        for what, values in (("AllowedOrigin", rule.get("AllowedOrigins")), ("AllowedHeader", rule.get("AllowedHeaders"))):
            for value in values or []:
                if value.count("*") > 1:
                    raise errors.invalid_request(f'{what} "{value}" can not have more than one wildcard.')
        if not rule.get("AllowedMethods") or not rule.get("AllowedOrigins"):
            raise errors.malformed_xml()
        if len(rule.get("ID") or "") > 255:
            raise errors.invalid_argument("The ID of a CORS rule must be at most 255 characters", "ID", rule["ID"])


def put_bucket_cors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
    _check_rules(rules)
    catalog.configure(ctx.store, params["Bucket"], cors=catalog.dumps(rules))
    return {}


def get_bucket_cors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = ctx.extras["s3.bucket"]
    if not bucket.cors:
        raise errors.not_configured("NoSuchCORSConfiguration", "The CORS configuration does not exist", bucket.name)
    return {"CORSRules": bucket.cors}


def delete_bucket_cors(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    catalog.configure(ctx.store, params["Bucket"], cors=None)
    return {}


# -- matching ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(wildcard.replace("[", "[[]").replace("?", "[?]")),
                      re.IGNORECASE if ignore_case else 0)


def _matches(value: str, patterns: list[str], ignore_case: bool = False) -> str | None:
    for pattern in patterns:
        if _pattern(pattern, ignore_case).fullmatch(value):
            return pattern
    return None


def _rule_for(bucket: Bucket, origin: str, method: str, headers: list[str]) -> tuple[dict[str, Any], str] | None:
    for rule in bucket.cors or []:
        matched_origin = _matches(origin, rule.get("AllowedOrigins") or [])
        if matched_origin is None or method not in (rule.get("AllowedMethods") or []):
            continue
        if all(_matches(h, rule.get("AllowedHeaders") or [], ignore_case=True) for h in headers):
            return rule, matched_origin
    return None


def _headers(rule: dict[str, Any], matched_origin: str, origin: str) -> list[tuple[str, str]]:
    out = []
    if matched_origin == "*":
        out.append(("Access-Control-Allow-Origin", "*"))
    else:
        out += [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
    out.append(("Access-Control-Allow-Methods", ", ".join(rule["AllowedMethods"])))
    if rule.get("ExposeHeaders"):
        out.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if rule.get("MaxAgeSeconds") is not None:
        out.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    out.append(("Vary", VARY))
    return out


@helper
def apply(ctx: RequestContext, bucket: Bucket) -> None:
    """Add the Access-Control-* headers a cross-origin request earns (none when no rule matches)."""
    origin = ctx.request.headers.get("origin")
    if not origin or not bucket.cors:
        return
    found = _rule_for(bucket, origin, ctx.request.method.upper(), [])
    if found is not None:
        ctx.extras.setdefault("response_headers", []).extend(_headers(found[0], found[1], origin))


def _error_response(error: ServiceError, request_id: str) -> HttpResponse:
    return serializer_for(service_model("s3"), "rest-xml").serialize_error(error, None, request_id)


@helper
def preflight(ctx: RequestContext) -> HttpResponse:
    """Answer a browser's OPTIONS preflight from the bucket's CORS rules."""
    request = ctx.request
    route = ctx.extras["route"]
    bucket_name = route.vhost_bucket or (route.s3_path or request.raw_path).lstrip("/").split("/", 1)[0]
    try:
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method")
        if not bucket_name:
            raise errors.s3("BadRequest", "Insufficient information. A bucket is needed for a CORS request.", 400)
        if not origin:
            raise errors.s3("BadRequest", "Insufficient information. Origin request header needed.", 400)
        if not method:
            raise errors.s3("BadRequest", "Invalid Access-Control-Request-Method: null", 400)
        with ctx.store.read() as conn:
            bucket = catalog.require_bucket(conn, bucket_name)
        if not bucket.cors:
            raise errors.s3("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", 403,
                            Method=method, ResourceType="BUCKET")
        wanted = [h.strip() for h in (request.headers.get("access-control-request-headers") or "").split(",") if h.strip()]
        found = _rule_for(bucket, origin, method.upper(), wanted)
        if found is None:
            raise errors.s3("AccessForbidden", _NOT_ALLOWED, 403, Method=method, ResourceType="OBJECT")
    except ServiceError as e:
        return _error_response(e, ctx.request_id)
    response = HttpResponse(200)
    for name, value in _headers(found[0], found[1], origin):
        response.headers.add(name, value)
    if wanted:
        response.headers.add("Access-Control-Allow-Headers", ", ".join(wanted))
    response.headers.add("x-amz-request-id", ctx.request_id)
    response.headers.add("Content-Length", "0")
    return response
