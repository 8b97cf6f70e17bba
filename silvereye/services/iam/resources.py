"""The resource each IAM operation acts on, for authorization.

IAM resources are ARNs that include the entity's path
(``arn:aws:iam::123456789012:user/division/alice``), so a request naming a
user by name needs the user's path: it is looked up (and cached with the
other IAM caches). List operations act on the type's root
(``arn:aws:iam::ACCOUNT:user/``, as AWS names it in AccessDenied messages);
account-wide settings on ``*``.

Credentials from GetSessionToken cannot call IAM without MFA (AWS answers
InvalidClientTokenId), and silvereye has no MFA devices.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam.access import access_for
from silvereye.services.iam.cache import TtlCache
from silvereye.services.iam.entities import GROUP, INSTANCE_PROFILE, ROLE, SERVER_CERTIFICATE, USER, Kind, arn

# Which request member names the resource, in order of precedence (AttachUserPolicy
# acts on the user, AddUserToGroup on the group, AddRoleToInstanceProfile on the profile).
_BY_MEMBER: list[tuple[str, Kind]] = [
    (INSTANCE_PROFILE.name_param, INSTANCE_PROFILE),
    (GROUP.name_param, GROUP),
    (ROLE.name_param, ROLE),
    (USER.name_param, USER),
    (SERVER_CERTIFICATE.name_param, SERVER_CERTIFICATE),
]
_LISTS = {
    "ListUsers": "user/",
    "ListGroups": "group/",
    "ListRoles": "role/",
    "ListPolicies": "policy/",
    "ListInstanceProfiles": "instance-profile/",
    "ListServerCertificates": "server-certificate/",
}
_CREATES = {"CreateUser": USER, "CreateGroup": GROUP, "CreateRole": ROLE, "CreateInstanceProfile": INSTANCE_PROFILE,
            "UploadServerCertificate": SERVER_CERTIFICATE}
# Operations on the caller itself when they name no user.
_SELF = {"GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey", "ChangePassword",
         "GetLoginProfile", "ListUserTags", "ListGroupsForUser", "ListUserPolicies", "ListAttachedUserPolicies"}

_paths = TtlCache()


def _path(ctx: RequestContext, kind: Kind, name: str) -> str:
    """The entity's path, '/' when it does not exist (the handler then answers NoSuchEntity)."""
    account = ctx.account_id

    def load() -> str:
        t = kind.table
        with ctx.store.read() as conn:
            found = conn.execute(sa.select(t.c.path).where(t.c.account_id == account, t.c.name_key == name.lower())).first()
        return found.path if found else "/"

    return _paths.get((kind.name, account, name.lower()), load)


def iam_resources(ctx: RequestContext, operation: str, params: dict[str, Any]) -> list[str]:
    account = ctx.account_id
    if operation in _LISTS:
        return [f"arn:aws:iam::{account}:{_LISTS[operation]}"]
    if operation in _CREATES:
        kind = _CREATES[operation]
        return [arn(account, kind.arn_type, params.get("Path") or "/", params[kind.name_param])]
    if operation == "CreatePolicy":
        return [arn(account, "policy", params.get("Path") or "/", params["PolicyName"])]
    for member, kind in _BY_MEMBER:
        name = params.get(member)
        if name:
            return [arn(account, kind.arn_type, _path(ctx, kind, name), name)]
    if params.get("PolicyArn"):
        return [params["PolicyArn"]]
    if operation in _SELF or operation == "GetAccessKeyLastUsed":
        principal = ctx.principal
        return [principal.arn if principal.kind == "user" else "*"]
    return ["*"]


def iam_authorize(ctx: RequestContext, operation: str, params: dict[str, Any]) -> None:
    """The IAM service's authorizer: refuse GetSessionToken credentials, then ask the policies."""
    principal = ctx.principal
    if principal.kind in ("user", "root") and principal.access_key_id.startswith("ASIA") and not principal.mfa:
        raise ServiceError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    if operation == "ChangePassword" and _users_may_change_password(ctx):
        return
    access_for(ctx.store).authorize(ctx, f"iam:{operation}", iam_resources(ctx, operation, params))


def _users_may_change_password(ctx: RequestContext) -> bool:
    """AllowUsersToChangePassword in the account's password policy lets every user change its own."""
    from silvereye.services.iam.passwords import account_policy

    if ctx.principal.kind != "user":
        return False
    with ctx.store.read() as conn:
        return bool(account_policy(conn, ctx.account_id).get("AllowUsersToChangePassword"))
