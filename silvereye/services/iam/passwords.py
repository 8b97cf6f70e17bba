"""Login passwords: hashed with scrypt, checked against the account's password policy.

A password is stored only as ``scrypt$N$r$p$salt$hash`` (a fresh 16-byte
salt each time; scrypt is slow and memory-hard on purpose, so a stolen
database does not give the passwords away cheaply). The password policy is
the account's custom one when set (UpdateAccountPasswordPolicy), else IAM's
default: at least 8 characters mixing three of upper case, lower case,
digits and symbols.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam import schema

_N, _R, _P = 2**14, 8, 1
SYMBOLS = set("!@#$%^&*()_+-=[]{}|'")

# The values UpdateAccountPasswordPolicy uses for the members a request leaves out.
POLICY_DEFAULTS: dict[str, Any] = {
    "MinimumPasswordLength": 6,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "MaxPasswordAge": 0,
    "PasswordReusePrevention": 0,
    "HardExpiry": False,
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def account_policy(conn: sa.Connection, account_id: str) -> dict[str, Any]:
    """The account's custom password policy ({} when it has none)."""
    a = schema.accounts
    row = conn.execute(sa.select(a.c.password_policy).where(a.c.id == account_id)).first()
    return json.loads(row.password_policy) if row is not None and row.password_policy else {}


def violation(message: str) -> ServiceError:
    return ServiceError("PasswordPolicyViolation", message, 400)


def check_password(conn: sa.Connection, account_id: str, password: str, previous_hashes: list[str] = ()) -> None:
    """PasswordPolicyViolation unless ``password`` satisfies the account's policy."""
    policy = account_policy(conn, account_id)
    kinds = {
        "uppercase letter": any(c.isupper() for c in password),
        "lowercase letter": any(c.islower() for c in password),
        "number": any(c.isdigit() for c in password),
        "symbol": any(c in SYMBOLS for c in password),
    }
    if not policy:
        if len(password) < 8:
            raise violation("Password should have a minimum length of 8")
        if sum(kinds.values()) < 3:
            raise violation(
                "Password should include at least three of: uppercase letters, lowercase letters, numbers and symbols"
            )
        return
    minimum = policy.get("MinimumPasswordLength", 6)
    if len(password) < minimum:
        raise violation(f"Password should have a minimum length of {minimum}")
    for flag, kind in (("RequireUppercaseCharacters", "uppercase letter"), ("RequireLowercaseCharacters", "lowercase letter"),
                       ("RequireNumbers", "number"), ("RequireSymbols", "symbol")):
        if policy.get(flag) and not kinds[kind]:
            raise violation(f"Password should have at least one {kind}")
    reuse = policy.get("PasswordReusePrevention", 0)
    if reuse and any(verify_password(password, h) for h in list(previous_hashes)[:reuse]):
        raise violation(f"Password should not be one of your previous {reuse} passwords")
