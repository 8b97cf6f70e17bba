"""A policy document parsed once into statements that are cheap to evaluate.

:func:`parse_policy` validates (MalformedPolicyDocument with IAM's message)
and compiles: actions and resources into :class:`PatternSet` objects,
principals into :class:`PrincipalBlock`, conditions into clauses. Parsing
JSON text is memoised, so a caller may keep policies as the text it stores
and call :func:`parse_policy` on every request.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from silvereye.services.iam.policy.conditions import Clause, compile_block, condition_value_text, conditions_hold
from silvereye.services.iam.policy.errors import SYNTAX, MalformedPolicyDocument
from silvereye.services.iam.policy.patterns import Lookup, PatternSet, Unresolved, tokenize
from silvereye.services.iam.policy.principals import PrincipalBlock, parse_principal_block
from silvereye.services.iam.policy.validate import as_list, validate_document

# Size quotas in characters, white space not counted (IAM "quotas"): the
# inline ones are the total of all inline policies of one user/group/role.
POLICY_SIZE_LIMITS = {
    "managed": 6144,
    "user-inline": 2048,
    "group-inline": 5120,
    "role-inline": 10240,
    "trust": 2048,
    "session": 2048,
}


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    sid: str | None
    allow: bool
    actions: PatternSet
    not_action: bool
    resources: PatternSet | None  # None: the statement has no Resource element (trust policies)
    not_resource: bool
    principal: PrincipalBlock | None
    not_principal: bool
    conditions: tuple[Clause, ...]

    def applies(self, action: str, resource: str, context: Mapping[str, Any], lookup: Lookup) -> bool:
        """Action, resource and conditions (not the principal) match; ``action`` lower-cased.

        A policy variable the request cannot resolve in NotResource or a
        condition makes the statement not apply; in a Resource entry it
        makes only that entry not match.
        """
        if self.actions.matches(action) == self.not_action:
            return False
        try:
            if self.resources is not None:
                if self.not_resource:
                    if self.resources.matches(resource, lookup, strict=True):
                        return False
                elif not self.resources.matches(resource, lookup):
                    return False
            return not self.conditions or conditions_hold(self.conditions, context, lookup)
        except Unresolved:
            return False


@dataclass(frozen=True, slots=True, eq=False)
class PolicyDocument:
    kind: str
    version: str  # '2012-10-17' or '2008-10-17' (also when the document names none)
    statements: tuple[Statement, ...]
    document: dict = field(repr=False)  # the parsed JSON; shared, do not mutate
    policy_id: str | None = None
    allows: tuple[Statement, ...] = ()
    denies: tuple[Statement, ...] = ()


def _compile_statement(st: dict, *, variables: bool) -> Statement:
    action_key = "NotAction" if "NotAction" in st else "Action"
    resource_key = "NotResource" if "NotResource" in st else "Resource" if "Resource" in st else None
    principal_key = "NotPrincipal" if "NotPrincipal" in st else "Principal" if "Principal" in st else None
    resources = None
    if resource_key is not None:
        resources = PatternSet(
            (tokenize(r, wildcards=True, variables=variables) for r in as_list(st[resource_key])), "arn"
        )
    condition = {
        op: {key: [condition_value_text(v) for v in as_list(values)] for key, values in keys.items()}
        for op, keys in st.get("Condition", {}).items()
    }
    return Statement(
        sid=st.get("Sid") or None,
        allow=st["Effect"] == "Allow",
        actions=PatternSet((tokenize(a, wildcards=True, variables=False) for a in as_list(st[action_key])), "action"),
        not_action=action_key == "NotAction",
        resources=resources,
        not_resource=resource_key == "NotResource",
        principal=parse_principal_block(st[principal_key], allow_canonical=True) if principal_key else None,
        not_principal=principal_key == "NotPrincipal",
        conditions=compile_block(condition, variables=variables),
    )


def _build(doc: Any, kind: str, require_version: bool) -> PolicyDocument:
    statements = validate_document(doc, kind=kind, require_version=require_version)
    version = doc.get("Version", "2008-10-17")
    compiled = tuple(_compile_statement(st, variables=version == "2012-10-17") for st in statements)
    return PolicyDocument(
        kind=kind,
        version=version,
        statements=compiled,
        document=doc,
        policy_id=doc.get("Id"),
        allows=tuple(s for s in compiled if s.allow),
        denies=tuple(s for s in compiled if not s.allow),
    )


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str, kind: str, require_version: bool) -> PolicyDocument:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument(SYNTAX) from None
    return _build(doc, kind, require_version)


def parse_policy(doc: str | dict, *, kind: str = "identity", require_version: bool = False) -> PolicyDocument:
    """Validate and compile a policy document.

    ``kind``: 'identity' | 'session' | 'trust' | 'resource' (see
    :mod:`.validate`). ``require_version``: refuse documents that are not
    version 2012-10-17, as CreatePolicy and CreatePolicyVersion do; inline
    and trust policies may omit the version.
    """
    if isinstance(doc, str):
        return _parse_text(doc, kind, require_version)
    return _build(doc, kind, require_version)


def policy_size(doc: str | dict) -> int:
    """The size IAM counts against its quotas: characters, white space outside strings not counted."""
    if not isinstance(doc, str):
        return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    size = 0
    in_string = escaped = False
    for c in doc:
        if in_string:
            size += 1
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif not c.isspace():
            size += 1
            in_string = c == '"'
    return size
