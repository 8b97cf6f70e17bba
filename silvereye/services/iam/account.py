"""Account-wide IAM settings: the password policy, the alias, and the summary of what exists."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import documents, passwords, quotas, schema
from silvereye.services.iam.cache import writing
from silvereye.services.iam.errors import already_exists, no_such_entity, validation

acc = schema.accounts

_RANGES = {"MinimumPasswordLength": (6, 128), "MaxPasswordAge": (1, 1095), "PasswordReusePrevention": (1, 24)}


def update_account_password_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    policy = dict(passwords.POLICY_DEFAULTS)
    for key in policy:
        if params.get(key) is not None:
            policy[key] = params[key]
    for key, (low, high) in _RANGES.items():
        if params.get(key) is not None and not low <= params[key] <= high:
            raise validation(
                f"1 validation error detected: Value '{params[key]}' at '{key[0].lower() + key[1:]}' failed to satisfy "
                f"constraint: Member must have value less than or equal to {high} and greater than or equal to {low}"
            )
    with writing(ctx.store) as conn:
        conn.execute(sa.update(acc).where(acc.c.id == ctx.account_id).values(password_policy=json.dumps(policy)))
    return {}


def get_account_password_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        policy = passwords.account_policy(conn, ctx.account_id)
    if not policy:
        raise no_such_entity(f"The Password Policy with domain name {ctx.account_id} cannot be found.")
    out = {k: policy[k] for k in ("MinimumPasswordLength", "RequireSymbols", "RequireNumbers",
                                   "RequireUppercaseCharacters", "RequireLowercaseCharacters",
                                   "AllowUsersToChangePassword")}
    out["ExpirePasswords"] = policy["MaxPasswordAge"] > 0
    for key in ("MaxPasswordAge", "PasswordReusePrevention"):
        if policy[key]:
            out[key] = policy[key]
    if policy["HardExpiry"]:
        out["HardExpiry"] = True
    return {"PasswordPolicy": out}


def delete_account_password_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        if not passwords.account_policy(conn, ctx.account_id):
            raise no_such_entity(f"The account policy with name {ctx.account_id} cannot be found.")
        conn.execute(sa.update(acc).where(acc.c.id == ctx.account_id).values(password_policy=None))
    return {}


def create_account_alias(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    alias = params["AccountAlias"]
    with writing(ctx.store) as conn:
        owner = conn.execute(sa.select(acc.c.id).where(acc.c.alias == alias)).first()
        if owner is not None and owner.id != ctx.account_id:
            raise already_exists(f"The account alias {alias} already exists.")
        conn.execute(sa.update(acc).where(acc.c.id == ctx.account_id).values(alias=alias))  # an account has one
    return {}


def delete_account_alias(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    alias = params["AccountAlias"]
    with writing(ctx.store) as conn:
        gone = conn.execute(sa.update(acc).where(acc.c.id == ctx.account_id, acc.c.alias == alias).values(alias=None)).rowcount
    if not gone:
        raise no_such_entity(f"The account alias {alias} cannot be found.")
    return {}


def list_account_aliases(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        alias = conn.execute(sa.select(acc.c.alias).where(acc.c.id == ctx.account_id)).scalar()
    return {"AccountAliases": [alias] if alias else [], "IsTruncated": False}


def get_account_summary(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account = ctx.account_id
    with ctx.store.read() as conn:
        def n(table: sa.Table, *where: Any) -> int:
            return quotas.count(conn, table, table.c.account_id == account, *where)

        k, v = schema.access_keys, schema.policy_versions
        summary = {
            "Users": n(schema.users), "UsersQuota": quotas.USERS,
            "Groups": n(schema.groups), "GroupsQuota": quotas.GROUPS,
            "Roles": n(schema.roles), "RolesQuota": quotas.ROLES,
            "Policies": n(schema.managed_policies), "PoliciesQuota": quotas.POLICIES,
            "PolicyVersionsInUse": n(v), "PolicyVersionsInUseQuota": quotas.POLICY_VERSIONS_IN_USE,
            "InstanceProfiles": n(schema.instance_profiles), "InstanceProfilesQuota": quotas.INSTANCE_PROFILES,
            "ServerCertificates": n(schema.server_certificates), "ServerCertificatesQuota": quotas.SERVER_CERTIFICATES,
            "AccountAccessKeysPresent": int(n(k, k.c.user_id.is_(None)) > 0),
            "AccountMFAEnabled": 0, "MFADevices": 0, "MFADevicesInUse": 0,
            "AccountSigningCertificatesPresent": 0, "Providers": 0, "GlobalEndpointTokenVersion": 1,
            "GroupsPerUserQuota": quotas.GROUPS_PER_USER,
            "AttachedPoliciesPerUserQuota": quotas.ATTACHED_POLICIES_PER_ENTITY,
            "AttachedPoliciesPerGroupQuota": quotas.ATTACHED_POLICIES_PER_ENTITY,
            "AttachedPoliciesPerRoleQuota": quotas.ATTACHED_POLICIES_PER_ENTITY,
            "VersionsPerPolicyQuota": quotas.VERSIONS_PER_POLICY,
            "AccessKeysPerUserQuota": quotas.ACCESS_KEYS_PER_USER,
            "SigningCertificatesPerUserQuota": 2,
            "PolicySizeQuota": documents.POLICY_SIZE_LIMITS["managed"],
            "UserPolicySizeQuota": documents.POLICY_SIZE_LIMITS["user-inline"],
            "GroupPolicySizeQuota": documents.POLICY_SIZE_LIMITS["group-inline"],
            "RolePolicySizeQuota": documents.POLICY_SIZE_LIMITS["role-inline"],
            "AssumeRolePolicySizeQuota": documents.POLICY_SIZE_LIMITS["trust"],
        }
    return {"SummaryMap": summary}
