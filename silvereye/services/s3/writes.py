"""The steps every object write shares: who owns it, receiving and checking its bytes, committing it.

Used by PutObject, UploadPart (:mod:`.multipart`), CopyObject and the
internal API. Receiving happens on the event loop (bytes to a blob, see
:mod:`.ingest`); committing in a worker thread, in one transaction that
also applies the bucket's versioning and any write conditions.
"""

from __future__ import annotations

from typing import Any, Callable

from silvereye.services.gateway.context import RequestContext
from silvereye.services.s3 import catalog, checksums, errors, grants, ingest, names
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.catalog import Bucket, Extent, NewVersion, Version


def writer_account(ctx: RequestContext, bucket: Bucket) -> str:
    """Who owns what this request writes: the caller's account, the bucket owner's for anonymous writers."""
    return ctx.principal.account_id or bucket.account_id


def expected_md5(params: dict[str, Any]) -> str | None:
    """Content-MD5 as hex (None when not sent)."""
    value = params.get("ContentMD5")
    return None if value is None else checksums.content_md5(value).hex()


def declared_length(ctx: RequestContext) -> int:
    """The payload length the client announced; 411 when it announced none (S3 takes no chunked uploads)."""
    payload = ctx.extras["payload"]
    length = payload.decoded_content_length if payload.chunked else payload.content_length
    if length is None:
        raise errors.s3("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
    if length > ingest.MAX_OBJECT:
        raise errors.entity_too_large(length, ingest.MAX_OBJECT)
    return length


async def receive_verified(ctx: RequestContext, params: dict[str, Any], *, default_algorithm: str | None = None,
                           ) -> tuple[ingest.Received, dict[str, str] | None]:
    """Stream the body into a new blob and check every digest the client sent; returns it and its checksum."""
    payload = ctx.extras["payload"]
    declared_length(ctx)
    md5 = expected_md5(params)
    wanted = checksums.requested(params, payload.trailer, default_algorithm)
    body = params.get("Body")
    blobs = for_config(ctx.config)
    if isinstance(body, (bytes, bytearray)):  # buffered by the gateway (a plain handler never sees a stream)
        chunks = _one(bytes(body))
    else:
        chunks = payload.iter_decoded(body) if body is not None else _one(b"")
    received = await ingest.receive(chunks, blobs, algorithm=None if wanted.in_trailer else wanted.algorithm)
    try:
        if md5 is not None and md5 != received.md5:
            raise errors.bad_digest(checksums.md5_b64(md5), checksums.md5_b64(received.md5))
        value = payload.trailing_checksums.get(checksums.header(wanted.algorithm)) if wanted.in_trailer else received.checksum
        checksums.check(wanted, value)
    except BaseException:
        await ingest.blocking(blobs.free, [received.blob] if received.blob else [])
        raise
    checksum = {"algorithm": wanted.algorithm, "value": value, "type": "FULL_OBJECT"} if wanted.algorithm else None
    return received, checksum


async def _one(data: bytes):
    if data:
        yield data


def check_write_conditions(conn: Any, bucket: Bucket, key: bytes, params: dict[str, Any]) -> None:
    """Conditional writes (If-None-Match: *, If-Match: etag), decided in the committing transaction."""
    if params.get("IfNoneMatch") is None and params.get("IfMatch") is None:
        return
    current = catalog.latest(conn, bucket.name, key)
    exists = current is not None and not current.delete_marker
    if params.get("IfNoneMatch") is not None:
        if params["IfNoneMatch"].strip() != "*":
            raise errors.not_implemented("If-None-Match on a write accepts only '*'")
        if exists:
            raise errors.precondition_failed("If-None-Match")
    if params.get("IfMatch") is not None:
        if not exists:
            raise errors.no_such_key(names.key_text(key))
        if params["IfMatch"].strip().strip('"') != current.etag:
            raise errors.precondition_failed("If-Match")


def commit_object(store: Any, config: Any, bucket_name: str, key: bytes, new: NewVersion,
                  items: list[Extent] | Callable[[Any], list[Extent]], params: dict[str, Any],
                  new_blobs: list[str]) -> tuple[Version, Bucket]:
    """Record a new version (worker thread); frees what it replaced, or the new blobs if it fails.

    ``items`` may be a function of the connection, for extents that must be
    read inside the committing transaction (a copy shares its source's).
    """
    blobs = for_config(config)

    def commit(conn: Any) -> tuple[Version, Bucket, list[str]]:
        bucket = catalog.lock_bucket(conn, bucket_name)
        check_write_conditions(conn, bucket, key, params)
        row, freed = catalog.put_version(conn, bucket, key, new, items(conn) if callable(items) else items)
        return row, bucket, freed

    try:
        with store.write() as conn:
            row, bucket, freed = commit(conn)
    except BaseException:
        blobs.free(new_blobs)
        raise
    blobs.free(freed)
    return row, bucket


def new_acl(ctx: RequestContext, params: dict[str, Any], bucket: Bucket) -> dict[str, Any]:
    owner = writer_account(ctx, bucket)
    if not grants.requested(params):
        return grants.private(owner)
    with ctx.store.read() as conn:  # grant headers name accounts by canonical id
        return grants.from_headers(conn, params, owner, bucket.account_id) or grants.private(owner)


def version_header(bucket: Bucket, row: Version) -> str | None:
    """x-amz-version-id: sent once a bucket has ever had versioning."""
    return row.version_id if bucket.versioning else None
