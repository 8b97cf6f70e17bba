"""CopyObject: a new object (or version) from an existing one, in the same bucket or another.

No byte is copied: the new version shares the source's extents (blobs are
immutable, and freed only when no extent refers to them). The source's
extents are read again inside the committing transaction, locked against a
concurrent delete, so a copy never refers to a blob that is being freed.

The metadata directive says where the new object's metadata and content
headers come from (COPY: the source; REPLACE: this request), the tagging
directive likewise for tags; copying an object onto itself must change
something (S3's rule). A checksum algorithm different from the source's is
computed by reading the data once.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.registry import helper
from silvereye.services.s3 import catalog, checksums, errors, names, props, reading
from silvereye.services.s3.authorize import CopySource
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.catalog import Bucket, Extent, NewVersion, Version
from silvereye.services.s3.writes import commit_object, new_acl, version_header, writer_account

MAX_COPY = 5 * 1024**3


def _directive(params: dict[str, Any], member: str, what: str) -> str:
    value = params.get(member) or "COPY"
    if value not in ("COPY", "REPLACE"):
        raise errors.invalid_argument(f"Unknown {what} directive.", f"x-amz-{what}-directive", value)
    return value


@helper
def source_version(ctx: RequestContext, params: dict[str, Any]) -> tuple[CopySource, Bucket, Version, list[Extent]]:
    """The copy source (checked by the authorizer), its version and extents, with the copy conditions applied."""
    source, bucket = ctx.extras["s3.copy_source"]
    with ctx.store.read() as conn:
        row = catalog.find(conn, bucket.name, names.check_key(source.key), source.version_id)
        if row is None:
            raise errors.no_such_version(source.key, source.version_id) if source.version_id else errors.no_such_key(source.key)
        if row.delete_marker:
            if source.version_id:
                raise errors.invalid_request("The source of a copy request may not specifically refer to a delete marker by version id.")
            raise errors.no_such_key(source.key)
        items = catalog.extents_of(conn, catalog.OBJECT, row.id)
    reading.check_conditions(row, params, copy_source=True)
    return source, bucket, row, items


@helper
def shared_extents(row: Version):  # noqa: ANN201 - a function of the connection, for commit_object
    """The source's extents, re-read in the committing transaction and locked there (NoSuchKey if it went)."""

    def read(conn: Any) -> list[Extent]:
        if not catalog.row_exists(conn, row.id):
            raise errors.no_such_key(row.key)
        return catalog.extents_of(conn, catalog.OBJECT, row.id, share=True)

    return read


def copy_object(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    key = names.check_key(params["Key"])
    props.refuse_unsupported(params)
    metadata_directive = _directive(params, "MetadataDirective", "metadata")
    tagging_directive = _directive(params, "TaggingDirective", "tagging")
    storage_class = props.storage_class(params) if params.get("StorageClass") else None
    source, source_bucket, src, items = source_version(ctx, params)
    if src.size > MAX_COPY:
        raise errors.invalid_request("The specified copy source is larger than the maximum allowable size for a copy "
                                     f"source: {MAX_COPY}")
    onto_itself = source_bucket.name == bucket.name and src.key == params["Key"]
    if onto_itself and metadata_directive == "COPY" and not (storage_class or params.get("WebsiteRedirectLocation")
                                                               or params.get("ChecksumAlgorithm")):
        raise errors.invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the "
            "object's metadata, storage class, website redirect location or encryption attributes.")
    if metadata_directive == "REPLACE":
        headers, metadata = props.content_headers(params), props.metadata(params)
    else:
        headers, metadata = dict(src.headers), dict(src.metadata)
    tags = props.tags_from_header(params.get("Tagging")) if tagging_directive == "REPLACE" else src.tags
    checksum = src.checksum
    algorithm = params.get("ChecksumAlgorithm")
    if algorithm and (not checksum or checksum["algorithm"] != algorithm.upper()):
        checksum = {"algorithm": algorithm.upper(), "type": "FULL_OBJECT",
                    "value": compute(for_config(ctx.config), items, 0, src.size - 1, algorithm.upper())}
    new = NewVersion(size=src.size, etag=src.etag, owner=writer_account(ctx, bucket),
                     storage_class=storage_class or src.storage_class, headers=headers, metadata=metadata,
                     checksum=checksum, tags=tags, acl=new_acl(ctx, params, bucket), parts=src.parts)
    row, bucket = commit_object(ctx.store, ctx.config, bucket.name, key, new, shared_extents(src), params, [])
    return {
        "CopyObjectResult": {"ETag": row.quoted_etag, "LastModified": row.last_modified,
                             **checksums.shape(checksum, with_type=False)},
        "CopySourceVersionId": src.version_id if source_bucket.versioning else None,
        "VersionId": version_header(bucket, row),
    }


@helper
def compute(blobs: Any, items: list[Extent], first: int, last: int, algorithm: str) -> str:
    """The checksum of bytes first..last (base64), read from the blobs."""
    running = checksums.new(checksums.supported(algorithm))
    if last >= first:
        for data in reading.iter_bytes(blobs, items, first, last):
            running.update(data)
    return running.b64digest()
