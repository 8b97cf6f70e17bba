"""Identifiers in the shapes AWS clients expect, from the `secrets` module.

EC2 resource ids are a prefix and 17 hex digits (``i-0123456789abcdef0``);
IAM unique ids are a four-letter type prefix and 16 base-32 characters
(``AIDA…`` users, ``AROA…`` roles, ``AGPA…`` groups, ``ANPA…`` managed
policies, ``AKIA…``/``ASIA…`` long-term/temporary access keys); secrets are
40 base64-ish characters; account ids are 12 digits.
"""

from __future__ import annotations

import secrets
import string

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def resource_id(prefix: str) -> str:
    """'i' -> 'i-0123456789abcdef0' (17 lowercase hex digits, as EC2's long ids)."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def iam_id(prefix: str) -> str:
    """'AIDA' -> 'AIDA' + 16 base-32 characters."""
    return prefix + "".join(secrets.choice(_B32) for _ in range(16))


def access_key_id(temporary: bool = False) -> str:
    return iam_id("ASIA" if temporary else "AKIA")


def secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def session_token() -> str:
    return secrets.token_urlsafe(96)


def account_id() -> str:
    # Never starting with 0 keeps it a 12-digit number everywhere it is parsed as one.
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def request_id() -> str:
    """A request id in the UUID form AWS uses."""
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
