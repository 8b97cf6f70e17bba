"""Is this request allowed? AWS's policy evaluation logic, for one account or across two.

The order (IAM User Guide, "Policy evaluation logic"):

1. An explicit Deny in any policy that applies (identity, session,
   permissions boundary, resource policy) denies.
2. A resource policy that allows the request may grant it:
   inside the resource's account, a grant naming the caller itself (user,
   role session, or everyone) is enough on its own; one naming the caller's
   role still needs the permissions boundary and session policy to allow;
   one naming only the account delegates to the account's identity policies.
3. Otherwise an identity policy must allow, and so must the permissions
   boundary and the session policy when present (they intersect).
4. Across accounts both sides must agree: the caller's identity policies
   (and boundary and session policy) and the resource account's resource
   policy, naming the caller or its account.

An account's root user may do anything in its own account (only an explicit
deny in a resource policy stops it) and nothing in another account unless
that account's resource policy grants it. Anonymous callers, services and
web identities are allowed only by resource (or trust) policies naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from silvereye.services.gateway.identity import Principal
from silvereye.services.iam.policy.conditions import context_text
from silvereye.services.iam.policy.document import PolicyDocument, Statement
from silvereye.services.iam.policy.patterns import Lookup
from silvereye.services.iam.policy.principals import DIRECT, NONE, ROLE, excluded_by, match_strength

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicit-deny", "implicit-deny"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # 'explicit-deny' | 'allowed' | 'implicit-deny'
    statement_sid: str | None = None


_IMPLICIT = Decision(False, IMPLICIT_DENY)


@dataclass
class AuthzRequest:
    principal: Principal
    action: str  # 'iam:CreateUser'
    resource: str  # an ARN, or '*'
    identity_policies: list[PolicyDocument] = field(default_factory=list)
    session_policy: PolicyDocument | None = None
    permissions_boundary: PolicyDocument | None = None
    resource_policy: PolicyDocument | None = None
    resource_account: str | None = None  # default: the account in the resource ARN, else the caller's
    context: dict[str, Any] = field(default_factory=dict)


def _lookup(context: Mapping[str, Any]) -> Lookup:
    """Policy variables resolve to single-valued context keys only."""

    def lookup(key: str) -> str | None:
        value = context.get(key)
        if value is None or isinstance(value, (list, tuple, set, frozenset)):
            return None
        return context_text(value)

    return lookup


def _strength(st: Statement, principal: Principal) -> int:
    """How the statement's Principal/NotPrincipal names the caller (identity statements name no one)."""
    if st.principal is None:
        return DIRECT
    if st.not_principal:
        return NONE if excluded_by(st.principal, principal) else DIRECT
    return match_strength(st.principal, principal)


class _Request:
    __slots__ = ("principal", "action", "resource", "context", "lookup")

    def __init__(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]):
        self.principal = principal
        self.action = action.lower()
        self.resource = resource
        self.context = {key.lower(): value for key, value in context.items()}
        self.lookup = _lookup(self.context)

    def first(self, statements: Iterable[Statement]) -> Statement | None:
        for st in statements:
            if _strength(st, self.principal) != NONE and st.applies(
                self.action, self.resource, self.context, self.lookup
            ):
                return st
        return None

    def denial(self, docs: Iterable[PolicyDocument]) -> Statement | None:
        for doc in docs:
            if doc.denies and (st := self.first(doc.denies)) is not None:
                return st
        return None

    def allowance(self, docs: Iterable[PolicyDocument]) -> Statement | None:
        for doc in docs:
            if (st := self.first(doc.allows)) is not None:
                return st
        return None

    def grant(self, doc: PolicyDocument) -> tuple[int, Statement | None]:
        """The most direct allow of a resource policy for this caller."""
        best, best_st = NONE, None
        for st in doc.allows:
            strength = _strength(st, self.principal)
            if strength > best and st.applies(self.action, self.resource, self.context, self.lookup):
                best, best_st = strength, st
                if best == DIRECT:
                    break
        return best, best_st


def _arn_account(resource: str) -> str | None:
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[4]:
        return parts[4]
    return None


def _allowed(st: Statement | None) -> Decision:
    return Decision(True, ALLOWED, st.sid if st is not None else None)


def evaluate(req: AuthzRequest) -> Decision:
    """The decision for one request; see the module docstring for the rules."""
    principal = req.principal
    r = _Request(principal, req.action, req.resource, req.context)
    limits = [d for d in (req.session_policy, req.permissions_boundary) if d is not None]
    everything = [*req.identity_policies, *limits]
    if req.resource_policy is not None:
        everything.append(req.resource_policy)
    if (denied := r.denial(everything)) is not None:
        return Decision(False, EXPLICIT_DENY, denied.sid)

    grant, grant_st = r.grant(req.resource_policy) if req.resource_policy is not None else (NONE, None)
    if principal.kind in ("anonymous", "service", "web-identity"):
        return _allowed(grant_st) if grant != NONE else _IMPLICIT

    account = req.resource_account or _arn_account(req.resource) or principal.account_id
    same_account = account == principal.account_id
    if principal.is_root:
        if same_account:
            return _allowed(None)
        return _allowed(grant_st) if grant != NONE else _IMPLICIT
    if same_account and grant == DIRECT:
        return _allowed(grant_st)
    if any(r.first(doc.allows) is None for doc in limits):
        return _IMPLICIT
    if same_account and grant == ROLE:
        return _allowed(grant_st)
    identity = r.allowance(req.identity_policies)
    if identity is None or not (same_account or grant != NONE):
        return _IMPLICIT
    return _allowed(identity)


def evaluate_policy(
    doc: PolicyDocument, principal: Principal, action: str, resource: str = "*", context: Mapping[str, Any] | None = None
) -> Decision:
    """One policy on its own: explicit deny, else allowed if a statement allows, else implicit deny."""
    r = _Request(principal, action, resource, context or {})
    if (denied := r.denial([doc])) is not None:
        return Decision(False, EXPLICIT_DENY, denied.sid)
    allowed = r.allowance([doc])
    return _allowed(allowed) if allowed is not None else _IMPLICIT


def evaluate_trust(
    trust: PolicyDocument,
    principal: Principal,
    action: str = "sts:AssumeRole",
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Does a role's trust policy by itself let this principal assume the role?

    For an AssumeRole call by a user or role, authorise with :func:`evaluate`
    instead, passing the trust policy as ``resource_policy`` and the role ARN
    as ``resource``: that also applies the caller's identity policies, which
    AWS requires when the trust policy names only the caller's account or the
    caller is in another account.
    """
    return evaluate_policy(trust, principal, action, "*", context)
