"""Buckets: CreateBucket, DeleteBucket, HeadBucket, ListBuckets, GetBucketLocation.

The cloud has one region (``cfg.region``); a bucket is created there, and a
LocationConstraint naming anything else is refused the way S3 refuses a
constraint that does not match the endpoint. Bucket names are global:
another account's bucket is ``BucketAlreadyExists``, one's own
``BucketAlreadyOwnedByYou``; names under ``silvereye-system-`` belong to
the cloud's own buckets (see :mod:`.internal`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.models import service_model
from silvereye.services.s3 import catalog, errors, grants, names, owners
from silvereye.services.s3.catalog import Bucket
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.tables import buckets, objects
from silvereye.services.s3.walk import decode_token, encode_token

DEFAULT_MAX_BUCKETS = 10000


def _aws_regions() -> set[str]:
    shape = service_model("s3").shape_for("BucketLocationConstraint")
    return set(shape.enum or ())


def _check_location(constraint: str | None, region: str) -> None:
    if not constraint or constraint == region:
        return
    if constraint in _aws_regions() or constraint in ("EU", "us-east-1"):
        raise errors.s3("IllegalLocationConstraintException",
                        f"The {constraint} location constraint is incompatible for the region specific endpoint "
                        "this request was sent to.", 400)
    raise errors.s3("InvalidLocationConstraint", "The specified location-constraint is not valid", 400,
                    LocationConstraint=constraint)


def create_bucket(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Bucket"]
    names.check_bucket_name(name)
    if names.is_system_bucket_name(name):
        raise catalog.already_exists(name)
    config = params.get("CreateBucketConfiguration") or {}
    if config.get("Location") or config.get("Bucket"):
        raise errors.not_implemented("Directory buckets (S3 Express) are not offered by silvereye.")
    _check_location(config.get("LocationConstraint"), ctx.config.region)
    if params.get("ObjectLockEnabledForBucket"):
        raise errors.not_implemented("S3 Object Lock is not supported by silvereye.")
    if params.get("ObjectOwnership") not in (None, "ObjectWriter", "BucketOwnerPreferred"):
        raise errors.not_implemented("silvereye buckets keep ACLs enabled: ObjectOwnership must be ObjectWriter or "
                                     "BucketOwnerPreferred.")
    owner = ctx.account_id
    with ctx.store.write() as conn:
        acl = grants.from_headers(conn, params, owner) or grants.private(owner)
        catalog.insert_bucket(conn, name, owner, ctx.config.region, acl)
    return {"Location": f"/{name}", "BucketArn": f"arn:aws:s3:::{name}"}


def delete_bucket(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Bucket"]
    with ctx.store.write() as conn:
        catalog.lock_bucket(conn, name)
        if conn.execute(sa.select(objects.c.id).where(objects.c.bucket == name).limit(1)).first() is not None:
            raise errors.s3("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=name)
        freed = catalog.delete_bucket_contents(conn, name)  # incomplete multipart uploads go with it
        conn.execute(sa.delete(buckets).where(buckets.c.name == name))
        freed_now = catalog.unreferenced(conn, freed)
    for_config(ctx.config).free(freed_now)
    return {}


def head_bucket(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    return {"BucketRegion": bucket.region, "AccessPointAlias": False, "BucketArn": bucket.arn}


def get_bucket_location(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"LocationConstraint": ctx.extras["s3.bucket"].region}


def list_buckets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("MaxBuckets") or DEFAULT_MAX_BUCKETS
    if not 1 <= limit <= DEFAULT_MAX_BUCKETS:
        raise errors.invalid_argument(f"Argument max-buckets must be an integer between 1 and {DEFAULT_MAX_BUCKETS}",
                                      "max-buckets", limit)
    prefix = params.get("Prefix") or ""
    query = sa.select(buckets).where(buckets.c.account_id == ctx.account_id, buckets.c.system.is_(False))
    if prefix:
        query = query.where(buckets.c.name >= prefix)
    if params.get("ContinuationToken"):
        query = query.where(buckets.c.name > decode_token(params["ContinuationToken"]).decode())
    if params.get("BucketRegion"):
        query = query.where(buckets.c.region == params["BucketRegion"])
    with ctx.store.read() as conn:
        rows = [r for r in conn.execute(query.order_by(buckets.c.name).limit(limit + 1)) if r.name.startswith(prefix)]
        owner = owners.owner(conn, ctx.account_id).shape()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "Buckets": [{"Name": r.name, "CreationDate": catalog.to_datetime(r.created), "BucketRegion": r.region,
                     "BucketArn": f"arn:aws:s3:::{r.name}"} for r in rows],
        "Owner": owner,
        "Prefix": params.get("Prefix"),
        "ContinuationToken": encode_token(rows[-1].name.encode()) if more else None,
    }
