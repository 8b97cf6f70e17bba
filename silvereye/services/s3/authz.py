"""May this caller do this to this bucket or object? Identity policies, the bucket policy and ACLs together.

The rules (S3 User Guide, "How Amazon S3 authorizes a request"):

1. An explicit Deny in the caller's identity policies, session policy,
   permissions boundary or the bucket policy denies.
2. The IAM engine (:func:`~silvereye.services.iam.policy.evaluate`) decides
   identity and bucket policy together, with the bucket's account as the
   resource account: within the account an identity policy or a bucket
   policy grant suffices (root needs neither); across accounts both sides
   must allow; anonymous callers need a grant to ``"*"``.
3. Otherwise an ACL may still grant: a grant to AllUsers or
   AuthenticatedUsers stands on its own, like a bucket policy grant to
   ``"*"``; a grant to the caller's account delegates to that account,
   so a user of another account also needs its identity policies to allow.
   Object reads and object-ACL operations consult the object's ACL, all
   others the bucket's.

Objects written by another account stay under the bucket owner's control
(as S3's "bucket owner preferred" ownership); the writer keeps the
FULL_CONTROL grant its object's ACL gives it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.identity import Principal
from silvereye.services.iam.access import EMPTY, PolicySet, access_for
from silvereye.services.iam.policy import (
    EXPLICIT_DENY,
    AuthzRequest,
    MalformedPolicyDocument,
    PolicyDocument,
    build_context,
    evaluate,
    parse_policy,
)
from silvereye.services.s3 import errors, grants
from silvereye.services.s3.catalog import Bucket, Version


@dataclass
class Subject:
    """The caller with what evaluation needs: its policies and the request's condition keys."""

    principal: Principal
    policies: PolicySet
    session: PolicyDocument | None
    context: dict[str, Any]


def subject(store: Any, principal: Principal, context: dict[str, Any]) -> Subject:
    access = access_for(store)
    plain = principal.is_anonymous or principal.is_root
    return Subject(principal, EMPTY if plain else access.policy_set(principal), access.session_policy(principal), context)


def request_subject(ctx: RequestContext, extra: dict[str, Any] | None = None) -> Subject:
    """The subject of this request (built once per request)."""
    found = ctx.extras.get("s3.subject")
    if found is None:
        found = subject(ctx.store, ctx.principal, access_for(ctx.store).context(ctx, extra))
        ctx.extras["s3.subject"] = found
    elif extra:
        found.context.update(extra)
    return found


def internal_subject(store: Any, principal: Principal, region: str = "") -> Subject:
    """A subject for a check made on the cloud's own behalf (EC2 reading a user's image)."""
    now = dt.datetime.now(dt.timezone.utc)
    return subject(store, principal, build_context(principal, source_ip="", secure=False, now=now, region=region))


def bucket_policy(bucket: Bucket) -> PolicyDocument | None:
    if not bucket.policy:
        return None
    try:
        return parse_policy(bucket.policy, kind="resource")
    except MalformedPolicyDocument:  # stored before a stricter parser: fail closed for everyone but the owner
        return parse_policy('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*",'
                            f'"Resource":["arn:aws:s3:::{bucket.name}","arn:aws:s3:::{bucket.name}/*"],'
                            '"Condition":{"StringNotEquals":{"aws:PrincipalAccount":"' + bucket.account_id + '"}}}]}',
                            kind="resource")


def _evaluate(who: Subject, action: str, resource: str, policy: PolicyDocument | None, account: str):  # noqa: ANN202
    return evaluate(AuthzRequest(
        principal=who.principal, action=action, resource=resource,
        identity_policies=list(who.policies.identity), session_policy=who.session,
        permissions_boundary=who.policies.boundary, resource_policy=policy, resource_account=account,
        context=who.context,
    ))


def allowed(who: Subject, action: str, bucket: Bucket, obj: Version | None = None, *, key: str | None = None) -> bool:
    """The decision for ``action`` on the bucket, or on ``key``/``obj`` in it."""
    resource = bucket.arn if key is None and obj is None else f"{bucket.arn}/{obj.key if obj else key}"
    decision = _evaluate(who, action, resource, bucket_policy(bucket), bucket.account_id)
    if decision.allowed:
        return True
    if decision.reason == EXPLICIT_DENY:
        return False
    acl = (obj.acl if obj is not None else None) if action.lower() in grants.OBJECT_ACL_ACTIONS else bucket.acl
    how = grants.permits(acl, who.principal, action)
    principal = who.principal
    if how is None:
        return False
    if principal.is_anonymous or how == grants.EVERYONE:
        return True
    if principal.account_id == bucket.account_id:
        return False  # a grant to one's own account delegates to identity policies, which said no
    if principal.is_root:
        return True
    return _evaluate(who, action, resource, None, principal.account_id).allowed


def require(who: Subject, action: str, bucket: Bucket, obj: Version | None = None, *, key: str | None = None) -> None:
    if not allowed(who, action, bucket, obj, key=key):
        raise errors.access_denied()


def require_identity(ctx: RequestContext, action: str, resource: str) -> None:
    """Operations on no bucket (ListBuckets, CreateBucket): the caller's identity policies alone."""
    if ctx.principal.is_anonymous:
        raise errors.access_denied()
    who = request_subject(ctx)
    if not _evaluate(who, action, resource, None, ctx.principal.account_id).allowed:
        raise errors.access_denied()
