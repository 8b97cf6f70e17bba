"""ACL operations: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl.

A new ACL comes from exactly one of: a canned ACL (``x-amz-acl``), grant
headers (``x-amz-grant-*``), or an AccessControlPolicy document in the body;
what the grants mean is :mod:`.grants`, how they are enforced :mod:`.authz`.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.s3 import catalog, errors, grants
from silvereye.services.s3.catalog import Bucket


def _new_acl(conn: Any, params: dict[str, Any], owner: str, bucket_owner: str) -> dict[str, Any]:
    from_headers = grants.from_headers(conn, params, owner, bucket_owner)
    document = params.get("AccessControlPolicy")
    if from_headers is not None and document:
        raise errors.s3("UnexpectedContent", "This request does not support content", 400)
    if from_headers is not None:
        return from_headers
    if not document:
        raise errors.s3("MissingSecurityHeader", "Your request was missing a required header", 400,
                        MissingHeaderName="x-amz-acl")
    return grants.from_policy(conn, document, owner)


def get_bucket_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    with ctx.store.read() as conn:
        return grants.to_policy(conn, bucket.acl)


def put_bucket_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as conn:
        bucket = catalog.lock_bucket(conn, params["Bucket"])
        acl = _new_acl(conn, params, bucket.account_id, bucket.account_id)
        catalog.update_bucket(conn, bucket.name, acl=catalog.dumps(acl))
    return {}


def get_object_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = catalog.addressed(conn, params)
        return grants.to_policy(conn, row.acl or grants.private(row.owner))


def put_object_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as conn:
        bucket = catalog.lock_bucket(conn, params["Bucket"])
        row = catalog.addressed(conn, params)
        acl = _new_acl(conn, params, row.owner, bucket.account_id)
        catalog.set_object_fields(conn, row, acl=catalog.dumps(acl))
    return {}
