"""Security groups in the data path: the EC2 records, kept and applied in the compute firewall.

The records are the truth; the firewall (:class:`SecurityGroupFirewall`,
one nftables table replaced atomically per change) is made to agree with
them at three moments:

- when it is first needed, and again when the instance network comes up at
  server start (:func:`_network_ready`), it is loaded whole from the records:
  every stored group, every account's default group, every instance with an
  address and the groups its record names; then it is installed and enforces;
- on every API change (:func:`apply`): the change is made in the store's
  transaction first, then in the firewall before that transaction commits, so
  a change the firewall refuses fails the call and rolls the record back; a
  commit that fails after the firewall moved reloads the firewall from the
  records;
- when an instance runs or is terminated (the instance hooks): its address
  and groups are put in or taken out.

Creating the firewall turns on the compute layer's anti-spoofing filter
(libvirt's ``clean-traffic`` on every new instance's interface), because
rules keyed by address are only as good as the addresses are true. On a
``test://`` libvirt (the unit tests) the firewall keeps its state but is
never installed: that driver has no bridge to filter.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from silvereye.compute.errors import ComputeError
from silvereye.services.ec2.host_transaction import host_transaction
from silvereye.compute.security_groups import (
    DuplicateRule,
    GroupInUse,
    GroupNotFound,
    Member,
    RuleNotFound,
    SecurityGroup,
    SecurityGroupFirewall,
)
from silvereye.services.ec2 import errors, hooks
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models import security_groups as sg
from silvereye.services.ec2.models.common import loads
from silvereye.services.gateway.errors import ServiceError

log = logging.getLogger("silvereye.ec2")
_create_lock = threading.Lock()


def enforced(rt: Any) -> bool:
    return not rt.cfg.compute.libvirt_uri.startswith("test:")


def firewall(rt: Any) -> SecurityGroupFirewall:
    """The runtime's firewall, made (and loaded from the records) on first use."""
    fw = getattr(rt, "sg_firewall", None)
    if fw is not None:
        return fw
    with _create_lock:
        fw = getattr(rt, "sg_firewall", None)
        if fw is None:
            fw = SecurityGroupFirewall.for_driver(rt.driver)
            reload(rt, fw)
            rt.sg_firewall = fw
    return fw


def as_firewall_group(group: sg.Group) -> SecurityGroup:
    return SecurityGroup(group.group_id, tuple(r.rule for r in group.rules))


def reload(rt: Any, fw: SecurityGroupFirewall) -> None:
    """Make the firewall hold exactly what the records say."""
    region = rt.cfg.region
    with rt.store.read() as conn:
        groups = {g.group_id: g for g in sg.every_group(conn)}
        live = [r for r in records.live(conn) if r.private_ip]
        for account in sorted({r.account_id for r in live} | {g.account_id for g in groups.values()}):
            default = sg.get(conn, account, region, sg.default_group_id(account, region))
            groups.setdefault(default.group_id, default)
    members = []
    for row in live:
        wanted = [g["GroupId"] for g in loads(row.security_groups, [])]
        kept = [g for g in wanted if g in groups]
        if kept != wanted:
            log.warning("instance %s names groups that no longer exist: %s", row.id, sorted(set(wanted) - set(kept)))
        members.append(Member(row.id, row.private_ip, tuple(kept)))
    fw.load([as_firewall_group(g) for g in groups.values()], members)


def failure(e: Exception) -> ServiceError:
    if isinstance(e, DuplicateRule):
        return errors.error("InvalidPermission.Duplicate", str(e))
    if isinstance(e, RuleNotFound):
        return errors.error("InvalidPermission.NotFound", str(e))
    if isinstance(e, GroupNotFound):
        return errors.group_id_not_found(e.group_id)
    if isinstance(e, GroupInUse):
        return errors.error("DependencyViolation", str(e))
    return ServiceError("InternalError", f"The firewall refused the change: {e}", 500, sender_fault=False)


@contextlib.contextmanager
def change(rt: Any, store: Any) -> Iterator[tuple[sa.Connection, SecurityGroupFirewall]]:
    """A write transaction whose firewall changes (made last, inside it) stand or fall with it."""
    fw = firewall(rt)
    with host_transaction(store, fw.ruleset, lambda _before: reload(rt, fw)) as conn:
        try:
            yield conn, fw
        except ComputeError as e:
            raise failure(e) from None


def ensure_default(conn: sa.Connection, fw: SecurityGroupFirewall, account_id: str, region: str) -> sg.Group:
    """The account's default group stored and known to the firewall (before anything names it)."""
    group = sg.ensure_default(conn, account_id, region)
    if group.group_id not in fw.groups():
        fw.create_group(group.group_id, as_firewall_group(group).rules)
    return group


def place_instance(conn: sa.Connection, fw: SecurityGroupFirewall, row: Any, region: str,
                   group_ids: list[str] | None = None) -> None:
    """Put a running (or stopped) instance's address in its groups, live."""
    if not row.private_ip or row.state == "terminated":
        return
    if group_ids is None:
        group_ids = [g["GroupId"] for g in loads(row.security_groups, [])]
    if sg.default_group_id(row.account_id, region) in group_ids:
        ensure_default(conn, fw, row.account_id, region)
    fw.set_instance_groups(row.id, row.private_ip, group_ids)


def _running(rt: Any, instance_id: str) -> None:
    with change(rt, rt.store) as (conn, fw):
        row = records.get(conn, instance_id)
        if row is not None:
            place_instance(conn, fw, row, rt.cfg.region)


def _terminated(rt: Any, instance_id: str) -> None:
    firewall(rt).forget_instance(instance_id)


def _network_ready(rt: Any) -> None:
    fw = firewall(rt)
    reload(rt, fw)
    if enforced(rt):
        fw.setup()


hooks.on("running", _running)
hooks.on("terminated", _terminated)
hooks.on_network_ready(_network_ready)
