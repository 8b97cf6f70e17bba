"""IAM's default quotas, as GetAccountSummary reports them and handlers enforce them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.iam.errors import quota_exceeded

USERS = 5000
GROUPS = 300
ROLES = 1000
POLICIES = 1500
INSTANCE_PROFILES = 1000
SERVER_CERTIFICATES = 20
GROUPS_PER_USER = 10
ATTACHED_POLICIES_PER_ENTITY = 10
VERSIONS_PER_POLICY = 5
ACCESS_KEYS_PER_USER = 2
ROLES_PER_INSTANCE_PROFILE = 1
POLICY_VERSIONS_IN_USE = 10000


def count(conn: sa.Connection, table: sa.Table, *where: Any) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def enforce(conn: sa.Connection, table: sa.Table, quota: str, limit: int, *where: Any) -> None:
    """LimitExceeded when adding one more row matching ``where`` would pass ``limit``."""
    if count(conn, table, *where) >= limit:
        raise quota_exceeded(quota, limit)
