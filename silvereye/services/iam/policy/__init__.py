"""The IAM policy engine: validate policy documents and decide every request.

Parse once (``parse_policy``: IAM's grammar and messages, wildcards and
conditions compiled), evaluate per request (``evaluate``: AWS's evaluation
logic across identity, session, boundary and resource policies). Modules:

patterns    wildcards and policy variables, compiled
dates       ISO 8601 / epoch values of Date conditions
conditions  condition operators and their missing-key/set-qualifier rules
principals  Principal/NotPrincipal blocks and how directly they name a caller
validate    the grammar, with IAM's MalformedPolicyDocument messages
document    parse_policy, PolicyDocument, Statement, policy_size
context     build_context: the global condition keys of a request
evaluate    AuthzRequest, Decision, evaluate, evaluate_trust
"""

from silvereye.services.iam.policy.context import build_context
from silvereye.services.iam.policy.document import (
    POLICY_SIZE_LIMITS,
    PolicyDocument,
    Statement,
    parse_policy,
    policy_size,
)
from silvereye.services.iam.policy.errors import MalformedPolicyDocument
from silvereye.services.iam.policy.evaluate import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    AuthzRequest,
    Decision,
    evaluate,
    evaluate_policy,
    evaluate_trust,
)
from silvereye.services.iam.policy.principals import principal_matches

__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "POLICY_SIZE_LIMITS",
    "AuthzRequest",
    "Decision",
    "MalformedPolicyDocument",
    "PolicyDocument",
    "Statement",
    "build_context",
    "evaluate",
    "evaluate_policy",
    "evaluate_trust",
    "parse_policy",
    "policy_size",
    "principal_matches",
]
