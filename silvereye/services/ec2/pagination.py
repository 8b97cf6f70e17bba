"""``MaxResults`` / ``NextToken`` paging, the way EC2's Describe operations page.

Lists are sorted by a unique key (the resource id) before they are cut, so
a token, the key of the last item returned, stays valid while resources
come and go: the next page starts after that key. The token is opaque to
clients (base64 of JSON) and a token that does not decode is
``InvalidPaginationToken``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from silvereye.services.ec2 import errors

T = TypeVar("T")


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode()


def decode_token(token: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise errors.pagination_token() from None
    if not isinstance(data, dict) or not isinstance(data.get("after"), str):
        raise errors.pagination_token()
    return data["after"]


def max_results(params: dict[str, Any], *, minimum: int = 5, maximum: int = 1000, member: str = "maxResults",
                cap: bool = False) -> int | None:
    """The page size asked for (None: everything), checked against the operation's bounds.

    With ``cap``, a size above ``maximum`` is cut to it rather than refused:
    DescribeVolumes and DescribeSnapshots answer "larger than 500 (1000): only
    that many are returned", and the aws CLI sends MaxResults=1000 to both."""
    n = params.get("MaxResults")
    if n is None:
        return None
    if n < minimum:
        raise errors.invalid_parameter(f"Value ( {n} ) for parameter {member} is invalid. Expecting a value greater than {minimum - 1}.")
    if n > maximum and cap:
        return maximum
    if n > maximum:
        raise errors.invalid_parameter(f"Value ( {n} ) for parameter {member} is invalid. Expecting a value less than {maximum + 1}.")
    return n


def page(items: Sequence[T], params: dict[str, Any], key: Callable[[T], str], *, minimum: int = 5,
         maximum: int = 1000, cap: bool = False) -> tuple[list[T], str | None]:
    """One page of ``items`` (in ``key`` order) and the token of the next page (None at the end)."""
    limit = max_results(params, minimum=minimum, maximum=maximum, cap=cap)
    ordered = sorted(items, key=key)
    token = params.get("NextToken")
    if token:
        after = decode_token(token)
        ordered = [i for i in ordered if key(i) > after]
    if limit is None or len(ordered) <= limit:
        return ordered, None
    chosen = ordered[:limit]
    return chosen, encode_token(key(chosen[-1]))
