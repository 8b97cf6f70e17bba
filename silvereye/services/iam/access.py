"""May this principal do this? The gateway's Access over IAM's policies.

A principal's policies are gathered once and kept compiled (see
:mod:`.cache`): a user's inline and attached policies plus those of its
groups, and its permissions boundary; an assumed role's policies and
boundary, with the session's own policy beside them. The account's root may
do anything in its own account (the engine knows), so requests by root on
its own resources skip evaluation altogether: that is the common case of an
administrator's scripts.

:meth:`IamAccess.authorize` is what the gateway calls for every request;
services with resource policies (S3 bucket policies, role trust policies)
pass the policy and the resource's account to the same method.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.identity import Principal
from silvereye.services.iam import schema
from silvereye.services.iam.cache import TtlCache
from silvereye.services.iam.schema import AWS_ACCOUNT
from silvereye.services.iam.policy import (
    EXPLICIT_DENY,
    AuthzRequest,
    MalformedPolicyDocument,
    PolicyDocument,
    build_context,
    evaluate,
    parse_policy,
)

log = logging.getLogger("silvereye.iam")

# What a stored policy that no longer parses turns into: failing closed.
_DENY_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'


@dataclass(frozen=True)
class PolicySet:
    identity: tuple[PolicyDocument, ...] = ()
    boundary: PolicyDocument | None = None


EMPTY = PolicySet()


def _compiled(text: str, what: str) -> PolicyDocument:
    try:
        return parse_policy(text, kind="identity")
    except MalformedPolicyDocument as e:
        log.error("stored policy %s no longer parses (%s); denying everything it was meant to decide", what, e.message)
        return parse_policy(_DENY_ALL, kind="identity")


def _default_documents(conn: sa.Connection, policy_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(arn, document of the default version) of managed policies."""
    ids = list(policy_ids)
    if not ids:
        return []
    p, v = schema.managed_policies, schema.policy_versions
    rows = conn.execute(
        sa.select(p.c.arn, v.c.document)
        .join(v, sa.and_(v.c.policy_id == p.c.id, v.c.version_id == p.c.default_version))
        .where(p.c.id.in_(ids))
        .order_by(p.c.arn)
    )
    return [(r.arn, r.document) for r in rows]


def _entity_documents(conn: sa.Connection, entity_ids: list[str]) -> list[tuple[str, str]]:
    """Inline and attached policies of these users/groups/roles."""
    i, a = schema.inline_policies, schema.policy_attachments
    docs = [(f"{r.owner_id}/{r.name}", r.document) for r in conn.execute(
        sa.select(i.c.owner_id, i.c.name, i.c.document).where(i.c.owner_id.in_(entity_ids)).order_by(i.c.owner_id, i.c.name_key))]
    attached = [r.policy_id for r in conn.execute(sa.select(a.c.policy_id).where(a.c.entity_id.in_(entity_ids)))]
    return docs + _default_documents(conn, dict.fromkeys(attached))


def _boundary(conn: sa.Connection, arn: str | None) -> PolicyDocument | None:
    if not arn:
        return None
    p = schema.managed_policies
    found = conn.execute(sa.select(p.c.id).where(p.c.arn == arn)).first()
    docs = _default_documents(conn, [found.id]) if found else []
    # A boundary whose policy is gone allows nothing (AWS refuses to delete it while in use).
    return _compiled(docs[0][1], arn) if docs else parse_policy(_DENY_ALL, kind="identity")


def load_policy_set(conn: sa.Connection, principal: Principal) -> PolicySet:
    if principal.kind == "assumed-role":
        role = conn.execute(sa.select(schema.roles).where(schema.roles.c.id == principal.role_id)).first()
        if role is None:
            return EMPTY
        docs = _entity_documents(conn, [role.id])
        return PolicySet(tuple(_compiled(d, w) for w, d in docs), _boundary(conn, role.permissions_boundary))
    if principal.kind == "user":
        user = conn.execute(sa.select(schema.users).where(schema.users.c.id == principal.user_id)).first()
        if user is None:
            return EMPTY
        gm = schema.group_members
        group_ids = [r.group_id for r in conn.execute(sa.select(gm.c.group_id).where(gm.c.user_id == user.id))]
        docs = _entity_documents(conn, [user.id, *group_ids])
        return PolicySet(tuple(_compiled(d, w) for w, d in docs), _boundary(conn, user.permissions_boundary))
    return EMPTY


def _account_of(resource: str) -> str:
    parts = resource.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" else ""


def denied(principal: Principal, action: str, resource: str, why: str = "") -> ServiceError:
    who = principal.arn if not principal.is_anonymous else "anonymous"
    message = f"User: {who} is not authorized to perform: {action} on resource: {resource}"
    return ServiceError("AccessDenied", message + (f" {why}" if why else ""), 403)


class IamAccess:
    """The gateway's Access: identity policies, and resource policies when a service has them."""

    def __init__(self, store: Any):
        self.store = store
        self._sets = TtlCache()
        self._sessions = TtlCache()
        _instances[store] = self

    def policy_set(self, principal: Principal) -> PolicySet:
        key = principal.role_id if principal.kind == "assumed-role" else principal.user_id
        return self._sets.get((principal.kind, key), lambda: self._load_set(principal))

    def _load_set(self, principal: Principal) -> PolicySet:
        with self.store.read() as conn:
            return load_policy_set(conn, principal)

    def session_policy(self, principal: Principal) -> PolicyDocument | None:
        if principal.session_policy is None:
            return None
        return self._sessions.get(
            principal.access_key_id, lambda: parse_policy(principal.session_policy, kind="session")
        )

    @staticmethod
    def context(ctx: RequestContext, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The condition keys of this request (``ctx.extras['condition_keys']``: a service's own)."""
        return build_context(
            ctx.principal,
            source_ip=ctx.source_ip,
            secure=ctx.request.scheme == "https",
            now=ctx.received_at,
            region=ctx.region,
            extra={**ctx.extras.get("condition_keys", {}), **(extra or {})},
        )

    def authorize(
        self,
        ctx: RequestContext,
        action: str,
        resources: list[str],
        *,
        resource_policy: PolicyDocument | None = None,
        resource_account: str | None = None,
        extra_context: dict[str, Any] | None = None,
    ) -> None:
        """Raise AccessDenied unless ``ctx.principal`` may do ``action`` on every resource."""
        principal = ctx.principal
        if principal.is_root and resource_policy is None and all(
            _account_of(r) in ("", AWS_ACCOUNT, principal.account_id) for r in resources
        ):
            return  # root in its own account: nothing to evaluate
        policies = EMPTY if principal.is_anonymous or principal.is_root else self.policy_set(principal)
        session = self.session_policy(principal)
        context = self.context(ctx, extra_context)
        for resource in resources:
            account = resource_account or _account_of(resource) or principal.account_id
            if account == AWS_ACCOUNT:  # AWS managed policies are every account's to use
                account = principal.account_id
            decision = evaluate(AuthzRequest(
                principal=principal,
                action=action,
                resource=resource,
                identity_policies=list(policies.identity),
                session_policy=session,
                permissions_boundary=policies.boundary,
                resource_policy=resource_policy,
                resource_account=account,
                context=context,
            ))
            if not decision.allowed:
                cross = account != principal.account_id
                raise denied(principal, action, resource, _why(decision.reason, action, policies, session, resource_policy, cross))


def _why(reason: str, action: str, policies: PolicySet, session: Any, resource_policy: Any, cross_account: bool) -> str:
    """AWS's explanation, when it is certain which kind of policy decided."""
    if cross_account and reason != EXPLICIT_DENY and resource_policy is None:
        return f"because no resource-based policy allows the {action} action"
    if policies.boundary is not None or session is not None or resource_policy is not None:
        return ""
    if reason == EXPLICIT_DENY:
        return "with an explicit deny in an identity-based policy"
    return f"because no identity-based policy allows the {action} action"


_instances: "weakref.WeakKeyDictionary[Any, IamAccess]" = weakref.WeakKeyDictionary()
_instances_lock = threading.Lock()


def access_for(store: Any) -> IamAccess:
    """The IamAccess serving this store (the gateway's own, so caches are shared)."""
    with _instances_lock:
        found = _instances.get(store)
    return found if found is not None else IamAccess(store)
