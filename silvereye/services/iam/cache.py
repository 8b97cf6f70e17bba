"""What the hot path keeps in memory: credentials, policy sets, entity paths.

Every signed request needs the caller's secret and, for authorization, its
policies; reading them from the store each time would cost several queries
per request. They are kept here, and dropped

* at once when this process changes IAM (every IAM write bumps one
  process-wide generation number; entries of an older generation are stale), and
* after :data:`TTL` seconds otherwise, so that changes made by another
  frontend sharing the PostgreSQL database (or by the ``silvereye account``
  command) are seen within seconds.

A reader notes the generation before it loads, so a load that raced with a
write is stored under the old generation and never served after the write.
Misses (an unknown access key) are not cached: a key created elsewhere
works at once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import Any, Callable, Hashable, Iterator, TypeVar

import sqlalchemy as sa

TTL = 5.0
V = TypeVar("V")


class _Generation:
    __slots__ = ("value", "lock")

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def bump(self) -> None:
        with self.lock:
            self.value += 1


_generation = _Generation()


def invalidate() -> None:
    """Forget everything cached from IAM's tables (called after each IAM write commits)."""
    _generation.bump()


@contextlib.contextmanager
def writing(store: Any) -> Iterator[sa.Connection]:
    """``store.write()`` for IAM state: caches are invalidated once the change has committed."""
    try:
        with store.write() as conn:
            yield conn
    finally:
        _generation.bump()


class TtlCache:
    """A bounded map whose entries die with their generation or after ``ttl`` seconds."""

    def __init__(self, ttl: float = TTL, maxsize: int = 50_000):
        self.ttl = ttl
        self.maxsize = maxsize
        self._data: dict[Hashable, tuple[Any, int, float]] = {}

    def get(self, key: Hashable, load: Callable[[], V], *, keep_none: bool = True) -> V:
        entry = self._data.get(key)
        now = time.monotonic()
        if entry is not None and entry[1] == _generation.value and entry[2] > now:
            return entry[0]
        generation = _generation.value
        value = load()
        if value is not None or keep_none:
            if len(self._data) >= self.maxsize:
                self._data.clear()  # crude but bounded; the cache refills from the store
            self._data[key] = (value, generation, now + self.ttl)
        return value

    def clear(self) -> None:
        self._data.clear()


_lists = TtlCache(maxsize=512)


def cached_read(handler: Callable[[Any, dict[str, Any]], dict[str, Any]]) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """Serve a read-only List* handler's answer from memory while nothing changed.

    For the lists scripts poll (ListUsers, ListRoles...): the answer depends
    only on the account and the request, and dies with the generation or the
    TTL like every other IAM cache entry. Answers are shared: callers must not
    change them.
    """

    @functools.wraps(handler)
    def serve(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        key = (handler.__name__, ctx.account_id, tuple(sorted((k, repr(v)) for k, v in params.items())))
        return _lists.get(key, lambda: handler(ctx, params))

    return serve
