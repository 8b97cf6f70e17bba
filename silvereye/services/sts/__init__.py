"""STS: temporary credentials (GetSessionToken, AssumeRole) and GetCallerIdentity.

Sessions live in IAM's store (``iam_sessions``) so the credential resolver
finds them beside long-term keys; the trust rules are in :mod:`.trust`.
"""

from __future__ import annotations

from silvereye.services.registry import Service, collect_handlers
from silvereye.services.sts import handlers
from silvereye.services.sts.trust import sts_authorize

SERVICE = Service(
    name="sts",
    signing_name="sts",
    iam_prefix="sts",
    euca_path="/services/Tokens",
    handlers=collect_handlers("sts", handlers),
    authorize=sts_authorize,
    unauthenticated_ok=frozenset({"GetCallerIdentity", "GetSessionToken"}),
)
