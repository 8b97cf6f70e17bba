"""Objects: PutObject (streamed to disk), GetObject, HeadObject, DeleteObject, DeleteObjects.

PutObject runs on the event loop and reads the verified body as it arrives
(:mod:`.ingest`); the store is touched in worker threads. The object becomes
visible in one transaction once its blob is on disk and every digest the
client sent (Content-MD5, x-amz-checksum-*, or a trailer) has matched.
GetObject opens the object's extents and hands the descriptors to the
gateway, which sends them in chunks; nothing is read whole.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.s3 import authz, catalog, checksums, errors, grants, ingest, names, props, reading
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.catalog import Bucket, Extent, NewVersion, Version
from silvereye.services.s3.deletion import delete_key
from silvereye.services.s3.writes import commit_object, new_acl, receive_verified, version_header, writer_account
from silvereye.services.s3.lifecycle_rules import expiration_header

OVERRIDES = {
    "ResponseContentType": "ContentType",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseExpires": "Expires",
    "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
}
MAX_DELETE_KEYS = 1000


async def put_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    key = names.check_key(params["Key"])
    if params.get("WriteOffsetBytes") is not None:
        raise errors.not_implemented("Appending to objects (x-amz-write-offset-bytes) is for S3 Express directory buckets")
    props.refuse_unsupported(params)
    storage_class = props.storage_class(params)
    headers, metadata = props.content_headers(params), props.metadata(params)
    tags = props.tags_from_header(params.get("Tagging"))
    acl = await ingest.blocking(new_acl, ctx, params, bucket) if grants.requested(params) else \
        grants.private(writer_account(ctx, bucket))
    received, checksum = await receive_verified(ctx, params)
    new = NewVersion(size=received.size, etag=received.md5, owner=writer_account(ctx, bucket),
                     storage_class=storage_class, headers=headers, metadata=metadata, checksum=checksum, tags=tags, acl=acl)
    items = [Extent(received.blob, 0, received.size)] if received.blob else []
    row, bucket = await ingest.blocking(commit_object, ctx.store, ctx.config, bucket.name, key, new, items, params,
                                        [received.blob] if received.blob else [])
    return {"ETag": row.quoted_etag, "VersionId": version_header(bucket, row), **checksums.shape(checksum),
            "Expiration": expiration_header(bucket, row)}


# -- reads ----------------------------------------------------------------------------------


def _lookup(ctx: RequestContext, bucket: Bucket, params: dict[str, Any]) -> tuple[Version, list[Extent]]:
    key = names.check_key(params["Key"])
    version_id = names.check_version_id(params["VersionId"]) if params.get("VersionId") else None
    with ctx.store.read() as conn:
        row = catalog.find(conn, bucket.name, key, version_id)
        if row is None:
            if version_id:
                raise errors.no_such_version(params["Key"], version_id)
            raise errors.no_such_key(params["Key"])
        items = [] if row.delete_marker else catalog.extents_of(conn, catalog.OBJECT, row.id)
    if row.delete_marker:
        extra = ctx.extras.setdefault("response_headers", [])
        extra += [("x-amz-delete-marker", "true"), ("x-amz-version-id", row.version_id)]
        if version_id:
            extra.append(("Last-Modified", reading.http_date(row.last_modified)))
            raise errors.method_not_allowed(ctx.request.method, "DeleteMarker")
        raise errors.no_such_key(params["Key"])
    return row, items


def _describe(bucket: Bucket, row: Version, params: dict[str, Any], anonymous: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ETag": row.quoted_etag,
        "LastModified": row.last_modified,
        "ContentLength": row.size,
        "AcceptRanges": "bytes",
        "Metadata": row.metadata or None,
        "VersionId": version_header(bucket, row),
        "StorageClass": row.storage_class if row.storage_class != "STANDARD" else None,
        "TagCount": len(row.tags) if row.tags else None,
        "Expiration": expiration_header(bucket, row),
        **props.headers_shape(row.headers),
    }
    overrides = {member: params[name] for name, member in OVERRIDES.items() if params.get(name) is not None}
    if overrides and anonymous:
        raise errors.invalid_request("Request specific response headers cannot be used for anonymous GET requests.")
    out.update(overrides)
    return out


def _read(ctx: RequestContext, params: dict[str, Any], *, head: bool) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    props.refuse_unsupported(params)
    if params.get("Range") and params.get("PartNumber"):
        raise errors.invalid_request("Cannot specify both Range header and partNumber query parameter")
    for _ in range(5):  # a concurrent overwrite may free the blobs between reading rows and opening them
        row, items = _lookup(ctx, bucket, params)
        try:
            reading.check_conditions(row, params)
        except Exception:
            extra = ctx.extras.setdefault("response_headers", [])
            extra += [("ETag", row.quoted_etag), ("Last-Modified", reading.http_date(row.last_modified))]
            raise
        out = _describe(bucket, row, params, ctx.principal.is_anonymous)
        if params.get("PartNumber") is not None:
            span = reading.part_range(row, params["PartNumber"])
            if row.parts:
                out["PartsCount"] = len(row.parts)
            else:
                span = None  # part 1 of an object uploaded whole is the object: a plain 200
        else:
            span = reading.parse_range(params.get("Range"), row.size)
        if span is not None and row.size:
            first, last = span
            out["ContentRange"] = f"bytes {first}-{last}/{row.size}"
            out["ContentLength"] = last - first + 1
        else:
            first, last = 0, row.size - 1
            if params.get("ChecksumMode") == "ENABLED" and row.checksum:
                out.update(checksums.shape(row.checksum))
        if head or row.size == 0:
            if not head:
                out["Body"] = b""
            return out
        try:
            out["Body"] = reading.open_bodies(for_config(ctx.config), items, first, last)
        except FileNotFoundError:
            continue
        return out
    raise errors.s3("SlowDown", "The object is being rewritten too often to read it; please retry.", 503)


def get_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _read(ctx, params, head=False)


def head_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _read(ctx, params, head=True)


# -- deletes ------------------------------------------------------------------------------


def delete_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    with ctx.store.write() as conn:
        current = catalog.lock_bucket(conn, bucket.name)
        result, freed = delete_key(conn, current, params["Key"], params.get("VersionId"), writer_account(ctx, bucket))
    for_config(ctx.config).free(freed)
    return result


def delete_objects(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    request = params.get("Delete") or {}
    items = request.get("Objects") or []
    if not items or len(items) > MAX_DELETE_KEYS:
        raise errors.malformed_xml()
    who = authz.request_subject(ctx)
    deleted: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    freed_all: list[str] = []
    with ctx.store.write() as conn:
        current = catalog.lock_bucket(conn, bucket.name)
        for item in items:
            key, version_id = item.get("Key", ""), item.get("VersionId")
            action = "s3:DeleteObjectVersion" if version_id else "s3:DeleteObject"
            try:
                names.check_key(key)
                if not authz.allowed(who, action, current, key=key):
                    raise errors.access_denied()
                result, freed = delete_key(conn, current, key, version_id, writer_account(ctx, bucket))
            except ServiceError as e:
                failed.append({"Key": key, "VersionId": version_id, "Code": e.code, "Message": e.message})
                continue
            freed_all += freed
            entry = {"Key": key, "VersionId": version_id}
            if result.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                if not version_id:
                    entry["DeleteMarkerVersionId"] = result["VersionId"]
            deleted.append({k: v for k, v in entry.items() if v is not None})
    for_config(ctx.config).free(freed_all)
    failed = [{k: v for k, v in e.items() if v is not None} for e in failed]
    return {"Deleted": None if request.get("Quiet") else deleted, "Errors": failed or None}
