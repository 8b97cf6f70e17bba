"""Who is calling: the principal a request authenticates as.

The authenticator (:mod:`.auth`) turns a signature into a :class:`Principal`
by asking a :class:`CredentialResolver` (implemented by the IAM service over
the store) for the secret of the access key it names. The policy engine then
decides what that principal may do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Principal:
    account_id: str  # 12 digits
    arn: str  # arn:aws:iam::123456789012:user/alice, ...:root, arn:aws:sts::...:assumed-role/R/S
    user_id: str  # AIDA... for users, the account id for root, AROA...:session for roles
    kind: str  # 'root' | 'user' | 'assumed-role' | 'federated' | 'anonymous'
    name: str = ""  # user name, role name, or '' for root
    access_key_id: str = ""
    # Temporary credentials: the session's own policy (intersected with the
    # identity's) and tags; None for long-term keys.
    session_policy: dict[str, Any] | None = None
    session_name: str = ""
    role_id: str = ""  # AROA... for an assumed role
    tags: tuple[tuple[str, str], ...] = ()
    mfa: bool = False

    @property
    def is_root(self) -> bool:
        return self.kind == "root"

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def tag_map(self) -> dict[str, str]:
        return dict(self.tags)


ANONYMOUS = Principal(account_id="", arn="*", user_id="anonymous", kind="anonymous")


@dataclass(frozen=True)
class Credential:
    """What the store knows about one access key."""

    access_key_id: str
    secret_access_key: str
    principal: Principal
    active: bool = True
    session_token: str | None = None  # set for STS temporary credentials
    expires_at: dt.datetime | None = None  # UTC, for temporary credentials


class CredentialResolver(Protocol):
    def lookup(self, access_key_id: str) -> Credential | None:
        """The credential for this key id, or None when no such key exists."""

    def record_use(self, access_key_id: str, service: str, region: str) -> None:
        """Remember that the key was used (IAM's GetAccessKeyLastUsed)."""


@dataclass
class StaticCredentialResolver:
    """A fixed set of credentials: for tests and for the bench's baseline."""

    credentials: dict[str, Credential] = field(default_factory=dict)

    def lookup(self, access_key_id: str) -> Credential | None:
        return self.credentials.get(access_key_id)

    def record_use(self, access_key_id: str, service: str, region: str) -> None:
        return None
