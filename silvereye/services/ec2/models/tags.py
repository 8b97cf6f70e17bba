"""Tags on every kind of EC2 resource, and the registry of what can be tagged.

A resource kind registers its id prefix, its ``ResourceType`` name and how
to tell whether an account can see a resource of that kind
(:func:`register`); CreateTags, DeleteTags and TagSpecifications then work
on it with no code of their own. Issue 6's volumes and snapshots join the
same way. Tag rules are AWS's: at most 50 per resource, keys up to 128
characters, values up to 256, and the ``aws:`` prefix reserved.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors
from silvereye.services.ec2.tables import tags as t

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
ID_PATTERN = re.compile(r"(?P<prefix>[a-z]+)-(?P<hex>[0-9a-f]{8}|[0-9a-f]{17})")


@dataclass(frozen=True)
class Taggable:
    prefix: str  # 'i', 'ami', 'key', 'sg', ...
    resource_type: str  # AWS's ResourceType: 'instance', 'image', 'key-pair', ...
    exists: Callable[[sa.Connection, str, str, Any], bool]  # (conn, account_id, resource_id, cfg)
    not_found: Callable[[str], Exception]  # the kind's own NotFound error for an id


_KINDS: dict[str, Taggable] = {}


def register(kind: Taggable) -> None:
    _KINDS[kind.prefix] = kind


def kind_of(resource_id: str) -> Taggable:
    """The registered kind of an id; InvalidID when its prefix names nothing taggable here."""
    m = ID_PATTERN.fullmatch(resource_id or "")
    kind = _KINDS.get(m.group("prefix")) if m else None
    if kind is None:
        raise errors.invalid_id(resource_id)
    return kind


def check(items: Iterable[dict[str, Any]] | None, *, values_required: bool = True) -> list[tuple[str, str]]:
    """Tags from a request ([{Key, Value}]) as (key, value) pairs, checked as AWS checks them."""
    out: dict[str, str] = {}
    for item in items or []:
        key = item.get("Key")
        if key is None:
            raise errors.missing_parameter("Tag.Key")
        value = item.get("Value")
        if value is None:
            value = ""
        if not key or len(key) > MAX_KEY:
            raise errors.invalid_parameter(f"Tag key must be between 1 and {MAX_KEY} characters: '{key}'")
        if len(value) > MAX_VALUE:
            raise errors.invalid_parameter(f"Tag value exceeds the maximum length of {MAX_VALUE} characters")
        if key.lower().startswith("aws:"):
            raise errors.invalid_parameter("Tag keys starting with 'aws:' are reserved for internal use")
        out[key] = value
    return list(out.items())


def put(conn: sa.Connection, account_id: str, resource_id: str, resource_type: str,
        pairs: list[tuple[str, str]]) -> None:
    """Add or overwrite tags; TagLimitExceeded beyond 50 on the resource."""
    if not pairs:
        return
    have = dict(conn.execute(sa.select(t.c.key, t.c.value).where(
        t.c.account_id == account_id, t.c.resource_id == resource_id)).all())
    merged = {**have, **dict(pairs)}
    if len(merged) > MAX_TAGS:
        raise errors.error("TagLimitExceeded", f"The maximum number of Tags for a resource has been reached ({MAX_TAGS}).")
    for key, value in pairs:
        if key in have:
            conn.execute(sa.update(t).where(t.c.account_id == account_id, t.c.resource_id == resource_id,
                                            t.c.key == key).values(value=value))
        else:
            conn.execute(sa.insert(t).values(account_id=account_id, resource_id=resource_id, key=key,
                                             resource_type=resource_type, value=value))


def remove(conn: sa.Connection, account_id: str, resource_id: str, items: list[dict[str, Any]] | None) -> None:
    """DeleteTags: no Tags removes every tag; a Key alone removes it; Key and Value only when the value matches."""
    where = [t.c.account_id == account_id, t.c.resource_id == resource_id]
    if not items:
        conn.execute(sa.delete(t).where(*where))
        return
    for item in items:
        key = item.get("Key")
        if key is None:
            raise errors.missing_parameter("Tag.Key")
        clause = [*where, t.c.key == key]
        if item.get("Value") is not None:
            clause.append(t.c.value == item["Value"])
        conn.execute(sa.delete(t).where(*clause))


def remove_all(conn: sa.Connection, resource_ids: list[str]) -> None:
    """Forget every account's tags on resources that are gone."""
    if resource_ids:
        conn.execute(sa.delete(t).where(t.c.resource_id.in_(resource_ids)))


def of(conn: sa.Connection, account_id: str, resource_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """resource id -> {key: value} for the account's tags on these resources."""
    wanted = list(resource_ids)
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = conn.execute(sa.select(t.c.resource_id, t.c.key, t.c.value).where(
            t.c.account_id == account_id, t.c.resource_id.in_(chunk)))
        for r in rows:
            out[r.resource_id][r.key] = r.value
    return out


def tag_list(tags: dict[str, str] | None) -> list[dict[str, str]] | None:
    """A resource's tags as a response's TagSet (None when it has none: the member is left out)."""
    if not tags:
        return None
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def specifications(params: dict[str, Any], allowed: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """TagSpecifications of a create request, by resource type; ``allowed`` maps each type the
    operation creates to itself (RunInstances: instance; CreateKeyPair: key-pair)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for spec in params.get("TagSpecifications") or []:
        rtype = spec.get("ResourceType")
        if rtype not in allowed:
            shown = rtype if rtype else "(none)"
            raise errors.invalid_parameter(
                f"'{shown}' is not a valid taggable resource type for this operation.")
        out.setdefault(rtype, []).extend(check(spec.get("Tags")))
    return out


def rows(conn: sa.Connection, account_id: str) -> list[Any]:
    """Every tag of an account (DescribeTags), in resource, key order."""
    return list(conn.execute(sa.select(t).where(t.c.account_id == account_id).order_by(t.c.resource_id, t.c.key)))


def purge(conn: sa.Connection, account_id: str) -> None:
    conn.execute(sa.delete(t).where(t.c.account_id == account_id))
