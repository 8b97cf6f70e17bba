"""When each access key (and role) was last used, without a write per request.

Every authenticated request records its key here, in memory; the records
are written to the store in one transaction every :data:`FLUSH_SECONDS`
(a background task of the IAM service), at shutdown, and before an API
call reads them (GetAccessKeyLastUsed, ListAccessKeys, GetRole), so this
frontend's answers are exact and other frontends' lag by seconds. AWS's
own last-used information lags by hours.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from typing import Any

import sqlalchemy as sa

from silvereye.services.iam import schema

FLUSH_SECONDS = 15.0


class UsageRecorder:
    def __init__(self, store: Any):
        self.store = store
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[dt.datetime, str, str]] = {}
        self._roles: dict[str, tuple[dt.datetime, str]] = {}

    def record(self, access_key_id: str, service: str, region: str, role_id: str = "") -> None:
        when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        if role_id:
            self._roles[role_id] = (when, region)
        elif not access_key_id.startswith("ASIA"):
            self._keys[access_key_id] = (when, service, region)

    def flush(self) -> None:
        with self._lock:
            keys, self._keys = self._keys, {}
            roles, self._roles = self._roles, {}
        if not keys and not roles:
            return
        k, r = schema.access_keys, schema.roles
        with self.store.write() as conn:
            for key_id, (when, service, region) in keys.items():
                conn.execute(
                    sa.update(k).where(k.c.id == key_id)
                    .values(last_used=when, last_used_service=service, last_used_region=region or None)
                )
            for role_id, (when, region) in roles.items():
                conn.execute(sa.update(r).where(r.c.id == role_id).values(last_used=when, last_used_region=region or None))


_recorders: "weakref.WeakKeyDictionary[Any, UsageRecorder]" = weakref.WeakKeyDictionary()
_recorders_lock = threading.Lock()


def recorder_for(store: Any) -> UsageRecorder:
    with _recorders_lock:
        rec = _recorders.get(store)
        if rec is None:
            rec = _recorders[store] = UsageRecorder(store)
        return rec
