"""IAM's tables: accounts and everything that lives in one.

Every table carries ``account_id`` so an account's rows are found (and
deleted) without joins, and every query a handler makes is scoped by it:
accounts are isolated by construction. IAM names are unique without regard
to case, so each named entity keeps ``name_key`` (the lower-cased name) under
a unique constraint beside the name as it was given.

Primary keys are AWS's unique ids (``AIDA...`` users, ``AGPA...`` groups,
``AROA...`` roles, ``ANPA...`` policies, ``AIPA...`` instance profiles,
``ASCA...`` server certificates), which differ by prefix, so tables keyed by
"the entity" (tags, inline policies, attachments) need only the id.

AWS managed policies belong to the pseudo-account ``aws``.
"""

from __future__ import annotations

import sqlalchemy as sa

from silvereye.store import create_tables, metadata, register_migrations

AWS_ACCOUNT = "aws"

Name = sa.String(128)
Key = sa.String(128)
Arn = sa.String(2048)
When = sa.DateTime(timezone=True)


def _named(table: str, *columns: sa.Column) -> sa.Table:
    """A named entity of an account: AWS unique id, account, name (and its lower-cased key), path."""
    return sa.Table(
        table,
        metadata,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False, index=True),
        sa.Column("name", Name, nullable=False),
        sa.Column("name_key", Name, nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        *columns,
        sa.UniqueConstraint("account_id", "name_key", name=f"uq_{table}_name"),
    )


accounts = sa.Table(
    "iam_accounts",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("name_key", sa.String(64), nullable=False, unique=True),
    sa.Column("alias", sa.String(63), nullable=True, unique=True),
    sa.Column("password_policy", sa.Text, nullable=True),  # JSON, None: no custom policy
    sa.Column("created", When, nullable=False),
)

users = _named(
    "iam_users",
    sa.Column("permissions_boundary", Arn, nullable=True),
    sa.Column("created", When, nullable=False),
)

groups = _named(
    "iam_groups",
    sa.Column("created", When, nullable=False),
)

group_members = sa.Table(
    "iam_group_members",
    metadata,
    sa.Column("group_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True, index=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
)

roles = _named(
    "iam_roles",
    sa.Column("trust_policy", sa.Text, nullable=False),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("max_session_duration", sa.Integer, nullable=False),
    sa.Column("permissions_boundary", Arn, nullable=True),
    sa.Column("last_used", When, nullable=True),
    sa.Column("last_used_region", sa.String(64), nullable=True),
    sa.Column("created", When, nullable=False),
)

# Inline policies of users, groups and roles (owner_id names which).
inline_policies = sa.Table(
    "iam_inline_policies",
    metadata,
    sa.Column("owner_id", sa.String(32), primary_key=True),
    sa.Column("name_key", Name, primary_key=True),
    sa.Column("name", Name, nullable=False),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("document", sa.Text, nullable=False),
)

managed_policies = _named(
    "iam_managed_policies",
    sa.Column("arn", Arn, nullable=False, unique=True),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("default_version", sa.String(16), nullable=False),
    sa.Column("next_version", sa.Integer, nullable=False),
    sa.Column("created", When, nullable=False),
    sa.Column("updated", When, nullable=False),
)

policy_versions = sa.Table(
    "iam_policy_versions",
    metadata,
    sa.Column("policy_id", sa.String(32), primary_key=True),
    sa.Column("version_id", sa.String(16), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created", When, nullable=False),
)

# Managed policies attached to users, groups and roles. account_id is the
# entity's account (an AWS managed policy is attached in many accounts).
policy_attachments = sa.Table(
    "iam_policy_attachments",
    metadata,
    sa.Column("policy_id", sa.String(32), primary_key=True),
    sa.Column("entity_id", sa.String(32), primary_key=True, index=True),
    sa.Column("entity_kind", sa.String(16), nullable=False),  # user | group | role
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
)

# Long-term access keys; user_id is None for the account's root keys.
access_keys = sa.Table(
    "iam_access_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("user_id", sa.String(32), nullable=True, index=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", When, nullable=False),
    sa.Column("last_used", When, nullable=True),
    sa.Column("last_used_service", sa.String(64), nullable=True),
    sa.Column("last_used_region", sa.String(64), nullable=True),
)

login_profiles = sa.Table(
    "iam_login_profiles",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    # JSON list of earlier hashes, newest first (PasswordReusePrevention).
    sa.Column("previous_hashes", sa.Text, nullable=False, default="[]"),
    sa.Column("reset_required", sa.Boolean, nullable=False),
    sa.Column("password_changed", When, nullable=False),
    sa.Column("created", When, nullable=False),
)

instance_profiles = _named(
    "iam_instance_profiles",
    sa.Column("role_id", sa.String(32), nullable=True, index=True),  # AWS allows one role
    sa.Column("created", When, nullable=False),
)

server_certificates = _named(
    "iam_server_certificates",
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("chain", sa.Text, nullable=True),
    # Kept for the load balancer that terminates TLS with it; never returned by the API.
    sa.Column("private_key", sa.Text, nullable=False),
    sa.Column("uploaded", When, nullable=False),
    sa.Column("expiration", When, nullable=False),
)

tags = sa.Table(
    "iam_tags",
    metadata,
    sa.Column("entity_id", sa.String(32), primary_key=True),
    sa.Column("key_lower", Key, primary_key=True),  # IAM tag keys are unique without regard to case
    sa.Column("key", Key, nullable=False),
    sa.Column("value", sa.String(256), nullable=False),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
)

# STS temporary credentials, with the principal they act as. principal_kind:
# 'assumed-role' (entity_id: the role), or 'user'/'root' for GetSessionToken
# (entity_id: the user, None for root).
sessions = sa.Table(
    "iam_sessions",
    metadata,
    sa.Column("access_key_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("token", sa.Text, nullable=False),
    sa.Column("principal_kind", sa.String(16), nullable=False),
    sa.Column("principal_arn", Arn, nullable=False),
    sa.Column("principal_id", sa.String(128), nullable=False),  # AIDA..., AROA...:session, the account id
    sa.Column("principal_name", Name, nullable=False),  # user or role name ('' for root)
    sa.Column("entity_id", sa.String(32), nullable=True),
    sa.Column("session_name", sa.String(64), nullable=True),
    sa.Column("session_policy", sa.Text, nullable=True),  # one JSON document: inline and managed combined
    sa.Column("session_tags", sa.Text, nullable=True),  # JSON [[key, value], ...]
    sa.Column("source_identity", sa.String(64), nullable=True),
    sa.Column("created", When, nullable=False),
    sa.Column("expires", When, nullable=False, index=True),
)

ALL_TABLES = (
    accounts,
    users,
    groups,
    group_members,
    roles,
    inline_policies,
    managed_policies,
    policy_versions,
    policy_attachments,
    access_keys,
    login_profiles,
    instance_profiles,
    server_certificates,
    tags,
    sessions,
)


def _seed_aws_managed(conn: sa.Connection) -> None:
    from silvereye.services.iam.aws_managed import sync_aws_managed_policies

    sync_aws_managed_policies(conn)


register_migrations("iam", [create_tables(*ALL_TABLES), _seed_aws_managed])
