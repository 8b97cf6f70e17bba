"""Access control lists: canned ACLs, grant headers and AccessControlPolicy documents, and what they permit.

Stored form (JSON in the bucket or object row)::

    {"owner": "<account id>",
     "grants": [{"grantee": {"type": "CanonicalUser", "account": "<account id>"}, "permission": "FULL_CONTROL"},
                {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                 "permission": "READ"}]}

Accounts are kept by account id and shown as canonical user ids
(:mod:`.owners`). ``aws-exec-read`` is stored as ``private``: its one extra
grant lets EC2 read an image bundle, and silvereye's EC2 reads through the
internal API, checking the *caller's* access (:mod:`.internal`).

Which actions a permission allows follows the S3 User Guide ("Access
control list (ACL) overview", mapping of ACL permissions to access policy
permissions).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.identity import Principal
from silvereye.services.s3 import errors, owners

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
CANNED = ("private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
          "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write")
MAX_GRANTS = 100

# Permission -> the actions it allows, on the bucket (READ/WRITE/..._ACP) or object it is attached to.
ALLOWS = {
    "READ": {"s3:listbucket", "s3:listbucketversions", "s3:listbucketmultipartuploads",
             "s3:getobject", "s3:getobjectversion"},
    "WRITE": {"s3:putobject", "s3:deleteobject", "s3:deleteobjectversion", "s3:abortmultipartupload",
              "s3:listmultipartuploadparts"},
    "READ_ACP": {"s3:getbucketacl", "s3:getobjectacl", "s3:getobjectversionacl"},
    "WRITE_ACP": {"s3:putbucketacl", "s3:putobjectacl", "s3:putobjectversionacl"},
}
ALLOWS["FULL_CONTROL"] = set().union(*ALLOWS.values())

# Actions decided by the object's ACL rather than the bucket's.
OBJECT_ACL_ACTIONS = {"s3:getobject", "s3:getobjectversion", "s3:getobjectacl", "s3:getobjectversionacl",
                      "s3:putobjectacl", "s3:putobjectversionacl"}

GRANT_HEADERS = {
    "GrantFullControl": "FULL_CONTROL",
    "GrantRead": "READ",
    "GrantReadACP": "READ_ACP",
    "GrantWrite": "WRITE",
    "GrantWriteACP": "WRITE_ACP",
}


def _user(account: str, permission: str) -> dict[str, Any]:
    return {"grantee": {"type": "CanonicalUser", "account": account}, "permission": permission}


def _group(uri: str, permission: str) -> dict[str, Any]:
    return {"grantee": {"type": "Group", "uri": uri}, "permission": permission}


def canned(name: str, owner: str, bucket_owner: str | None = None) -> dict[str, Any]:
    """The ACL a canned ACL name stands for; InvalidArgument for an unknown name."""
    grants = [_user(owner, "FULL_CONTROL")]
    bucket_owner = bucket_owner or owner
    if name in ("private", "aws-exec-read"):
        pass
    elif name == "public-read":
        grants.append(_group(ALL_USERS, "READ"))
    elif name == "public-read-write":
        grants += [_group(ALL_USERS, "READ"), _group(ALL_USERS, "WRITE")]
    elif name == "authenticated-read":
        grants.append(_group(AUTHENTICATED_USERS, "READ"))
    elif name == "bucket-owner-read":
        if bucket_owner != owner:
            grants.append(_user(bucket_owner, "READ"))
    elif name == "bucket-owner-full-control":
        if bucket_owner != owner:
            grants.append(_user(bucket_owner, "FULL_CONTROL"))
    elif name == "log-delivery-write":
        grants += [_group(LOG_DELIVERY, "WRITE"), _group(LOG_DELIVERY, "READ_ACP")]
    else:
        raise errors.invalid_argument(f"Invalid canned ACL: {name}", "x-amz-acl", name)
    return {"owner": owner, "grants": grants}


def private(owner: str) -> dict[str, Any]:
    return canned("private", owner)


_GRANT_ITEM = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*(?:,|$)', re.IGNORECASE)


def _grantee(conn: sa.Connection, kind: str, value: str) -> dict[str, str]:
    kind = kind.lower()
    if kind == "id":
        account = owners.account_for_canonical_id(conn, value.strip())
        if account is None:
            raise errors.invalid_argument("Invalid id", "CanonicalUser/ID", value)
        return {"type": "CanonicalUser", "account": account}
    if kind == "uri":
        if value not in GROUPS:
            raise errors.invalid_argument("Invalid group uri", "Group/URI", value)
        return {"type": "Group", "uri": value}
    raise errors.s3("UnresolvableGrantByEmailAddress",
                    "The e-mail address you provided does not match any account on record.", 400, EmailAddress=value)


def requested(params: dict[str, Any]) -> bool:
    """Whether a request names an ACL (x-amz-acl or x-amz-grant-*)."""
    return bool(params.get("ACL")) or any(params.get(member) for member in GRANT_HEADERS)


def from_headers(conn: sa.Connection, params: dict[str, Any], owner: str, bucket_owner: str | None = None) -> dict[str, Any] | None:
    """The ACL a request's x-amz-acl or x-amz-grant-* headers ask for; None when it names none."""
    header_grants = {member: params[member] for member in GRANT_HEADERS if params.get(member)}
    if params.get("ACL") and header_grants:
        raise errors.invalid_request("Specifying both Canned ACLs and Header Grants is not allowed")
    if params.get("ACL"):
        return canned(params["ACL"], owner, bucket_owner)
    if not header_grants:
        return None
    grants = []
    for member, text in header_grants.items():
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _GRANT_ITEM.match(text, pos)
            if m is None or m.end() == pos:
                raise errors.invalid_argument("Invalid grant header value", _header_name(member), text)
            grants.append({"grantee": _grantee(conn, m.group(1), m.group(2)), "permission": GRANT_HEADERS[member]})
            pos = m.end()
    return {"owner": owner, "grants": grants}


def _header_name(member: str) -> str:
    return "x-amz-grant-" + {"GrantFullControl": "full-control", "GrantRead": "read", "GrantReadACP": "read-acp",
                             "GrantWrite": "write", "GrantWriteACP": "write-acp"}[member]


def from_policy(conn: sa.Connection, document: dict[str, Any], owner: str) -> dict[str, Any]:
    """An AccessControlPolicy document (PutBucketAcl/PutObjectAcl body) as a stored ACL."""
    stated_owner = (document.get("Owner") or {}).get("ID")
    if stated_owner is None:
        raise errors.s3("MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema", 400)
    if stated_owner != owners.canonical_id(owner):
        raise errors.access_denied()
    grants = []
    for item in document.get("Grants") or []:
        grantee = item.get("Grantee") or {}
        permission = item.get("Permission")
        if permission not in PERMISSIONS:
            raise errors.s3("MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        kind = grantee.get("Type")
        if kind == "CanonicalUser" and grantee.get("ID"):
            who = _grantee(conn, "id", grantee["ID"])
        elif kind == "Group" and grantee.get("URI"):
            who = _grantee(conn, "uri", grantee["URI"])
        elif kind == "AmazonCustomerByEmail" and grantee.get("EmailAddress"):
            who = _grantee(conn, "emailAddress", grantee["EmailAddress"])
        else:
            raise errors.s3("MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema", 400)
        grants.append({"grantee": who, "permission": permission})
    if len(grants) > MAX_GRANTS:
        raise errors.s3("MalformedACLError", f"An ACL may hold at most {MAX_GRANTS} grants", 400)
    return {"owner": owner, "grants": grants}


def to_policy(conn: sa.Connection, acl: dict[str, Any]) -> dict[str, Any]:
    """The AccessControlPolicy output shape (GetBucketAcl/GetObjectAcl)."""
    out = []
    for grant in acl.get("grants", []):
        grantee = grant["grantee"]
        if grantee["type"] == "CanonicalUser":
            who = owners.owner(conn, grantee["account"])
            shaped = {"Type": "CanonicalUser", "ID": who.canonical_id, "DisplayName": who.display_name}
        else:
            shaped = {"Type": "Group", "URI": grantee["uri"]}
        out.append({"Grantee": shaped, "Permission": grant["permission"]})
    return {"Owner": owners.owner(conn, acl["owner"]).shape(), "Grants": out}


EVERYONE, ACCOUNT = "everyone", "account"


def permits(acl: dict[str, Any] | None, principal: Principal, action: str) -> str | None:
    """How the ACL grants ``action`` to the principal: EVERYONE (a group grant), ACCOUNT, or None."""
    if not acl:
        return None
    action = action.lower()
    how = None
    for grant in acl.get("grants", []):
        if action not in ALLOWS.get(grant["permission"], ()):
            continue
        grantee = grant["grantee"]
        if grantee["type"] == "Group":
            if grantee["uri"] == ALL_USERS or (grantee["uri"] == AUTHENTICATED_USERS and not principal.is_anonymous):
                return EVERYONE
        elif not principal.is_anonymous and grantee.get("account") == principal.account_id:
            how = ACCOUNT
    return how


def is_public(acl: dict[str, Any] | None) -> bool:
    return any(g["grantee"].get("uri") in (ALL_USERS, AUTHENTICATED_USERS) for g in (acl or {}).get("grants", []))
