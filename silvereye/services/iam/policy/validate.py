"""Policy grammar: which documents IAM accepts, and the message it gives for each it refuses.

The checks run in the order IAM's own parser reports them (observed against
AWS and recorded by moto's test suite): JSON and element syntax first
("Syntax errors in policy."), then the version, then the legacy parser
(exact-case Effect, parseable dates, ARN shapes), SID rules, the presence of
actions, resource formats, action vendors, the presence of resources.

Kinds of document and what differs:

``identity``  user, group, role and managed policies: no Principal
``session``   the Policy of AssumeRole/GetFederationToken: as identity
``trust``     a role's AssumeRolePolicyDocument: Principal required, no
              Resource, only sts: actions
``resource``  an S3 bucket policy: Principal required, Resource required
"""

from __future__ import annotations

import re
from typing import Any

from silvereye.services.iam.policy.conditions import condition_value_text, parse_operator
from silvereye.services.iam.policy.dates import parse_policy_date
from silvereye.services.iam.policy.errors import LEGACY, SYNTAX, MalformedPolicyDocument
from silvereye.services.iam.policy.principals import parse_principal_block

KINDS = ("identity", "session", "trust", "resource")
VERSIONS = ("2008-10-17", "2012-10-17")
_TOP = {"Version", "Id", "Statement"}
_STATEMENT = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"}
_LIST_ELEMENTS = ("Action", "NotAction", "Resource", "NotResource")
_VENDOR = re.compile(r"[A-Za-z0-9.\-]+")
_SID = re.compile(r"[0-9A-Za-z]*")
_PARTITIONS = {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
_IAM_PATHS = (
    "user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/", "server-certificate/",
    "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/", "access-report/",
)  # fmt: skip


def _fail(message: str) -> MalformedPolicyDocument:
    return MalformedPolicyDocument(message)


def as_list(value: Any) -> list:
    """An element that may be one value or a list of them, as a list."""
    return value if isinstance(value, list) else [value]


def statements_of(doc: dict) -> list[dict]:
    return as_list(doc["Statement"])


# -- 1. syntax -------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float)) and value is not None


def _check_syntax(doc: Any) -> None:
    if not isinstance(doc, dict) or not set(doc) <= _TOP:
        raise _fail(SYNTAX)
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise _fail(SYNTAX)
    if "Id" in doc and not isinstance(doc["Id"], str):
        raise _fail(SYNTAX)
    statements = doc.get("Statement")
    if not isinstance(statements, (dict, list)) or not statements:
        raise _fail(SYNTAX)
    for st in as_list(statements):
        _check_statement_syntax(st)


def _check_statement_syntax(st: Any) -> None:
    if not isinstance(st, dict) or not set(st) <= _STATEMENT:
        raise _fail(SYNTAX)
    if ("Action" in st and "NotAction" in st) or ("Resource" in st and "NotResource" in st):
        raise _fail(SYNTAX)
    if "Principal" in st and "NotPrincipal" in st:
        raise _fail(SYNTAX)
    effect = st.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise _fail(SYNTAX)
    if "Sid" in st and not isinstance(st["Sid"], str):
        raise _fail(SYNTAX)
    for name in _LIST_ELEMENTS:
        if name in st and not all(isinstance(v, str) for v in as_list(st[name])):
            raise _fail(SYNTAX)
        if name in st and not isinstance(st[name], (str, list)):
            raise _fail(SYNTAX)
    for name in ("Principal", "NotPrincipal"):
        if name in st and not isinstance(st[name], (str, dict)):
            raise _fail(SYNTAX)
    if "Condition" in st:
        _check_condition_syntax(st["Condition"])


def _check_condition_syntax(block: Any) -> None:
    if not isinstance(block, dict):
        raise _fail(SYNTAX)
    for op_name, keys in block.items():
        if not isinstance(keys, dict):
            raise _fail(SYNTAX)
        for values in keys.values():
            if not (_is_scalar(values) or (isinstance(values, list) and all(_is_scalar(v) for v in values))):
                raise _fail(SYNTAX)
        if parse_operator(op_name) is None and keys:
            raise _fail(SYNTAX)


# -- 3. legacy parser ------------------------------------------------------------------


def _check_legacy(statements: list[dict]) -> None:
    for st in statements:
        if st["Effect"] not in ("Allow", "Deny"):
            raise _fail(LEGACY)
        for op_name, keys in st.get("Condition", {}).items():
            op = parse_operator(op_name)
            if op is None or not op.base.startswith("Date"):
                continue
            for values in keys.values():
                for value in as_list(values):
                    try:
                        parse_policy_date(condition_value_text(value))
                    except ValueError:
                        raise _fail(LEGACY) from None
    # IAM's legacy parser looks at ARN shapes only until it meets a resource
    # whose format is wrong: from there on that format error is what it reports.
    format_error_seen = False
    for st in statements:
        for name in ("Resource", "NotResource"):
            resources = as_list(st.get(name, []))
            format_error_seen = format_error_seen or any(resource_format_error(r) for r in resources)
            if format_error_seen:
                return
            for resource in resources:
                parts = _arn_parts(resource)
                if resource != "*" and (("" in parts[1:-1] and len(parts) < 6) or (len(parts) > 2 and parts[2] == "")):
                    raise _fail(LEGACY)


# -- 6. resource formats ---------------------------------------------------------------


_VARIABLE = re.compile(r"\$\{[^}]*\}")


def _arn_parts(resource: str) -> list[str]:
    """The colon-separated parts of a Resource entry; a policy variable counts as plain text."""
    return _VARIABLE.sub("v", resource).split(":")


def resource_format_error(resource: str) -> str | None:
    """IAM's message for a Resource entry it refuses, or None."""
    if resource == "*":
        return None
    parts = _arn_parts(resource)
    if len(parts) == 1:
        return f'Resource {resource} must be in ARN format or "*".'
    partition = parts[1]
    if partition not in _PARTITIONS:
        rest = parts[2:] + ["*"] * max(0, 4 - len(parts[2:]))
        if len(parts) == 3 and parts[2] == "":
            rest[0] = "*"
        shown = ":".join(rest[:3] + [":".join(rest[3:])])
        return f'Partition "{partition}" is not valid for resource "arn:{partition}:{shown}".'
    if len(parts) < 3 or any(c in parts[2] for c in "*?"):
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service = parts[2]
    region = parts[3] if len(parts) > 3 else ""
    if service == "iam" and region:
        return f"IAM resource {resource} cannot contain region information."
    if service == "s3" and region:
        return f"Resource {resource} can not contain region information."
    if service == "iam" and len(parts) >= 6:
        path = ":".join(parts[5:])
        if path != "*" and not path.startswith(_IAM_PATHS):
            return f'IAM resource path must either be "*" or start with {", ".join(_IAM_PATHS)}.'
    return None


# -- 7. actions ------------------------------------------------------------------------


def action_error(action: str) -> str | None:
    if action == "*":
        return None
    parts = action.split(":")
    if len(parts) == 1:
        return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    if len(parts) > 2:
        return "Actions/Condition can contain only one colon."
    vendor = parts[0]
    if vendor != "*" and not _VENDOR.fullmatch(vendor):
        return f"Vendor {vendor} is not valid"
    return None


# -- the whole grammar -----------------------------------------------------------------


def validate_document(doc: Any, *, kind: str, require_version: bool) -> list[dict]:
    """Raise MalformedPolicyDocument with IAM's message, or return the statements as a list."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {KINDS}")
    _check_syntax(doc)
    if require_version and doc.get("Version") != "2012-10-17":
        raise _fail("Policy document must be version 2012-10-17 or greater.")
    statements = statements_of(doc)
    _check_legacy(statements)
    if kind != "resource":
        for st in statements:
            if not _SID.fullmatch(st.get("Sid", "")):
                raise _fail(
                    "Statement IDs (SID) must be alpha-numeric. "
                    "Check that your input satisfies the regular expression [0-9A-Za-z]*"
                )
    sids = [st["Sid"] for st in statements if st.get("Sid")]
    if len(sids) != len(set(sids)):
        raise _fail("Statement IDs (SID) in a single policy must be unique.")
    if kind == "trust":
        _check_trust(statements)
    else:
        _check_permissions(statements, kind)
    for st in statements:
        for name in ("Principal", "NotPrincipal"):
            if name in st:
                parse_principal_block(st[name], allow_canonical=kind == "resource")
    return statements


def _has(st: dict, *names: str) -> bool:
    return any(name in st and st[name] != [] for name in names)


def _check_permissions(statements: list[dict], kind: str) -> None:
    for st in statements:
        if kind in ("identity", "session") and ("Principal" in st or "NotPrincipal" in st):
            raise _fail("Policy document should not specify a principal.")
        if kind == "resource" and "Principal" not in st and "NotPrincipal" not in st:
            raise _fail("Missing required field Principal")
    for st in statements:
        if not _has(st, "Action", "NotAction"):
            raise _fail("Policy statement must contain actions.")
    # IAM reports the last refused resource, taking each statement's in reverse order.
    refused = [
        message
        for st in statements
        for name in ("Resource", "NotResource")
        for resource in sorted(as_list(st.get(name, [])), reverse=True)
        if (message := resource_format_error(resource))
    ]
    if refused:
        raise _fail(refused[-1])
    _check_actions(statements)
    for st in statements:
        if not _has(st, "Resource", "NotResource"):
            raise _fail("Policy statement must contain resources.")


def _check_actions(statements: list[dict]) -> None:
    for st in statements:
        for name in ("Action", "NotAction"):
            for action in as_list(st.get(name, [])):
                if message := action_error(action):
                    raise _fail(message)


def _check_trust(statements: list[dict]) -> None:
    for st in statements:
        for name in ("Resource", "NotResource", "NotPrincipal"):
            if name in st:
                raise _fail(f"Has prohibited field {name}")
        if "Principal" not in st:
            raise _fail("Missing required field Principal")
        if not _has(st, "Action", "NotAction"):
            raise _fail("Missing required field Action")
    _check_actions(statements)
    for st in statements:
        for name in ("Action", "NotAction"):
            for action in as_list(st.get(name, [])):
                if not action.lower().startswith("sts:"):
                    raise _fail("AssumeRole policy may only specify STS AssumeRole actions.")
