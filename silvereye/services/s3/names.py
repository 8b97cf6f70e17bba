"""Which bucket names and object keys S3 accepts.

Bucket names follow S3's general-purpose bucket naming rules (3-63
characters of lower-case letters, digits, dots and hyphens, starting and
ending with a letter or digit, no adjacent dots, not an IP address, none of
the reserved prefixes and suffixes). Names starting ``silvereye-system-``
belong to the cloud itself (EC2 image and snapshot storage).

Keys are any UTF-8 up to 1024 bytes, as on S3. Characters that XML 1.0
cannot carry (NUL and the other C0 controls but tab, LF and CR) are refused,
because every listing would have to return them. A key is only ever a value
in the store, never a path on disk (see :mod:`.blobstore`).
"""

from __future__ import annotations

import ipaddress
import re
import secrets

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.s3 import errors

SYSTEM_PREFIX = "silvereye-system-"
MAX_KEY_BYTES = 1024

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_VERSION_ID = re.compile(r"[A-Za-z0-9_-]{32}")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid bucket name, or None."""
    if not _BUCKET.fullmatch(name):
        return "Bucket names must be 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "Bucket names must not contain two adjacent periods or a period next to a hyphen"
    try:
        ipaddress.IPv4Address(name)
        return "Bucket names must not be formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "Bucket names must not use a reserved prefix or suffix"
    return None


def check_bucket_name(name: str) -> None:
    if bucket_name_problem(name) is not None:
        raise errors.s3("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name)


def is_system_bucket_name(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIX)


def check_key(key: str) -> bytes:
    """The key as stored (UTF-8 bytes); S3's error when it cannot be one."""
    if key == "":
        raise errors.invalid_argument("Object key must not be empty", "key", "")
    encoded = key.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_KEY_BYTES:
        raise errors.s3("KeyTooLongError", "Your key is too long", 400,
                        MaxSizeAllowed=str(MAX_KEY_BYTES), Size=str(len(encoded)))
    if _XML_UNSAFE.search(key) or _has_surrogate(key):
        raise errors.invalid_argument(
            "Object key contains a character S3 cannot return in XML (a control character or NUL)", "key", repr(key)
        )
    return encoded


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def key_text(stored: bytes) -> str:
    return stored.decode("utf-8")


def new_version_id() -> str:
    """32 URL-safe characters, the shape of S3's version ids."""
    return secrets.token_urlsafe(24)


def check_version_id(version_id: str) -> str:
    if version_id != "null" and not _VERSION_ID.fullmatch(version_id):
        raise errors.invalid_argument("Invalid version id specified", "versionId", version_id)
    return version_id


def new_upload_id() -> str:
    return secrets.token_urlsafe(48)


def check_upload_id(upload_id: str) -> ServiceError | None:
    """An upload id that cannot be ours is simply not found."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,96}", upload_id):
        return errors.no_such_upload(upload_id)
    return None
