"""The Principal and NotPrincipal elements of trust and resource policies.

A principal block names who a statement is about: ``"*"`` (everyone,
anonymous included; ``{"AWS": "*"}`` is the same), an account (its id or
``arn:aws:iam::<id>:root``: any identity of that account), a user, a role
(any session of it), a role session, a federated user, an IAM unique id,
a service (``{"Service": "ec2.amazonaws.com"}``) or an identity provider
(``{"Federated": ...}``).

Matching yields a *strength*, because AWS treats the kinds differently when
a resource policy grants access inside the resource's own account: a grant
naming the caller itself (or everyone) stands on its own; one naming the
caller's role is still limited by its permissions boundary and session
policy; one naming the account only delegates to the account's own
identity policies.

Principals whose ``kind`` is ``'service'`` (``name`` = the service, e.g.
``ec2.amazonaws.com``) and ``'web-identity'`` (``name`` = the provider)
match Service and Federated entries respectively.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from silvereye.services.gateway.identity import Principal
from silvereye.services.iam.policy.errors import MalformedPolicyDocument

NONE, ACCOUNT, ROLE, DIRECT = 0, 1, 2, 3

_PARTITIONS = r"aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc"
_ACCOUNT_ID = re.compile(r"\d{12}")
_IAM_ARN = re.compile(rf"arn:(?:{_PARTITIONS}):iam::(\d{{12}}):(root|(user|role)/(?:[^*?]*/)?([^/*?]+))")
_STS_ARN = re.compile(rf"arn:(?:{_PARTITIONS}):sts::(\d{{12}}):(?:assumed-role/[^/*?]+/[^/*?]+|federated-user/[^/*?]+)")
_UNIQUE_ID = re.compile(r"A[A-Z]{3}[A-Z0-9]{12,124}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.[a-z0-9.-]*[a-z0-9]")
_FEDERATED = re.compile(
    rf"arn:(?:{_PARTITIONS}):iam::\d{{12}}:(?:saml-provider|oidc-provider)/[^*?]+|[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]+(?:/[^\s*?]*)?"
)
_CANONICAL = re.compile(r"[0-9a-f]{64}")
_KEYS = {"AWS", "Service", "Federated", "CanonicalUser"}


@dataclass(frozen=True, slots=True)
class PrincipalBlock:
    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()  # users, role sessions, federated users: exact
    roles: frozenset[tuple[str, str]] = frozenset()  # (account, role name)
    unique_ids: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()


def _invalid(key: str, value: Any) -> MalformedPolicyDocument:
    shown = key.upper() if key != "AWS" else key
    return MalformedPolicyDocument(f'Invalid principal in policy: "{shown}":{json.dumps(value)}')


def _values(key: str, raw: Any) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) for v in values):
        raise _invalid(key, raw)
    return values


def parse_principal_block(raw: Any, *, allow_canonical: bool = False) -> PrincipalBlock:
    """Validate and compile a Principal/NotPrincipal value; MalformedPolicyDocument when invalid."""
    if raw == "*":
        return PrincipalBlock(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise MalformedPolicyDocument(f"Invalid principal in policy: {json.dumps(raw)}")
    found: dict[str, set] = {name: set() for name in PrincipalBlock.__slots__ if name != "everyone"}
    everyone = False
    for key, entry in raw.items():
        if key not in _KEYS or (key == "CanonicalUser" and not allow_canonical):
            raise _invalid(key, entry)
        for value in _values(key, entry):
            if key == "AWS":
                everyone |= _add_aws(found, value)
            elif key == "Service" and _SERVICE.fullmatch(value):
                found["services"].add(value.lower())
            elif key == "Federated" and _FEDERATED.fullmatch(value):
                found["federated"].add(value)
            elif key == "CanonicalUser" and _CANONICAL.fullmatch(value):
                found["canonical_users"].add(value)
            else:
                raise _invalid(key, value)
    return PrincipalBlock(everyone=everyone, **{k: frozenset(v) for k, v in found.items()})


def _add_aws(found: dict[str, set], value: str) -> bool:
    """Record one "AWS" value; True when it is the everyone wildcard."""
    if value == "*":
        return True
    if _ACCOUNT_ID.fullmatch(value):
        found["accounts"].add(value)
    elif m := _IAM_ARN.fullmatch(value):
        account, what, kind, name = m.groups()
        if what == "root":
            found["accounts"].add(account)
        elif kind == "role":
            found["roles"].add((account, name))
        else:
            found["arns"].add(value)
    elif _STS_ARN.fullmatch(value):
        found["arns"].add(value)
    elif _UNIQUE_ID.fullmatch(value):
        found["unique_ids"].add(value)
    else:
        raise _invalid("AWS", value)
    return False


def _role_name(principal: Principal) -> str:
    """The role an assumed-role session belongs to: arn:aws:sts::<acct>:assumed-role/<role>/<session>."""
    parts = principal.arn.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("assumed-role/"):
        return parts[5].split("/")[1]
    return principal.name


def match_strength(block: PrincipalBlock, principal: Principal) -> int:
    """How directly the block names the principal: NONE, ACCOUNT, ROLE or DIRECT."""
    if block.everyone:
        return DIRECT
    kind = principal.kind
    if kind == "anonymous":
        return NONE
    if kind == "service":
        return DIRECT if principal.name.lower() in block.services else NONE
    if kind == "web-identity":
        return DIRECT if principal.name in block.federated else NONE
    if principal.arn in block.arns:
        return DIRECT
    if kind == "assumed-role":
        if principal.role_id in block.unique_ids or (principal.account_id, _role_name(principal)) in block.roles:
            return ROLE
    elif principal.user_id in block.unique_ids:
        return DIRECT
    if principal.account_id in block.accounts:
        return ACCOUNT
    return NONE


def excluded_by(block: PrincipalBlock, principal: Principal) -> bool:
    """NotPrincipal: the principal is left out only when its own ARN and its account are both listed.

    This is why AWS asks a Deny with NotPrincipal to name the account too: an
    entry for the user alone still leaves the account, and so the user, denied.
    """
    if block.everyone:
        return True
    if principal.kind in ("anonymous", "service", "web-identity"):
        return match_strength(block, principal) == DIRECT
    own = principal.arn in block.arns or (principal.kind == "root" and principal.account_id in block.accounts)
    return own and principal.account_id in block.accounts


@functools.lru_cache(maxsize=1024)
def _parsed_from_json(text: str) -> PrincipalBlock:
    return parse_principal_block(json.loads(text), allow_canonical=True)


def principal_matches(block: PrincipalBlock | str | dict, principal: Principal) -> bool:
    """Does a Principal element (raw JSON value or compiled) name this principal?"""
    if not isinstance(block, PrincipalBlock):
        block = _parsed_from_json(json.dumps(block, sort_keys=True))
    return match_strength(block, principal) != NONE
