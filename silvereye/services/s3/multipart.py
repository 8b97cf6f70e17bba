"""Multipart uploads: Create, UploadPart (streamed), UploadPartCopy, Complete, Abort, ListParts, ListMultipartUploads.

Parts are received exactly like PutObject bodies (:func:`.writes.receive_verified`)
and recorded as extents of the part; CompleteMultipartUpload checks the
list against S3's rules (ascending part numbers, matching ETags and
checksums, 5 MiB minimum but for the last) and hands the parts' extents to
the new object in one transaction (:mod:`.uploads`). The object's ETag is
AWS's multipart ETag (MD5 of the parts' MD5s, ``-N``); its checksum, when
the upload asked for one, is COMPOSITE or FULL_OBJECT as requested.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

from silvereye.services.gateway.context import RequestContext
from silvereye.services.s3 import catalog, checksums, errors, ingest, names, owners, props, reading, uploads
from silvereye.services.s3.blobstore import for_config
from silvereye.services.s3.catalog import Bucket, Extent, NewVersion
from silvereye.services.s3.copy import compute, shared_extents, source_version
from silvereye.services.s3.walk import Encoder, max_keys, start_after_marker, walk
from silvereye.services.s3.writes import check_write_conditions, new_acl, receive_verified, version_header, writer_account

MAX_COPY_PART = 5 * 1024**3
_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def _initiator(ctx: RequestContext) -> tuple[str, str]:
    principal = ctx.principal
    if principal.is_anonymous:
        return "anonymous", "anonymous"
    if principal.is_root:
        return principal.arn, owners.canonical_id(principal.account_id)
    return principal.arn, principal.arn


def create_multipart_upload(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    key = names.check_key(params["Key"])
    props.refuse_unsupported(params)
    algorithm = checksums.supported(params["ChecksumAlgorithm"]) if params.get("ChecksumAlgorithm") else None
    checksum_type = params.get("ChecksumType")
    if checksum_type not in (None, "COMPOSITE", "FULL_OBJECT"):
        raise errors.invalid_argument("Invalid checksum type", "x-amz-checksum-type", checksum_type)
    if checksum_type and not algorithm:
        raise errors.invalid_request("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
    if checksum_type == "FULL_OBJECT" and not checksums.can_combine(algorithm):
        raise errors.invalid_request(f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} checksum algorithm.")
    state = {
        "storage_class": props.storage_class(params),
        "headers": props.content_headers(params),
        "metadata": props.metadata(params),
        "tags": props.tags_from_header(params.get("Tagging")),
        "acl": new_acl(ctx, params, bucket),
        "checksum_algorithm": algorithm,
        "checksum_type": (checksum_type or "COMPOSITE") if algorithm else None,
    }
    arn, initiator_id = _initiator(ctx)
    with ctx.store.write() as conn:
        catalog.lock_bucket(conn, bucket.name)
        upload_id = uploads.create(conn, bucket.name, key, writer_account(ctx, bucket), arn, initiator_id, state)
    return {"Bucket": bucket.name, "Key": params["Key"], "UploadId": upload_id, "ChecksumAlgorithm": algorithm,
            "ChecksumType": state["checksum_type"]}


def _upload(ctx: RequestContext, params: dict[str, Any]) -> uploads.Upload:
    with ctx.store.read() as conn:
        return uploads.get(conn, params["Bucket"], params["Key"], params["UploadId"])


def _commit_part(ctx: RequestContext, params: dict[str, Any], size: int, etag: str, checksum: dict[str, str] | None,
                 items: list[Extent] | Any, new_blobs: list[str]) -> uploads.Part:
    blobs = for_config(ctx.config)

    def commit(conn: Any) -> tuple[uploads.Part, list[str]]:
        catalog.lock_bucket(conn, params["Bucket"])
        uploads.get(conn, params["Bucket"], params["Key"], params["UploadId"])
        return uploads.put_part(conn, params["UploadId"], params["PartNumber"], size, etag, checksum,
                                items(conn) if callable(items) else items)

    try:
        with ctx.store.write() as conn:
            part, freed = commit(conn)
    except BaseException:
        blobs.free(new_blobs)
        raise
    blobs.free(freed)
    return part


async def upload_part(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    uploads.check_part_number(params["PartNumber"])
    props.refuse_unsupported(params)
    upload = await ingest.blocking(_upload, ctx, params)
    received, checksum = await receive_verified(ctx, params, default_algorithm=upload.algorithm)
    items = [Extent(received.blob, 0, received.size)] if received.blob else []
    part = await ingest.blocking(_commit_part, ctx, params, received.size, received.md5, checksum, items,
                                 [received.blob] if received.blob else [])
    return {"ETag": f'"{part.etag}"', **checksums.shape(checksum, with_type=False)}


def _copy_range(text: str | None, size: int) -> tuple[int, int]:
    """x-amz-copy-source-range: 'bytes=first-last', both within the source."""
    if text is None:
        if size > MAX_COPY_PART:
            raise errors.invalid_request("The specified copy source is larger than the maximum allowable size for a "
                                         f"copy source: {MAX_COPY_PART}")
        return 0, size - 1
    m = _COPY_RANGE.fullmatch(text.strip())
    if m is None or not int(m.group(1)) <= int(m.group(2)) < size:
        raise errors.invalid_argument(f"Range specified is not valid for source object of size: {size}",
                                      "x-amz-copy-source-range", text)
    first, last = int(m.group(1)), int(m.group(2))
    if last - first + 1 > MAX_COPY_PART:
        raise errors.invalid_argument("Part size must not exceed 5 GiB", "x-amz-copy-source-range", text)
    return first, last


def upload_part_copy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    uploads.check_part_number(params["PartNumber"])
    upload = _upload(ctx, params)
    _, source_bucket, src, items = source_version(ctx, params)
    first, last = _copy_range(params.get("CopySourceRange"), src.size) if src.size else (0, -1)
    blobs = for_config(ctx.config)
    whole = first == 0 and last == src.size - 1
    if whole and not src.parts:
        etag = src.etag
    else:
        digest = hashlib.md5()
        if last >= first:
            for data in reading.iter_bytes(blobs, items, first, last):
                digest.update(data)
        etag = digest.hexdigest()
    checksum = None
    if upload.algorithm:
        value = src.checksum["value"] if whole and src.checksum and src.checksum["algorithm"] == upload.algorithm \
            and not src.parts else compute(blobs, items, first, last, upload.algorithm)
        checksum = {"algorithm": upload.algorithm, "value": value, "type": "FULL_OBJECT"}
    source_extents = shared_extents(src)

    def sliced(conn: Any) -> list[Extent]:
        return [Extent(e.blob, offset, length) for e, offset, length in reading.slices(source_extents(conn), first, last)]

    part = _commit_part(ctx, params, last - first + 1, etag, checksum, sliced, [])
    return {
        "CopyPartResult": {"ETag": f'"{part.etag}"', "LastModified": catalog.to_datetime(part.modified),
                           **checksums.shape(checksum, with_type=False)},
        "CopySourceVersionId": src.version_id if source_bucket.versioning else None,
    }


def _object_checksum(upload: uploads.Upload, chosen: list[uploads.Part]) -> dict[str, str] | None:
    algorithm = upload.algorithm
    if not algorithm:
        return None
    values = [p.checksum["value"] for p in chosen]
    if upload.props.get("checksum_type") == "FULL_OBJECT":
        value = checksums.combine_crc(algorithm, [(v, p.size) for v, p in zip(values, chosen)])
        return {"algorithm": algorithm, "value": value, "type": "FULL_OBJECT"}
    return {"algorithm": algorithm, "value": checksums.composite(algorithm, values), "type": "COMPOSITE"}


def complete_multipart_upload(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    requested = (params.get("MultipartUpload") or {}).get("Parts") or []
    key = names.check_key(params["Key"])
    with ctx.store.write() as conn:
        bucket = catalog.lock_bucket(conn, params["Bucket"])
        upload = uploads.get(conn, bucket.name, params["Key"], params["UploadId"])
        have = {p.number: p for p in uploads.all_parts(conn, upload.upload_id)}
        chosen = uploads.check_completion(upload, requested, have)
        size = sum(p.size for p in chosen)
        if params.get("MpuObjectSize") is not None and params["MpuObjectSize"] != size:
            raise errors.invalid_request("The provided 'x-amz-mp-object-size' header value doesn't match the total "
                                         "size of all parts.")
        checksum = _object_checksum(upload, chosen)
        state = upload.props
        new = NewVersion(size=size, etag=checksums.multipart_etag([p.etag for p in chosen]), owner=upload.owner,
                         storage_class=state.get("storage_class") or "STANDARD", headers=state.get("headers") or {},
                         metadata=state.get("metadata") or {}, checksum=checksum, tags=state.get("tags"),
                         acl=state.get("acl"), parts=[p.size for p in chosen])
        items = uploads.extents_in_order(conn, chosen)
        check_write_conditions(conn, bucket, key, params)
        row, freed = catalog.put_version(conn, bucket, key, new, items)
        freed = catalog.unreferenced(conn, set(freed) | uploads.drop(conn, upload.upload_id))
    for_config(ctx.config).free(freed)
    host = ctx.request.host or "localhost"
    return {
        "Location": f"{ctx.request.scheme}://{host}/{quote(bucket.name)}/{quote(params['Key'])}",
        "Bucket": bucket.name,
        "Key": params["Key"],
        "ETag": row.quoted_etag,
        "VersionId": version_header(bucket, row),
        **checksums.shape(checksum),
    }


def abort_multipart_upload(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as conn:
        catalog.lock_bucket(conn, params["Bucket"])
        upload = uploads.get(conn, params["Bucket"], params["Key"], params["UploadId"])
        freed = uploads.abort(conn, upload.upload_id)
    for_config(ctx.config).free(freed)
    return {}


def _people(conn: Any, upload: uploads.Upload) -> dict[str, Any]:
    owner = owners.owner(conn, upload.owner)
    name = upload.initiator_arn.rsplit("/", 1)[-1] if "/" in upload.initiator_arn else owner.display_name
    return {"Initiator": {"ID": upload.initiator_id, "DisplayName": name}, "Owner": owner.shape()}


def list_parts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = max_keys(params, "MaxParts")
    marker = params.get("PartNumberMarker") or 0
    with ctx.store.read() as conn:
        upload = uploads.get(conn, params["Bucket"], params["Key"], params["UploadId"])
        found = uploads.all_parts(conn, upload.upload_id, after=marker, limit=limit + 1)
        people = _people(conn, upload)
    truncated = len(found) > limit
    found = found[:limit]
    return {
        "Bucket": params["Bucket"], "Key": params["Key"], "UploadId": upload.upload_id,
        "PartNumberMarker": marker, "NextPartNumberMarker": found[-1].number if found else None,
        "MaxParts": limit, "IsTruncated": truncated,
        "Parts": [{"PartNumber": p.number, "LastModified": catalog.to_datetime(p.modified), "ETag": f'"{p.etag}"',
                   "Size": p.size, **checksums.shape(p.checksum, with_type=False)} for p in found] or None,
        "StorageClass": upload.props.get("storage_class") or "STANDARD",
        "ChecksumAlgorithm": upload.algorithm, "ChecksumType": upload.props.get("checksum_type"),
        **people,
    }


def list_multipart_uploads(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    encode = Encoder(params)
    prefix = (params.get("Prefix") or "").encode()
    delimiter = (params.get("Delimiter") or "").encode() or None
    limit = max_keys(params, "MaxUploads")
    start = None
    if params.get("KeyMarker"):
        key_marker = params["KeyMarker"].encode()
        start = (start_after_marker(key_marker, prefix, delimiter), -1, "")
        if params.get("UploadIdMarker"):
            with ctx.store.read() as conn:
                marked = uploads.find_row(conn, params["UploadIdMarker"])
            if marked is not None and marked.key == key_marker:
                start = (key_marker, marked.initiated, marked.upload_id)
    with ctx.store.read() as conn:
        page = walk(lambda after, n: uploads.in_bucket(conn, bucket.name, prefix, after, n), lambda r: r.key,
                    lambda r: (r.key, r.initiated, r.upload_id), lambda b: (b, -1, ""), start=start, prefix=prefix,
                    delimiter=delimiter, limit=limit)
        entries = []
        for row in page.items:
            upload = uploads.Upload.from_row(row)
            entries.append({"UploadId": upload.upload_id, "Key": encode(upload.key),
                            "Initiated": catalog.to_datetime(upload.initiated),
                            "StorageClass": upload.props.get("storage_class") or "STANDARD",
                            "ChecksumAlgorithm": upload.algorithm, "ChecksumType": upload.props.get("checksum_type"),
                            **_people(conn, upload)})
    result = {
        "Bucket": bucket.name, "KeyMarker": encode(params.get("KeyMarker") or ""),
        "UploadIdMarker": params.get("UploadIdMarker") or "", "Prefix": encode(params.get("Prefix") or ""),
        "Delimiter": encode(params.get("Delimiter")), "MaxUploads": limit, "IsTruncated": page.truncated,
        "Uploads": entries or None, "CommonPrefixes": [{"Prefix": encode(p)} for p in page.prefixes] or None,
        "EncodingType": encode.type,
        **page.next_markers(encode, "NextUploadIdMarker", "upload_id"),
    }
    return result


