"""Small things every EC2 model needs: the clock, id checks, JSON columns."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from silvereye import ids
from silvereye.services.ec2 import errors

_HEX_ID = re.compile(r"(?P<prefix>[a-z]+)-(?:[0-9a-f]{8}|[0-9a-f]{17})")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite gives naive datetimes back)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def iso(value: dt.datetime | None) -> str | None:
    """EC2's string form of a time (Image.CreationDate): 2024-05-01T12:00:00.000Z."""
    value = utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z") if value else None


def gmt(value: dt.datetime) -> str:
    """The time inside StateTransitionReason: 'User initiated (2024-05-01 12:00:00 GMT)'."""
    return utc(value).strftime("%Y-%m-%d %H:%M:%S GMT")


def new_id(prefix: str) -> str:
    return ids.resource_id(prefix)


def check_id(value: str, prefixes: tuple[str, ...], code: str) -> str:
    """An id of one of these prefixes (8 or 17 hex digits); ``<code>`` naming it otherwise."""
    m = _HEX_ID.fullmatch(value or "")
    if m is None or m.group("prefix") not in prefixes:
        raise errors.malformed_id(value, prefixes[0], code)
    return value


def check_ids(values: list[str] | None, prefixes: tuple[str, ...], code: str) -> list[str]:
    return [check_id(v, prefixes, code) for v in values or []]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None, default: Any = None) -> Any:
    if not text:
        return default
    return json.loads(text)
