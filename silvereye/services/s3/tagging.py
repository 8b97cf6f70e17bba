"""Tags on buckets and objects: Put/Get/Delete BucketTagging and ObjectTagging.

Limits are S3's: 50 tags on a bucket, 10 on an object, keys up to 128 and
values up to 256 characters, no duplicate keys, no ``aws:`` prefix. Object
tags belong to one version; without a versionId the latest is meant.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.s3 import catalog, errors, props
from silvereye.services.s3.catalog import Bucket, Version


def put_bucket_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = props.check_tags((params.get("Tagging") or {}).get("TagSet") or [], props.MAX_BUCKET_TAGS)
    catalog.configure(ctx.store, params["Bucket"], tags=catalog.dumps(tags))
    return {}


def get_bucket_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    if not bucket.tags:
        raise errors.not_configured("NoSuchTagSet", "The TagSet does not exist", bucket.name)
    return {"TagSet": bucket.tags}


def delete_bucket_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    catalog.configure(ctx.store, params["Bucket"], tags=None)
    return {}


def _version_out(ctx: RequestContext, row: Version) -> str | None:
    return row.version_id if ctx.extras["s3.bucket"].versioning else None


def put_object_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = props.check_tags((params.get("Tagging") or {}).get("TagSet") or [], props.MAX_OBJECT_TAGS)
    with ctx.store.write() as conn:
        catalog.lock_bucket(conn, params["Bucket"])
        row = catalog.addressed(conn, params)
        catalog.set_object_fields(conn, row, tags=catalog.dumps(tags or None))
    return {"VersionId": _version_out(ctx, row)}


def get_object_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = catalog.addressed(conn, params)
    return {"TagSet": row.tags or [], "VersionId": _version_out(ctx, row)}


def delete_object_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as conn:
        catalog.lock_bucket(conn, params["Bucket"])
        row = catalog.addressed(conn, params)
        catalog.set_object_fields(conn, row, tags=None)
    return {"VersionId": _version_out(ctx, row)}
