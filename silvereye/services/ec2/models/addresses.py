"""Elastic IP records: which account holds which address of the public range, and what it points at.

A row exists from AllocateAddress to ReleaseAddress. ``instance_id`` and
``association_id`` are set while the address is associated, also while the
instance is stopped (AWS keeps the association; the NAT rules are only on
the host while the instance runs). ``private_ip`` is the address the rules
point at, refreshed each time the instance runs (it may change on a start).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from silvereye.config import parse_ip_range
from silvereye.services.ec2 import errors
from silvereye.services.ec2.models.common import check_id, new_id, now
from silvereye.services.ec2.tables import Account, ResourceId, When
from silvereye.store import create_tables, metadata, register_migrations

addresses = sa.Table(
    "ec2_addresses",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),  # eipalloc-...
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("public_ip", sa.String(15), nullable=False, unique=True),
    sa.Column("domain", sa.String(8), nullable=False, default="vpc"),
    sa.Column("border_group", sa.String(64), nullable=False),
    sa.Column("allocated", When, nullable=False),
    sa.Column("association_id", ResourceId, nullable=True, unique=True),  # eipassoc-...
    sa.Column("instance_id", ResourceId, nullable=True, index=True),
    sa.Column("private_ip", sa.String(15), nullable=True),
)

register_migrations("ec2_addresses", [create_tables(addresses)])

a = addresses
ALLOCATION_PREFIX = "eipalloc"
ASSOCIATION_PREFIX = "eipassoc"
RESOURCE_TYPE = "elastic-ip"


def public_range(cfg: Any) -> list[str]:
    """The configured public addresses; the AWS-style error when there are none."""
    text = cfg.network.public_range
    if not text:
        raise errors.error("Unsupported", "This cloud offers no elastic IP addresses: network.public_range is "
                                          "empty in its configuration.")
    return [str(ip) for ip in parse_ip_range(text)]


def check_ip(value: Any, parameter: str = "PublicIp") -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise errors.invalid_value(value, parameter, "It must be an IPv4 address.") from None


def insert(conn: sa.Connection, account_id: str, cfg: Any, wanted: str | None) -> Any:
    """Allocate ``wanted`` (or the lowest free address of the range) to the account."""
    pool = public_range(cfg)
    taken = {r.public_ip: r.account_id for r in conn.execute(sa.select(a.c.public_ip, a.c.account_id))}
    if wanted is not None:
        wanted = check_ip(wanted, "Address")
        if wanted not in pool:
            raise errors.error("InvalidAddress.NotFound", f"The address '{wanted}' is not in this cloud's elastic IP "
                                                          "range.")
        if wanted in taken:
            raise errors.error("InvalidAddress.InUse", f"The address '{wanted}' is already allocated.")
        choice = wanted
    else:
        choice = next((ip for ip in pool if ip not in taken), None)
        if choice is None:
            raise errors.error("AddressLimitExceeded", "The maximum number of addresses has been reached.")
    allocation_id = new_id(ALLOCATION_PREFIX)
    conn.execute(sa.insert(a).values(id=allocation_id, account_id=account_id, public_ip=choice, domain="vpc",
                                     border_group=cfg.region, allocated=now()))
    return conn.execute(sa.select(a).where(a.c.id == allocation_id)).one()


def _not_yours() -> Exception:
    return errors.error("AuthFailure", "You do not have permission to access the specified resource.")


def find(conn: sa.Connection, account_id: str, *, allocation_id: str | None = None,
         public_ip: str | None = None) -> Any:
    """The account's address named by allocation id or public IP (exactly one is given)."""
    if allocation_id:
        check_id(allocation_id, (ALLOCATION_PREFIX,), "InvalidAllocationID.Malformed")
        row = conn.execute(sa.select(a).where(a.c.id == allocation_id, a.c.account_id == account_id)).first()
        if row is None:
            raise errors.error("InvalidAllocationID.NotFound", f"The allocation ID '{allocation_id}' does not exist")
        return row
    ip = check_ip(public_ip)
    row = conn.execute(sa.select(a).where(a.c.public_ip == ip)).first()
    if row is None:
        raise errors.error("InvalidAddress.NotFound", f"Address '{ip}' not found.")
    if row.account_id != account_id:
        raise _not_yours()
    return row


def by_association(conn: sa.Connection, account_id: str, association_id: str) -> Any:
    row = conn.execute(sa.select(a).where(a.c.association_id == association_id,
                                          a.c.account_id == account_id)).first()
    if row is None:
        raise errors.error("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")
    return row


def of_instance(conn: sa.Connection, instance_id: str) -> Any | None:
    return conn.execute(sa.select(a).where(a.c.instance_id == instance_id)).first()


def associate(conn: sa.Connection, allocation_id: str, instance_id: str, private_ip: str | None) -> str:
    """Point the address at the instance (its previous association, if any, ends); the new association id."""
    association_id = new_id(ASSOCIATION_PREFIX)
    conn.execute(sa.update(a).where(a.c.id == allocation_id)
                 .values(association_id=association_id, instance_id=instance_id, private_ip=private_ip))
    return association_id


def disassociate(conn: sa.Connection, *, allocation_id: str | None = None, instance_id: str | None = None) -> None:
    where = a.c.id == allocation_id if allocation_id else a.c.instance_id == instance_id
    conn.execute(sa.update(a).where(where).values(association_id=None, instance_id=None, private_ip=None))


def set_private_ip(conn: sa.Connection, allocation_id: str, private_ip: str | None) -> None:
    conn.execute(sa.update(a).where(a.c.id == allocation_id).values(private_ip=private_ip))


def release(conn: sa.Connection, allocation_id: str) -> None:
    conn.execute(sa.delete(a).where(a.c.id == allocation_id))


def associated(conn: sa.Connection) -> list[Any]:
    return list(conn.execute(sa.select(a).where(a.c.instance_id.is_not(None))))


def public_ips(conn: sa.Connection, instance_ids: list[str]) -> dict[str, str]:
    """instance id -> its elastic IP, for DescribeInstances and the metadata service."""
    if not instance_ids:
        return {}
    rows = conn.execute(sa.select(a.c.instance_id, a.c.public_ip).where(a.c.instance_id.in_(instance_ids)))
    return {r.instance_id: r.public_ip for r in rows}


def count(conn: sa.Connection, account_id: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(a).where(a.c.account_id == account_id)).scalar_one()


def purge(conn: sa.Connection, account_id: str) -> list[tuple[str, str]]:
    """Forget the account's addresses; the (public ip, instance id) associations whose rules must go."""
    gone = [(r.public_ip, r.instance_id) for r in conn.execute(sa.select(a.c.public_ip, a.c.instance_id).where(
        a.c.account_id == account_id, a.c.instance_id.is_not(None)))]
    conn.execute(sa.delete(a).where(a.c.account_id == account_id))
    return gone
