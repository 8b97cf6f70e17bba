"""ListObjects, ListObjectsV2 and ListObjectVersions: one SQL query per batch, walked by :mod:`.walk`.

Objects are listed from the ``(bucket, is_latest, key)`` index in byte order
of their keys; versions in key order, newest first within a key (row ids
grow with time). V1 pages with ``marker``/``NextMarker`` (the latter only
with a delimiter, as S3), V2 with an opaque continuation token or
``start-after``; versions with key and version-id markers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.s3 import errors, names, owners
from silvereye.services.s3.catalog import Bucket, Version
from silvereye.services.s3.tables import objects
from silvereye.services.s3.walk import Encoder, decode_token, encode_token, max_keys, start_after_marker, walk


def _text(params: dict[str, Any], member: str) -> bytes:
    return (params.get(member) or "").encode("utf-8")


def _latest_fetcher(conn: sa.Connection, bucket: str, prefix: bytes):  # noqa: ANN202
    def fetch(after: bytes | None, n: int) -> list[Any]:
        query = sa.select(objects).where(objects.c.bucket == bucket, objects.c.is_latest.is_(True),
                                         objects.c.delete_marker.is_(False))
        if prefix:
            query = query.where(objects.c.key >= prefix)
        if after is not None:
            query = query.where(objects.c.key > after)
        return conn.execute(query.order_by(objects.c.key).limit(n)).all()

    return fetch


def _content(conn: sa.Connection, row: Any, encode: Encoder, with_owner: bool) -> dict[str, Any]:
    version = Version.from_row(row)
    out: dict[str, Any] = {
        "Key": encode(version.key),
        "LastModified": version.last_modified,
        "ETag": version.quoted_etag,
        "Size": version.size,
        "StorageClass": version.storage_class,
    }
    if version.checksum:
        out["ChecksumAlgorithm"] = [version.checksum["algorithm"]]
        out["ChecksumType"] = version.checksum.get("type", "FULL_OBJECT")
    if with_owner:
        out["Owner"] = owners.owner(conn, version.owner).shape()
    return out


def _list(ctx: RequestContext, params: dict[str, Any], start: bytes | None, with_owner: bool) -> tuple[Any, Encoder, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    encode = Encoder(params)
    prefix, delimiter = _text(params, "Prefix"), _text(params, "Delimiter") or None
    limit = max_keys(params)
    with ctx.store.read() as conn:
        page = walk(_latest_fetcher(conn, bucket.name, prefix), lambda r: r.key, lambda r: r.key, lambda b: b,
                    start=start_after_marker(start, prefix, delimiter), prefix=prefix, delimiter=delimiter, limit=limit)
        contents = [_content(conn, r, encode, with_owner) for r in page.items]
    common = [{"Prefix": encode(p)} for p in page.prefixes]
    result = {
        "Name": bucket.name,
        "Prefix": encode(params.get("Prefix") or ""),
        "Delimiter": encode(params.get("Delimiter")),
        "MaxKeys": limit,
        "IsTruncated": page.truncated,
        "Contents": contents or None,
        "CommonPrefixes": common or None,
        "EncodingType": encode.type,
    }
    return result, encode, page


def list_objects(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    marker = params.get("Marker")
    result, encode, page = _list(ctx, params, marker.encode() if marker else None, with_owner=True)
    result["Marker"] = encode(marker or "")
    if page.truncated and params.get("Delimiter"):
        result["NextMarker"] = encode(page.last_key)
    return result


def list_objects_v2(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    token = params.get("ContinuationToken")
    start_after = params.get("StartAfter")
    start = decode_token(token) if token else (start_after.encode() if start_after else None)
    result, encode, page = _list(ctx, params, start, with_owner=bool(params.get("FetchOwner")))
    result["KeyCount"] = len(page.items) + len(page.prefixes)
    result["ContinuationToken"] = token
    result["StartAfter"] = encode(start_after)
    if page.truncated:
        result["NextContinuationToken"] = encode_token(page.last_key)
    return result


# -- versions ------------------------------------------------------------------------------------


def _version_fetcher(conn: sa.Connection, bucket: str, prefix: bytes):  # noqa: ANN202
    def fetch(after: tuple[bytes, int | None] | None, n: int) -> list[Any]:
        query = sa.select(objects).where(objects.c.bucket == bucket)
        if prefix:
            query = query.where(objects.c.key >= prefix)
        if after is not None:
            key, row_id = after
            if row_id is None:
                query = query.where(objects.c.key > key)
            else:
                query = query.where(sa.or_(objects.c.key > key, sa.and_(objects.c.key == key, objects.c.id < row_id)))
        return conn.execute(query.order_by(objects.c.key, objects.c.id.desc()).limit(n)).all()

    return fetch


def _version_start(conn: sa.Connection, bucket: str, params: dict[str, Any], prefix: bytes,
                   delimiter: bytes | None) -> tuple[bytes, int | None] | None:
    key_marker = params.get("KeyMarker")
    if not key_marker:
        return None
    key = key_marker.encode()
    version_marker = params.get("VersionIdMarker")
    if version_marker:
        row_id = conn.execute(sa.select(objects.c.id).where(
            objects.c.bucket == bucket, objects.c.key == key, objects.c.version_id == version_marker)).scalar()
        if row_id is not None:
            return key, row_id
    return start_after_marker(key, prefix, delimiter), None


def list_object_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket: Bucket = ctx.extras["s3.bucket"]
    encode = Encoder(params)
    prefix, delimiter = _text(params, "Prefix"), _text(params, "Delimiter") or None
    limit = max_keys(params)
    if params.get("VersionIdMarker") and not params.get("KeyMarker"):
        raise errors.invalid_argument("A version-id marker cannot be specified without a key marker.",
                                      "version-id-marker", params["VersionIdMarker"])
    if params.get("VersionIdMarker"):
        names.check_version_id(params["VersionIdMarker"])
    versions, markers = [], []
    with ctx.store.read() as conn:
        page = walk(_version_fetcher(conn, bucket.name, prefix), lambda r: r.key, lambda r: (r.key, r.id),
                    lambda b: (b, None), start=_version_start(conn, bucket.name, params, prefix, delimiter),
                    prefix=prefix, delimiter=delimiter, limit=limit)
        for row in page.items:
            v = Version.from_row(row)
            entry = {"Key": encode(v.key), "VersionId": v.version_id, "IsLatest": v.is_latest,
                     "LastModified": v.last_modified, "Owner": owners.owner(conn, v.owner).shape()}
            if v.delete_marker:
                markers.append(entry)
            else:
                entry.update({"ETag": v.quoted_etag, "Size": v.size, "StorageClass": v.storage_class})
                if v.checksum:
                    entry["ChecksumAlgorithm"] = [v.checksum["algorithm"]]
                    entry["ChecksumType"] = v.checksum.get("type", "FULL_OBJECT")
                versions.append(entry)
    result = {
        "Name": bucket.name,
        "Prefix": encode(params.get("Prefix") or ""),
        "Delimiter": encode(params.get("Delimiter")),
        "KeyMarker": encode(params.get("KeyMarker") or ""),
        "VersionIdMarker": params.get("VersionIdMarker") or "",
        "MaxKeys": limit,
        "IsTruncated": page.truncated,
        "Versions": versions or None,
        "DeleteMarkers": markers or None,
        "CommonPrefixes": [{"Prefix": encode(p)} for p in page.prefixes] or None,
        "EncodingType": encode.type,
        **page.next_markers(encode, "NextVersionIdMarker", "version_id"),
    }
    return result
