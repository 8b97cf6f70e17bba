"""Access keys, session tokens and clocks: the checks every signature version shares."""

from __future__ import annotations

import datetime as dt
import hmac
from email.utils import parsedate_to_datetime

from silvereye.services.gateway.auth.dialect import Failure, fail
from silvereye.services.gateway.identity import Credential, CredentialResolver

UTC = dt.timezone.utc
AMZ_DATE = "%Y%m%dT%H%M%SZ"


def credential_for(
    resolver: CredentialResolver,
    access_key_id: str,
    token: str | None,
    *,
    family: str,
    now: dt.datetime,
) -> Credential:
    """The credential a request names, refused when it may not be used now.

    A temporary key (one with a session token) must come with exactly its own
    token; a long-term key with any token at all is refused, as AWS does.
    """
    credential = resolver.lookup(access_key_id) if access_key_id else None
    if credential is None:
        fail(family, Failure.UNKNOWN_KEY, AWSAccessKeyId=access_key_id)
    if not credential.active:
        fail(family, Failure.INACTIVE_KEY, AWSAccessKeyId=access_key_id)
    if credential.session_token is None:
        if token:
            fail(family, Failure.TOKEN_INVALID)
        return credential
    if not token:
        fail(family, Failure.TOKEN_MISSING, AWSAccessKeyId=access_key_id)
    if not hmac.compare_digest(token.encode(), credential.session_token.encode()):
        fail(family, Failure.TOKEN_INVALID)
    if credential.expires_at is not None and now >= _aware(credential.expires_at):
        fail(family, Failure.TOKEN_EXPIRED, **{"Token-0": token})
    return credential


def check_skew(family: str, request_time: dt.datetime, now: dt.datetime, skew_seconds: int, shown: str) -> None:
    """Refuse a header-signed request dated outside now ± skew (replay window)."""
    skew = dt.timedelta(seconds=skew_seconds)
    if abs(now - request_time) <= skew:
        return
    past = request_time < now
    fail(
        family,
        Failure.SKEW_PAST if past else Failure.SKEW_FUTURE,
        request_time=request_time.strftime(AMZ_DATE),
        limit=(now - skew if past else now + skew).strftime(AMZ_DATE),
        now=now.strftime(AMZ_DATE),
        minutes=skew_seconds // 60,
        RequestTime=shown,
        ServerTime=iso_z(now),
        MaxAllowedSkewMilliseconds=str(skew_seconds * 1000),
    )


def parse_amz_date(value: str) -> dt.datetime | None:
    """'20150830T123600Z' (SigV4) or an RFC 1123 HTTP date; None when neither."""
    value = value.strip()
    try:
        return dt.datetime.strptime(value, AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        pass
    return parse_http_date(value)


def parse_http_date(value: str) -> dt.datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return _aware(parsed) if parsed is not None else None


def parse_iso8601(value: str) -> dt.datetime | None:
    """SigV2 Timestamp/Expires: '2011-10-03T15:19:30Z', with optional fraction or offset."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return _aware(parsed)


def iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now(now: dt.datetime | None) -> dt.datetime:
    return _aware(now) if now is not None else dt.datetime.now(UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
