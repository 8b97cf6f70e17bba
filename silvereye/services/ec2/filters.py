"""AWS's ``Filter.N.Name`` / ``Filter.N.Value.M`` semantics, for every Describe operation.

A Describe handler declares, per resource type, which filter names exist
and how to read each from a resource (:class:`FilterSpec`); :func:`apply`
keeps the resources that match. The rules are EC2's:

- values of one filter are alternatives (OR), filters are all required (AND);
- values are case-sensitive and may hold ``*`` (any run of characters) and
  ``?`` (one character), with ``\\`` escaping either;
- a resource attribute with several values (a list of group ids) matches
  when any of them does; booleans read ``true``/``false``;
- ``tag:<key>`` matches the value of that tag, ``tag-key`` any tag's key,
  ``tag-value`` any tag's value;
- an unknown filter name is an error (``The filter 'x' is invalid``), never
  silently ignored: a typo would otherwise return everything.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from silvereye.services.ec2 import errors

T = TypeVar("T")
Getter = Callable[[Any], Any]


@dataclass(frozen=True)
class FilterSpec(Generic[T]):
    """The filters a resource type supports: name -> attribute reader, and its tags (if it has any)."""

    fields: dict[str, Getter]
    tags: Callable[[T], dict[str, str]] | None = None
    # Filter names AWS documents that we accept and that can never match here
    # (e.g. 'ipv6-address' on an IPv4-only cloud): they select nothing.
    never: frozenset[str] = field(default_factory=frozenset)


@functools.lru_cache(maxsize=4096)
def _pattern(value: str) -> re.Pattern[str]:
    out, escaped = [], False
    for ch in value:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL)


def text(value: Any) -> str:
    """How an attribute reads when compared with a filter value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return str(value)


def matches(values: Iterable[str], actual: Any) -> bool:
    """Does ``actual`` (one value, a list of them, or None) match any of ``values``?"""
    if actual is None:
        return False
    candidates = actual if isinstance(actual, (list, tuple, set, frozenset)) else [actual]
    texts = [text(c) for c in candidates if c is not None]
    return any(_pattern(v).fullmatch(t) for v in values for t in texts)


def parse(filters: list[dict[str, Any]] | None) -> list[tuple[str, list[str]]]:
    out = []
    for f in filters or []:
        name = f.get("Name")
        if not name:
            raise errors.missing_parameter("Filter.Name")
        out.append((name, [str(v) for v in f.get("Values") or []]))
    return out


def check(spec: FilterSpec, filters: list[tuple[str, list[str]]]) -> None:
    for name, _ in filters:
        if name in spec.fields or name in spec.never:
            continue
        if spec.tags is not None and (name.startswith("tag:") or name in ("tag-key", "tag-value")):
            continue
        raise errors.invalid_filter(name)


def _keep(spec: FilterSpec, item: Any, name: str, values: list[str]) -> bool:
    if not values or name in spec.never:
        return False
    getter = spec.fields.get(name)
    if getter is not None:
        return matches(values, getter(item))
    tags = spec.tags(item) if spec.tags is not None else {}
    if name == "tag-key":
        return matches(values, list(tags))
    if name == "tag-value":
        return matches(values, list(tags.values()))
    key = name[len("tag:"):]
    return key in tags and matches(values, tags[key])


def apply(spec: FilterSpec[T], items: Iterable[T], raw_filters: list[dict[str, Any]] | None) -> list[T]:
    """The items every filter keeps (after checking every filter name is known)."""
    filters = parse(raw_filters)
    check(spec, filters)
    if not filters:
        return list(items)
    return [item for item in items if all(_keep(spec, item, name, values) for name, values in filters)]


def shape_tags(item: dict[str, Any]) -> dict[str, str]:
    """The tags of a resource already shaped for a response (its ``Tags`` list), for ``tag:`` filters."""
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}


class Tagged(NamedTuple):
    """A stored row with its tags: what the Describe operations that filter rows hand to :func:`apply`."""

    row: Any
    tag_map: dict[str, str]


def row_tags(item: Tagged) -> dict[str, str]:
    """The tags of a :class:`Tagged` row, for ``tag:`` filters."""
    return item.tag_map

