"""Stored rows as the structures of IAM's responses (User, Group, Role, Policy...)."""

from __future__ import annotations

from typing import Any

from silvereye.services.iam import documents, managed
from silvereye.services.iam.entities import GROUP, INSTANCE_PROFILE, ROLE, SERVER_CERTIFICATE, USER, entity_arn, utc


def user(row: Any, tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    out = {"Path": row.path, "UserName": row.name, "UserId": row.id, "Arn": entity_arn(USER, row),
           "CreateDate": utc(row.created)}
    if row.permissions_boundary:
        out["PermissionsBoundary"] = managed.boundary(row.permissions_boundary)
    if tags:
        out["Tags"] = tags
    return out


def group(row: Any) -> dict[str, Any]:
    return {"Path": row.path, "GroupName": row.name, "GroupId": row.id, "Arn": entity_arn(GROUP, row),
            "CreateDate": utc(row.created)}


def role(row: Any, tags: list[dict[str, str]] | None = None, *, detail: bool = False, listing: bool = False) -> dict[str, Any]:
    """A Role; ``detail`` adds its last use (GetRole), ``listing`` leaves out what ListRoles does not show."""
    out: dict[str, Any] = {
        "Path": row.path,
        "RoleName": row.name,
        "RoleId": row.id,
        "Arn": entity_arn(ROLE, row),
        "CreateDate": utc(row.created),
        "AssumeRolePolicyDocument": documents.encode(row.trust_policy),
        "MaxSessionDuration": row.max_session_duration,
    }
    if row.description:
        out["Description"] = row.description
    if row.permissions_boundary and not listing:
        out["PermissionsBoundary"] = managed.boundary(row.permissions_boundary)
    if tags:
        out["Tags"] = tags
    if detail:
        last: dict[str, Any] = {}
        if row.last_used is not None:
            last["LastUsedDate"] = utc(row.last_used)
            if row.last_used_region:
                last["Region"] = row.last_used_region
        out["RoleLastUsed"] = last
    return out


def instance_profile(row: Any, roles: list[Any], tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    out = {
        "Path": row.path,
        "InstanceProfileName": row.name,
        "InstanceProfileId": row.id,
        "Arn": entity_arn(INSTANCE_PROFILE, row),
        "CreateDate": utc(row.created),
        "Roles": [role(r) for r in roles],
    }
    if tags:
        out["Tags"] = tags
    return out


def server_certificate_metadata(row: Any) -> dict[str, Any]:
    return {
        "Path": row.path,
        "ServerCertificateName": row.name,
        "ServerCertificateId": row.id,
        "Arn": entity_arn(SERVER_CERTIFICATE, row),
        "UploadDate": utc(row.uploaded),
        "Expiration": utc(row.expiration),
    }


def policy(row: Any, attachments: int, boundary_uses: int, tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PolicyName": row.name,
        "PolicyId": row.id,
        "Arn": row.arn,
        "Path": row.path,
        "DefaultVersionId": row.default_version,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundary_uses,
        "IsAttachable": True,
        "CreateDate": utc(row.created),
        "UpdateDate": utc(row.updated),
    }
    if row.description:
        out["Description"] = row.description
    if tags:
        out["Tags"] = tags
    return out


def policy_version(row: Any, default_version: str, *, with_document: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"VersionId": row.version_id, "IsDefaultVersion": row.version_id == default_version,
                           "CreateDate": utc(row.created)}
    if with_document:
        out["Document"] = documents.encode(row.document)
    return out
