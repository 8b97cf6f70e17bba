"""Dates in Date* conditions: ISO 8601 text or epoch seconds, as seconds since the epoch.

IAM accepts dates far outside what :mod:`datetime` can hold (years from
-292275054 to 292278993, Java's range), so the conversion is done with
plain arithmetic on the civil calendar. A value IAM would reject is a
:class:`ValueError` here; the validator turns that into "The policy failed
legacy parsing".
"""

from __future__ import annotations

import datetime as dt
import re

_ISO = re.compile(
    r"(?P<year>[+-]?\d{1,9})"
    r"(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2}))?)?"
    r"(?:[Tt]"
    r"(?:(?P<hour>\d{1,2})(?::(?P<minute>\d{1,2})(?::(?P<second>\d{1,2})(?:\.(?P<frac>\d{1,9}))?)?)?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
    r")?"
)
_MIN_YEAR, _MAX_YEAR = -292275054, 292278993
_MAX_EPOCH = 2**63 - 1


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _zone_offset(tz: str | None) -> int:
    if not tz or tz in "Zz":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad time zone {tz!r}")
    return sign * (hours * 3600 + minutes * 60)


def parse_policy_date(text: str) -> float:
    """Seconds since the epoch for a Date condition value; ValueError when IAM would reject it."""
    text = text.strip()
    if text.isdigit():
        value = int(text)
        if value > _MAX_EPOCH:
            raise ValueError("epoch out of range")
        return float(value)
    m = _ISO.fullmatch(text)
    if m is None:
        raise ValueError(f"not a date: {text!r}")
    year = int(m["year"])
    month = int(m["month"] or 1)
    day = int(m["day"] or 1)
    hour, minute, second = int(m["hour"] or 0), int(m["minute"] or 0), int(m["second"] or 0)
    if not (_MIN_YEAR <= year <= _MAX_YEAR and 1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"date out of range: {text!r}")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time out of range: {text!r}")
    fraction = float("0." + m["frac"]) if m["frac"] else 0.0
    days = _days_from_civil(year, month, day)
    return days * 86400 + hour * 3600 + minute * 60 + second + fraction - _zone_offset(m["tz"])


def context_epoch(value: object) -> float | None:
    """A request-context value (datetime, epoch number or text) as epoch seconds, or None."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_policy_date(value)
        except ValueError:
            return None
    return None


def iso_utc(value: dt.datetime) -> str:
    """The form AWS puts in aws:CurrentTime and aws:TokenIssueTime: 2024-05-01T12:00:00Z."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
