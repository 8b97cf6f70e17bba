"""One write transaction and one piece of host state (firewall, NAT rules) that commit together.

Security groups and elastic IPs both keep records in the store and rules on
the host. A call changes the rules inside the transaction, last, so that a
refusal from the host fails the call before anything is committed; and if
the transaction fails after the rules moved, the rules are put back as they
were. Both features use this one context manager rather than each its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")


@contextlib.contextmanager
def host_transaction(store: Any, read: Callable[[], T], restore: Callable[[T], None]) -> Iterator[sa.Connection]:
    """``store.write()``; on any failure, ``restore(before)`` when ``read()`` no longer equals ``before``."""
    before = read()
    try:
        with store.write() as conn:
            yield conn
    except BaseException:
        if read() != before:  # the host moved but the records did not: put the host back
            restore(before)
        raise
