"""Names the driver derives from identifiers: domains, instance directories, MACs.

Every path, libvirt name and XML attribute the driver writes is built from
values checked here, never from a raw user string: an instance id is
``i-`` and 8 or 17 lowercase hex digits, an owner is a 12-digit account id.
So ``instances_path / instance_id`` can never escape its directory.
"""

from __future__ import annotations

import re
import secrets

from silvereye.compute.errors import InvalidArgument

DOMAIN_PREFIX = "silvereye-"
MAC_PREFIX = "d0:0d"  # Eucalyptus' instance MAC prefix, kept for familiarity

_INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
_IMAGE_ID = re.compile(r"(?:ami|aki|ari|emi|eki|eri)-[0-9a-f]{8,17}")


def new_instance_id() -> str:
    """A fresh AWS-style long instance id (17 hex digits)."""
    return "i-" + secrets.token_hex(9)[:17]


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidArgument(f"{value!r} is not {what}")
    return value


def check_instance_id(value: str) -> str:
    return _check(_INSTANCE_ID, value, "an instance id (expected i- and 8 or 17 lowercase hex digits)")


def check_account_id(value: str) -> str:
    return _check(_ACCOUNT_ID, value, "an account id (expected 12 digits)")


def check_image_id(value: str) -> str:
    """Image ids are only recorded (in domain metadata); empty means none."""
    return value if value == "" else _check(_IMAGE_ID, value, "an image id (expected ami-, aki- or ari- and hex digits)")


def check_mac(value: str) -> str:
    return _check(_MAC, value, "a MAC address (expected six lowercase hex pairs)")


def domain_name(instance_id: str) -> str:
    """``silvereye-i-0123456789abcdef0``: the libvirt name of an instance's domain."""
    return DOMAIN_PREFIX + check_instance_id(instance_id)


def instance_id_of(name: str) -> str | None:
    """The instance id a domain name stands for, or None if it is not a silvereye name."""
    if not name.startswith(DOMAIN_PREFIX):
        return None
    candidate = name[len(DOMAIN_PREFIX):]
    return candidate if _INSTANCE_ID.fullmatch(candidate) else None


def random_mac() -> str:
    """A random ``d0:0d:xx:xx:xx:xx`` address (locally administered bit is not set, as in Eucalyptus)."""
    while True:
        tail = secrets.token_bytes(4)
        if any(tail):  # d0:0d:00:00:00:00 is the network's anchor reservation
            return MAC_PREFIX + "".join(f":{b:02x}" for b in tail)
