"""S3's authorizer (``Service.authorize``): the action and resource of each operation, checked before the handler.

It loads the bucket the request names (NoSuchBucket comes before AccessDenied,
as on S3: bucket names are public), leaves it in ``ctx.extras['s3.bucket']``
for the handler, adds CORS headers for cross-origin callers, checks a
buffered body against the hash it was signed with, and asks :mod:`.authz`.
CopyObject and UploadPartCopy also need read access to their source.

Action names follow the S3 "Actions, resources, and condition keys" page:
reads of a specific version use the ``...Version`` action, and a PUT that
sets an ACL or tags also needs ``s3:PutObjectAcl`` / ``s3:PutObjectTagging``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from silvereye.services.gateway.auth.dialect import Failure, error as auth_error
from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import not_implemented
from silvereye.services.s3 import authz, catalog, checksums, cors, errors, grants, names
from silvereye.services.s3.catalog import Bucket

NO_BUCKET = {"ListBuckets": "s3:ListAllMyBuckets", "CreateBucket": "s3:CreateBucket"}

BUCKET_ACTIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteBucket": "s3:DeleteBucket",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketTagging": "s3:GetBucketTagging",
    "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy",
    "GetBucketAcl": "s3:GetBucketAcl",
    "PutBucketAcl": "s3:PutBucketAcl",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "PutBucketVersioning": "s3:PutBucketVersioning",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "DeleteObjects": "s3:DeleteObject",  # and per key, in the handler
}

# Operation -> (action, action on a specific version)
OBJECT_ACTIONS = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "PutObject": ("s3:PutObject", None),
    "CopyObject": ("s3:PutObject", None),
    "CreateMultipartUpload": ("s3:PutObject", None),
    "UploadPart": ("s3:PutObject", None),
    "UploadPartCopy": ("s3:PutObject", None),
    "CompleteMultipartUpload": ("s3:PutObject", None),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", None),
    "ListParts": ("s3:ListMultipartUploadParts", None),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "GetObjectAcl": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
    "PutObjectAcl": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
    "GetObjectTagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
}

# Object operations whose decision may depend on the object's own ACL.
_READS_OBJECT = {"GetObject", "HeadObject", "GetObjectAcl", "PutObjectAcl"}
_OWNER_ONLY = {"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"}


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


def parse_copy_source(text: str) -> CopySource:
    """``x-amz-copy-source``: 'bucket/key' or '/bucket/key', URL-encoded, optionally '?versionId=...'."""
    path, _, query = text.partition("?")
    version_id = None
    if query:
        name, _, value = query.partition("=")
        if name != "versionId" or not value:
            raise errors.invalid_argument("Invalid copy source: only the versionId query parameter is accepted",
                                          "x-amz-copy-source", text)
        version_id = names.check_version_id(unquote(value))
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise errors.invalid_argument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                                      "x-amz-copy-source", text)
    return CopySource(bucket, key, version_id)


def _condition_keys(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "s3:authType": {"sigv4": "REST-HEADER", "sigv4-query": "REST-QUERY-STRING", "sigv2-s3": "REST-HEADER",
                        "sigv2": "REST-HEADER"}.get(ctx.auth_type, "REST-HEADER"),
        "s3:signatureversion": "AWS4-HMAC-SHA256" if ctx.auth_type.startswith("sigv4") else "AWS",
    }
    if ctx.auth_type == "sigv2-s3" and "Signature=" in ctx.request.query_string:
        keys["s3:authType"] = "REST-QUERY-STRING"
    headers = ctx.request.headers
    for header, key in (("referer", "aws:Referer"), ("user-agent", "aws:UserAgent")):
        if headers.get(header):
            keys[key] = headers.get(header)
    for member, key in (("Prefix", "s3:prefix"), ("Delimiter", "s3:delimiter"), ("MaxKeys", "s3:max-keys"),
                        ("ACL", "s3:x-amz-acl"), ("VersionId", "s3:VersionId"),
                        ("StorageClass", "s3:x-amz-storage-class"), ("MetadataDirective", "s3:x-amz-metadata-directive")):
        if params.get(member) is not None:
            keys[key] = str(params[member])
    if params.get("CopySource"):
        keys["s3:x-amz-copy-source"] = params["CopySource"]
    return keys


def _verify_buffered_body(ctx: RequestContext, params: dict[str, Any]) -> None:
    """A body read whole (XML documents) must match the hash it was signed with and any Content-MD5."""
    request = ctx.request
    if request.stream is not None and not request.body and not request.stream.consumed:
        return  # streamed: checked as it is read
    payload = ctx.extras.get("payload")
    declared = payload.content_sha256 if payload is not None else ""
    if len(declared) == 64 and all(c in "0123456789abcdef" for c in declared):
        actual = hashlib.sha256(request.body).hexdigest()
        if actual != declared:
            raise auth_error("s3", Failure.CONTENT_SHA_MISMATCH, ClientComputedContentSHA256=declared,
                             S3ComputedContentSHA256=actual)
    md5 = request.headers.get("content-md5")
    if md5 is not None:
        expected = checksums.content_md5(md5)
        actual_md5 = hashlib.md5(request.body).digest()
        if actual_md5 != expected:
            raise errors.bad_digest(md5, base64.b64encode(actual_md5).decode())


def _object_for_acl(ctx: RequestContext, bucket: Bucket, params: dict[str, Any]) -> catalog.Version | None:
    with ctx.store.read() as conn:
        return catalog.find(conn, bucket.name, names.check_key(params["Key"]), params.get("VersionId"))


def _check_object(ctx: RequestContext, who: authz.Subject, operation: str, bucket: Bucket, params: dict[str, Any]) -> None:
    plain, versioned = OBJECT_ACTIONS[operation]
    action = versioned if versioned and params.get("VersionId") else plain
    key = params["Key"]
    names.check_key(key)
    if authz.allowed(who, action, bucket, key=key):
        pass
    elif operation in _READS_OBJECT:
        obj = _object_for_acl(ctx, bucket, params)
        if obj is None or obj.delete_marker or not authz.allowed(who, action, bucket, obj):
            if obj is None and not params.get("VersionId") and authz.allowed(who, "s3:ListBucket", bucket):
                raise errors.no_such_key(key)  # may list the bucket: may know the key is absent
            raise errors.access_denied()
    else:
        raise errors.access_denied()
    if operation == "PutObject" or operation == "CopyObject" or operation == "CreateMultipartUpload":
        if grants.requested(params):
            authz.require(who, "s3:PutObjectAcl", bucket, key=key)
        if params.get("Tagging"):
            authz.require(who, "s3:PutObjectTagging", bucket, key=key)
    if operation in ("CopyObject", "UploadPartCopy"):
        _check_copy_source(ctx, who, params)


def _check_copy_source(ctx: RequestContext, who: authz.Subject, params: dict[str, Any]) -> None:
    source = parse_copy_source(params["CopySource"])
    with ctx.store.read() as conn:
        bucket = catalog.require_bucket(conn, source.bucket)
        key = names.check_key(source.key)
        obj = catalog.find(conn, bucket.name, key, source.version_id)
    action = "s3:GetObjectVersion" if source.version_id else "s3:GetObject"
    if obj is None or obj.delete_marker:
        if authz.allowed(who, action, bucket, key=source.key):
            if source.version_id:
                raise errors.no_such_version(source.key, source.version_id)
            raise errors.no_such_key(source.key)
        raise errors.access_denied()
    authz.require(who, action, bucket, obj)
    ctx.extras["s3.copy_source"] = (source, bucket)


def authorize(ctx: RequestContext, operation: str, params: dict[str, Any]) -> None:
    from silvereye.services.s3 import SERVICE  # the handlers, to answer NotImplemented before AccessDenied

    if operation not in SERVICE.handlers:
        raise not_implemented("s3", operation)
    _verify_buffered_body(ctx, params)
    keys = _condition_keys(ctx, params)
    if operation in NO_BUCKET:
        authz.request_subject(ctx, keys)
        resource = "arn:aws:s3:::*" if operation == "ListBuckets" else f"arn:aws:s3:::{params['Bucket']}"
        authz.require_identity(ctx, NO_BUCKET[operation], resource)
        return
    name = params["Bucket"]
    with ctx.store.read() as conn:
        bucket = catalog.get_bucket(conn, name) if len(name) <= 63 else None
    if bucket is None:
        raise errors.no_such_bucket(name)
    ctx.extras["s3.bucket"] = bucket
    cors.apply(ctx, bucket)
    expected_owner = params.get("ExpectedBucketOwner")
    if expected_owner and expected_owner != bucket.account_id:
        raise errors.access_denied()
    who = authz.request_subject(ctx, keys)
    if operation in OBJECT_ACTIONS:
        _check_object(ctx, who, operation, bucket, params)
        return
    action = BUCKET_ACTIONS[operation]
    authz.require(who, action, bucket)
    if operation in _OWNER_ONLY and ctx.principal.account_id != bucket.account_id:
        raise errors.method_not_allowed(ctx.request.method, "BUCKET")
