"""Scalar conversions every protocol shares: timestamps, floats, blobs, header lists.

Each protocol has a default timestamp format (ISO 8601 in Query/EC2/XML
bodies and query strings, RFC 822 "HTTP date" in headers, epoch seconds in
JSON and CBOR) that a member's ``timestampFormat`` trait may override. On
input we are lenient the way AWS is (any of the three forms is accepted
wherever a timestamp is expected); on output we write exactly the format the
model asks for, because some clients are strict.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import email.utils
import math
import re

UTC = dt.timezone.utc

ISO8601 = "iso8601"
RFC822 = "rfc822"
EPOCH = "unixtimestamp"

SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_ISO_FRACTION = re.compile(r"\.(\d+)")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def timestamp_format(shape, default: str) -> str:
    """The format a timestamp shape is written in: its trait, else the location's default."""
    return (shape.serialization.get("timestampFormat") or default).lower()


def to_datetime(value) -> dt.datetime:
    """A handler's timestamp (aware or naive datetime, epoch number, ISO string) as aware UTC."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise TypeError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_timestamp(value, ISO8601)
    raise TypeError(f"not a timestamp: {value!r}")


def parse_timestamp(text, preferred: str) -> dt.datetime:
    """Parse a timestamp sent by a client; ValueError when it is none of the three forms."""
    if isinstance(text, dt.datetime):
        return to_datetime(text)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _from_epoch(text)
    text = str(text).strip()
    order = [preferred] + [f for f in (ISO8601, EPOCH, RFC822) if f != preferred]
    for fmt in order:
        try:
            if fmt == ISO8601:
                return _from_iso8601(text)
            if fmt == EPOCH:
                return _from_epoch(float(text))
            if fmt == RFC822:
                return _from_rfc822(text)
        except (ValueError, OverflowError, TypeError, IndexError):
            continue
    raise ValueError(f"invalid timestamp: {text!r}")


def _from_epoch(seconds: float) -> dt.datetime:
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError("timestamp is not finite")
    return dt.datetime.fromtimestamp(seconds, UTC)


def _from_iso8601(text: str) -> dt.datetime:
    if "T" not in text and "t" not in text:
        raise ValueError("not ISO 8601")
    # fromisoformat takes at most microseconds; clients may send nanoseconds.
    text = _ISO_FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_rfc822(text: str) -> dt.datetime:
    value = email.utils.parsedate_to_datetime(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_timestamp(value, fmt: str):
    """Render a timestamp for the wire: str for ISO 8601 / RFC 822, int or float for epoch."""
    when = to_datetime(value)
    if fmt == EPOCH:
        seconds = calendar.timegm(when.timetuple())
        if when.microsecond:
            return (seconds * 10**6 + when.microsecond) / 10**6
        return seconds
    if fmt == RFC822:
        return email.utils.format_datetime(when.replace(microsecond=0), usegmt=True)
    if fmt == ISO8601:
        return iso8601(when)
    raise ValueError(f"unknown timestampFormat {fmt!r}")


def iso8601(when: dt.datetime, *, always_millis: bool = False) -> str:
    if when.microsecond or always_millis:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_float(text) -> float:
    """A float from text, accepting the IEEE special values as Smithy spells them."""
    if isinstance(text, str) and text in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[text]
    if isinstance(text, bool):
        raise ValueError("boolean is not a number")
    if isinstance(text, str) and not _DECIMAL.fullmatch(text.strip()):
        raise ValueError(f"invalid number: {text!r}")  # float() would also take "inf", "1_000"
    return float(text)


def float_text(value) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def float_or_special(value):
    """A float for JSON: special values become their Smithy string spelling."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return float_text(value)
    return value


def parse_integer(text) -> int:
    if isinstance(text, bool):
        raise ValueError("boolean is not an integer")
    if isinstance(text, int):
        return text
    if isinstance(text, float):
        if not text.is_integer():
            raise ValueError(f"not an integer: {text!r}")
        return int(text)
    text = str(text).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def parse_boolean(text) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ValueError(f"not a boolean: {text!r}")


def b64decode(text) -> bytes:
    if isinstance(text, str):
        text = text.encode("ascii", errors="strict")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64: {exc}") from None


def b64encode(value) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


def split_header_list(value: str) -> list[str]:
    """Split a list-valued header (RFC 7230: comma separated, quoted strings allowed)."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\" and i + 1 < len(value):
                current.append(value[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current).strip())
    return items


def quote_header_item(value: str) -> str:
    """Quote one string of a list-valued header when it holds a comma or a quote."""
    if '"' in value or "," in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value
