"""Marker/MaxItems pagination, the way every IAM List* operation pages.

The marker is opaque to clients: the sort key of the last item returned,
encoded. Pages are cut in SQL when the list comes from one table (users,
roles, policies: lists that may be long), and in Python for short composed
lists (tags, versions, a policy's entities).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Iterable, Sequence, TypeVar

import sqlalchemy as sa

from silvereye.services.iam.errors import validation

DEFAULT_MAX_ITEMS = 100
T = TypeVar("T")


def max_items(params: dict[str, Any]) -> int:
    n = params.get("MaxItems")
    if n is None:
        return DEFAULT_MAX_ITEMS
    if not 1 <= int(n) <= 1000:
        raise validation(
            f"1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: "
            "Member must have value between 1 and 1000"
        )
    return int(n)


def encode_marker(key: Sequence[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_marker(params: dict[str, Any]) -> list[str] | None:
    marker = params.get("Marker")
    if not marker:
        return None
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        key = json.loads(raw)
        if isinstance(key, list) and all(isinstance(k, str) for k in key):
            return key
    except (ValueError, UnicodeDecodeError):
        pass
    raise validation("Invalid Marker.")


def select_page(
    conn: sa.Connection, stmt: sa.Select, sort: Sequence[sa.ColumnElement], params: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Run ``stmt`` ordered by ``sort`` (a unique key), one page of it.

    Returns the rows and the page members of the response
    (``IsTruncated`` and, when truncated, ``Marker``).
    """
    limit = max_items(params)
    after = decode_marker(params)
    if after is not None:
        if len(after) != len(sort):
            raise validation("Invalid Marker.")
        stmt = stmt.where(sa.tuple_(*sort) > sa.tuple_(*[sa.literal(v) for v in after]))
    rows = list(conn.execute(stmt.order_by(*sort).limit(limit + 1)))
    return _cut(rows, limit, lambda r: [str(getattr(r, c.key)) for c in sort])


def list_page(items: Iterable[T], params: dict[str, Any], key: Callable[[T], Sequence[str]]) -> tuple[list[T], dict[str, Any]]:
    """One page of an already sorted (by ``key``) list."""
    limit = max_items(params)
    after = decode_marker(params)
    seq = list(items)
    if after is not None:
        seq = [i for i in seq if list(key(i)) > after]
    return _cut(seq, limit, key)


def _cut(rows: list[Any], limit: int, key: Callable[[Any], Sequence[str]]) -> tuple[list[Any], dict[str, Any]]:
    if len(rows) > limit:
        page = rows[:limit]
        return page, {"IsTruncated": True, "Marker": encode_marker(list(key(page[-1])))}
    return rows, {"IsTruncated": False}
