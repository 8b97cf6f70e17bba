"""What a write says about the object beside its bytes: content headers, user metadata, tags, storage class.

These are read from a request's params (PutObject, CopyObject with REPLACE,
CreateMultipartUpload), validated with S3's codes, and given back in the
output shape of GetObject/HeadObject.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl

from silvereye.services.gateway.protocols import values
from silvereye.services.s3 import errors

CONTENT_MEMBERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl",
                   "Expires", "WebsiteRedirectLocation")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 stores when a PUT names none
MAX_METADATA = 2048  # bytes of user metadata (names and values)

# Storage classes whose objects are readable at once: on one box they are all the same disk.
STORAGE_CLASSES = {"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"}
# Classes that need a restore before a read: not offered.
ARCHIVE_CLASSES = {"GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS", "FSX_ONTAP"}

MAX_OBJECT_TAGS, MAX_BUCKET_TAGS = 10, 50


def refuse_unsupported(params: dict[str, Any]) -> None:
    """Encryption and object-lock requests: refused, never stored as if honoured."""
    if params.get("SSECustomerAlgorithm") or params.get("SSECustomerKey") or params.get("CopySourceSSECustomerKey"):
        raise errors.not_implemented("Server-side encryption with customer keys (SSE-C) is not supported by silvereye.")
    sse = params.get("ServerSideEncryption")
    if sse or params.get("SSEKMSKeyId"):
        raise errors.not_implemented(f"Server-side encryption ({sse or 'aws:kms'}) is not supported by silvereye: "
                                     "objects are stored unencrypted on the cloud's own disk.")
    if params.get("ObjectLockMode") or params.get("ObjectLockRetainUntilDate") or params.get("ObjectLockLegalHoldStatus"):
        raise errors.not_implemented("S3 Object Lock is not supported by silvereye.")


def storage_class(params: dict[str, Any]) -> str:
    value = params.get("StorageClass") or "STANDARD"
    if value in ARCHIVE_CLASSES:
        raise errors.not_implemented(f"The {value} storage class is not offered by silvereye; objects are stored as STANDARD.")
    if value not in STORAGE_CLASSES:
        raise errors.s3("InvalidStorageClass", "The storage class you specified is not valid", 400,
                        StorageClassRequested=value)
    return value


def content_headers(params: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for member in CONTENT_MEMBERS:
        value = params.get(member)
        if value is None:
            continue
        out[member] = values.iso8601(value) if isinstance(value, dt.datetime) else str(value)
    out.setdefault("ContentType", DEFAULT_CONTENT_TYPE)
    return out


def headers_shape(headers: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(headers)
    if "Expires" in out:
        try:
            out["Expires"] = values.parse_timestamp(out["Expires"], values.ISO8601)
        except ValueError:
            del out["Expires"]
    return out


def metadata(params: dict[str, Any]) -> dict[str, str]:
    found = {k.lower(): v for k, v in (params.get("Metadata") or {}).items()}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in found.items())
    if size > MAX_METADATA:
        raise errors.s3("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size", 400,
                        Size=str(size), MaxSizeAllowed=str(MAX_METADATA))
    return found


def check_tags(tags: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    if len(tags) > limit:
        raise errors.invalid_tag(f"{'Object' if limit == MAX_OBJECT_TAGS else 'Bucket'} tags cannot be greater than {limit}")
    seen = set()
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not key or len(key) > 128:
            raise errors.invalid_tag("The TagKey you have provided is invalid" if not key else
                                     "The TagKey you have provided is too long, max 128")
        if len(value) > 256:
            raise errors.invalid_tag("The TagValue you have provided is too long, max 256")
        if key.lower().startswith("aws:"):
            raise errors.invalid_tag("Your TagKey cannot be prefixed with aws:")
        if key in seen:
            raise errors.invalid_tag("Cannot provide multiple Tags with the same key")
        seen.add(key)
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]


def tags_from_header(text: str | None) -> list[dict[str, str]] | None:
    """x-amz-tagging: 'k1=v1&k2=v2', URL-encoded."""
    if text is None:
        return None
    pairs = parse_qsl(text, keep_blank_values=True)
    return check_tags([{"Key": k, "Value": v} for k, v in pairs], MAX_OBJECT_TAGS)
