"""Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy.

A policy is validated by the IAM engine as a resource policy (every
statement names a Principal), and must speak of this bucket and of S3
actions only; S3 answers every fault with ``MalformedPolicy`` and IAM's
explanation. It is stored as sent (GetBucketPolicy returns the same text)
and evaluated by :mod:`.authz` on every request to the bucket.
"""

from __future__ import annotations

import json
from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam.policy import MalformedPolicyDocument, parse_policy
from silvereye.services.s3 import catalog, errors

MAX_POLICY = 20 * 1024


def _malformed(message: str) -> errors.ServiceError:
    return errors.s3("MalformedPolicy", message, 400)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check(bucket: str, text: str) -> None:
    if len(text.encode("utf-8")) > MAX_POLICY:
        raise _malformed("Policies must be no larger than 20 KB")
    try:
        parse_policy(text, kind="resource")
    except MalformedPolicyDocument as e:
        raise _malformed(e.message) from None
    statements = _as_list(json.loads(text).get("Statement"))
    own = f"arn:aws:s3:::{bucket}"
    for st in statements:
        for resource in _as_list(st.get("Resource", st.get("NotResource", []))):
            if not (resource == own or resource.startswith(own + "/")):
                raise _malformed("Policy has invalid resource")
        for action in _as_list(st.get("Action", st.get("NotAction", []))):
            if not (action == "*" or action.lower().startswith("s3:")):
                raise _malformed("Policy has invalid action")


def put_bucket_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    text = params.get("Policy") or ""
    if not text.lstrip().startswith("{"):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    _check(params["Bucket"], text)
    catalog.configure(ctx.store, params["Bucket"], policy=text)
    return {}


def get_bucket_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = ctx.extras["s3.bucket"]
    if not bucket.policy:
        raise errors.not_configured("NoSuchBucketPolicy", "The bucket policy does not exist", bucket.name)
    return {"Policy": bucket.policy}


def delete_bucket_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    catalog.configure(ctx.store, params["Bucket"], policy=None)
    return {}
