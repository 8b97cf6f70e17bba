"""Policy documents as IAM receives, stores and returns them.

A document is checked by the policy engine's parser (which raises
MalformedPolicyDocument with AWS's wording) before it is stored, and counted
against IAM's size quotas the way IAM counts (no white space); documents go
back to clients URL-encoded, as AWS returns them (botocore decodes them).
"""

from __future__ import annotations

from urllib.parse import quote

from silvereye.services.iam.errors import limit_exceeded
from silvereye.services.iam.policy import POLICY_SIZE_LIMITS, PolicyDocument, parse_policy, policy_size


def check(document: str, kind: str = "identity", *, require_version: bool = False) -> PolicyDocument:
    """The compiled policy (MalformedPolicyDocument when it is not a valid policy of ``kind``)."""
    return parse_policy(document, kind=kind, require_version=require_version)


def check_inline_total(owner: str, owner_name: str, documents: list[str]) -> None:
    """The inline policies of one user, group or role together stay under their quota."""
    limit = POLICY_SIZE_LIMITS[f"{owner}-inline"]
    if sum(policy_size(d) for d in documents) > limit:
        raise limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {owner} {owner_name}")


def check_size(document: str, quota: str, limit_key: str) -> None:
    limit = POLICY_SIZE_LIMITS[limit_key]
    if policy_size(document) > limit:
        raise limit_exceeded(f"Cannot exceed quota for {quota}: {limit}")


def encode(document: str) -> str:
    """A document as IAM's Query responses carry it (RFC 3986 URL-encoding)."""
    return quote(document, safe="-_.~")
