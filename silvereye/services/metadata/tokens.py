"""IMDSv2 session tokens: issued by PUT /latest/api/token, bound to one instance, expiring.

A token is ``<instance id>.<expiry>.<HMAC>`` in URL-safe base64, signed with
a key made when the listener starts: nothing to store, nothing to look up,
and a token from one instance is worthless to another (the instance is part
of what is signed, and it is checked against the caller's own identity).
Tokens do not survive a restart of the server, which clients handle as on
AWS: a 401 makes them ask for a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

TTL_MIN, TTL_MAX = 1, 21600


class TokenSigner:
    def __init__(self, key: bytes | None = None):
        self._key = key or secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, instance_id: str, ttl: int, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + ttl)
        payload = f"{instance_id}.{expiry}".encode()
        raw = payload + b"." + self._mac(payload)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def valid_for(self, token: str, instance_id: str, now: float | None = None) -> bool:
        try:
            raw = base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4))
        except (ValueError, UnicodeEncodeError):
            return False
        payload, dot, mac = raw[:-33], raw[-33:-32], raw[-32:]
        if dot != b"." or not hmac.compare_digest(mac, self._mac(payload)):
            return False
        who, _, expiry = payload.decode(errors="replace").rpartition(".")
        if who != instance_id or not expiry.isdigit():
            return False
        return int(expiry) > (now if now is not None else time.time())


def parse_ttl(value: str | None) -> int | None:
    """The TTL header's seconds, or None when absent or out of AWS's 1..21600 range."""
    if value is None or not value.strip().isdigit():
        return None
    ttl = int(value.strip())
    return ttl if TTL_MIN <= ttl <= TTL_MAX else None
