"""Lifecycle rules: validating a configuration, and when a rule expires an object, version or upload.

Timing follows the S3 User Guide ("Setting lifecycle configuration on a
bucket", "Lifecycle and other bucket configurations"): a rule of N days
expires an object at the first midnight UTC at least N days after it was
created; a noncurrent version counts from when it stopped being current
(when its successor was written); a Date rule applies from that midnight on.

Transitions to other storage classes are refused with NotImplemented: on
one box every object lives on the same disk, and pretending to move it would
be a fake.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from silvereye.services.gateway.protocols import values
from silvereye.services.s3 import errors
from silvereye.services.s3.catalog import Bucket, Version, to_datetime

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
MAX_RULES = 1000


def _positive(value: Any, what: str) -> None:
    if value is not None and value <= 0:
        raise errors.invalid_argument(f"'{what}' must be a positive integer", what, value)


def _filter_parts(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule's filter as {'prefix', 'tags', 'gt', 'lt'}."""
    if "Filter" in rule and "Prefix" in rule:
        raise errors.malformed_xml()
    flt = rule.get("Filter")
    if flt is None:
        return {"prefix": rule.get("Prefix") or "", "tags": [], "gt": None, "lt": None}
    chosen = [k for k in ("Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan") if k in flt]
    if len(chosen) > 1:
        raise errors.malformed_xml()
    both = flt.get("And") or {}
    tags = both.get("Tags") or ([flt["Tag"]] if "Tag" in flt else [])
    return {
        "prefix": both.get("Prefix", flt.get("Prefix")) or "",
        "tags": [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags],
        "gt": both.get("ObjectSizeGreaterThan", flt.get("ObjectSizeGreaterThan")),
        "lt": both.get("ObjectSizeLessThan", flt.get("ObjectSizeLessThan")),
    }


def check_configuration(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate PutBucketLifecycleConfiguration's rules; returns them in stored (JSON) form."""
    if not rules or len(rules) > MAX_RULES:
        raise errors.malformed_xml()
    seen: set[str] = set()
    stored = []
    for rule in rules:
        rule_id = rule.get("ID") or ""
        if len(rule_id) > 255:
            raise errors.invalid_argument("ID length should not exceed allowed limit of 255", "ID", rule_id)
        if rule_id and rule_id in seen:
            raise errors.invalid_argument("Rule ID must be unique. Found same ID for more than one rule", "ID", rule_id)
        seen.add(rule_id)
        if rule.get("Status") not in ("Enabled", "Disabled"):
            raise errors.malformed_xml()
        if rule.get("Transitions") or rule.get("NoncurrentVersionTransitions") or rule.get("Transition") \
                or rule.get("NoncurrentVersionTransition"):
            raise errors.not_implemented("Lifecycle transitions are not supported: silvereye keeps every object in STANDARD.")
        flt = _filter_parts(rule)
        expiration = rule.get("Expiration")
        noncurrent = rule.get("NoncurrentVersionExpiration")
        abort = rule.get("AbortIncompleteMultipartUpload")
        if not (expiration or noncurrent or abort):
            raise errors.invalid_request("At least one action needs to be specified in a rule")
        if expiration:
            given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if expiration.get(k) is not None]
            if len(given) != 1:
                raise errors.malformed_xml()
            _positive(expiration.get("Days"), "Days")
            date = expiration.get("Date")
            if date is not None and (date.hour, date.minute, date.second, date.microsecond) != (0, 0, 0, 0):
                raise errors.invalid_argument("'Date' must be at midnight GMT", "Date", values.iso8601(date))
            if expiration.get("ExpiredObjectDeleteMarker") and flt["tags"]:
                raise errors.invalid_request("ExpiredObjectDeleteMarker cannot be specified with tag-based filters.")
        if noncurrent:
            if noncurrent.get("NoncurrentDays") is None:
                raise errors.malformed_xml()
            _positive(noncurrent.get("NoncurrentDays"), "NoncurrentDays")
            _positive(noncurrent.get("NewerNoncurrentVersions"), "NewerNoncurrentVersions")
        if abort:
            _positive(abort.get("DaysAfterInitiation"), "DaysAfterInitiation")
            if flt["tags"]:
                raise errors.invalid_request("AbortIncompleteMultipartUpload cannot be specified with Tags.")
        stored.append(_to_json(rule))
    return stored


def _to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return {"$date": values.iso8601(value.astimezone(UTC))}
    return value


def to_shape(value: Any) -> Any:
    """A stored rule back in the output shape (dates as datetimes)."""
    if isinstance(value, dict):
        if set(value) == {"$date"}:
            return values.parse_timestamp(value["$date"], values.ISO8601)
        return {k: to_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_shape(v) for v in value]
    return value


# -- evaluation ------------------------------------------------------------------------------


def next_midnight(moment: dt.datetime) -> dt.datetime:
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day if day == moment else day + DAY


def enabled(bucket: Bucket) -> list[dict[str, Any]]:
    return [to_shape(r) for r in bucket.lifecycle or [] if r.get("Status") == "Enabled"]


def applies(rule: dict[str, Any], key: str, size: int | None = None, tags: list[dict[str, str]] | None = None) -> bool:
    flt = _filter_parts(rule)
    if not key.startswith(flt["prefix"]):
        return False
    if flt["tags"]:
        have = {(t["Key"], t["Value"]) for t in tags or []}
        if not all((t["Key"], t["Value"]) in have for t in flt["tags"]):
            return False
    if size is not None:
        if flt["gt"] is not None and not size > flt["gt"]:
            return False
        if flt["lt"] is not None and not size < flt["lt"]:
            return False
    return True


def prefix_of(rule: dict[str, Any]) -> str:
    return _filter_parts(rule)["prefix"]


def current_expiry(rule: dict[str, Any], obj: Version) -> dt.datetime | None:
    """When the rule expires this current version (None: it does not)."""
    expiration = rule.get("Expiration") or {}
    if obj.delete_marker or not applies(rule, obj.key, obj.size, obj.tags):
        return None
    if expiration.get("Days"):
        return next_midnight(to_datetime(obj.modified) + expiration["Days"] * DAY)
    if expiration.get("Date"):
        return expiration["Date"]
    return None


def noncurrent_expiry(rule: dict[str, Any], noncurrent_since: dt.datetime) -> dt.datetime | None:
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    if not noncurrent.get("NoncurrentDays"):
        return None
    return next_midnight(noncurrent_since + noncurrent["NoncurrentDays"] * DAY)


def abort_expiry(rule: dict[str, Any], initiated: dt.datetime) -> dt.datetime | None:
    abort = rule.get("AbortIncompleteMultipartUpload") or {}
    if not abort.get("DaysAfterInitiation"):
        return None
    return next_midnight(initiated + abort["DaysAfterInitiation"] * DAY)


def expiration_header(bucket: Bucket, obj: Version) -> str | None:
    """x-amz-expiration for a current object a rule will expire: 'expiry-date="...", rule-id="..."'."""
    if not bucket.lifecycle or obj.delete_marker or not obj.is_latest:
        return None
    best: tuple[dt.datetime, str] | None = None
    for rule in enabled(bucket):
        when = current_expiry(rule, obj)
        if when is not None and (best is None or when < best[0]):
            best = (when, rule.get("ID") or "")
    if best is None:
        return None
    date = best[0].strftime("%a, %d %b %Y %H:%M:%S GMT")
    rule_id = "".join(c for c in best[1] if c >= " ").replace("\\", "\\\\").replace('"', '\\"')
    return f'expiry-date="{date}", rule-id="{rule_id}"'
