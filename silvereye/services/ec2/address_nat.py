"""Elastic IPs on the host for the EC2 service: the records in the store and the NAT rules kept as one.

The store says which address is associated with which instance; the
compute layer's :class:`~silvereye.compute.elastic_ips.ElasticIPs` holds
the rules of the associations that are live (the instance runs). Every
change goes through :func:`changing`: the records change inside a write
transaction, the rules change before it commits, and if either side fails
the host is put back as it was and the transaction rolls back, so an API
call that fails has changed nothing.

The instance hooks keep the rules true to instance states: an association
is applied whenever its instance runs (its private address may differ after
a start), removed from the host when it stops (the record stays, as on AWS),
and ended when it terminates (the address stays allocated). At server start
(network ready) every live association is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from silvereye.compute import ComputeError
from silvereye.compute.elastic_ips import Association, ElasticIPs
from silvereye.services.ec2.host_transaction import host_transaction
from silvereye.services.ec2 import errors, hooks
from silvereye.services.ec2.models import addresses
from silvereye.services.ec2.tables import instances

log = logging.getLogger("silvereye.ec2")

# One process serves one cloud: a change of records and rules is one critical section.
_LOCK = threading.RLock()
_paths: "weakref.WeakKeyDictionary[Any, ElasticIPs]" = weakref.WeakKeyDictionary()


def enabled(rt: Any) -> bool:
    return bool(rt.cfg.network.public_range)


def host_path(rt: Any) -> ElasticIPs | None:
    """The runtime's elastic IPs on the host (bringing the instance network up), None when disabled."""
    if not enabled(rt):
        return None
    rt.ensure_network()
    found = _paths.get(rt)
    if found is None:  # set-up failed when the network came up (or came before): try now, or say why not
        try:
            _on_network_ready(rt)
        except ComputeError as e:
            raise data_path_error(e) from None
        found = _paths[rt]
    return found


def data_path_error(e: ComputeError) -> Exception:
    return errors.error("InternalError", f"The elastic IP could not be changed on the host: {e}", 500)


@contextlib.contextmanager
def changing(rt: Any) -> Iterator[tuple[sa.Connection, ElasticIPs | None]]:
    """A write transaction and the host's rules, committed together or not at all."""
    eips = host_path(rt)  # before the lock: bringing the network up takes the lock in its hook

    def read() -> dict[str, Association]:
        return eips.associations() if eips is not None else {}

    def restore(before: dict[str, Association]) -> None:
        try:
            eips.load(before.values())
        except ComputeError:
            log.exception("could not restore the elastic IP rules; the next start reloads them")

    with _LOCK, host_transaction(rt.store, read, restore) as conn:
        yield conn, eips


def _running_private_ip(conn: sa.Connection, instance_id: str) -> str | None:
    row = conn.execute(sa.select(instances.c.state, instances.c.private_ip)
                       .where(instances.c.id == instance_id)).first()
    return row.private_ip if row is not None and row.state == "running" and row.private_ip else None


# -- hooks ------------------------------------------------------------------------------------


def _on_network_ready(rt: Any) -> None:
    if not enabled(rt):
        return
    with _LOCK, rt.store.write() as conn:
        if rt in _paths:
            return
        eips = ElasticIPs.for_driver(rt.driver)
        live = []
        for row in addresses.associated(conn):
            private_ip = _running_private_ip(conn, row.instance_id)
            if private_ip is not None:
                live.append(Association(row.public_ip, row.instance_id, private_ip))
                if private_ip != row.private_ip:
                    addresses.set_private_ip(conn, row.id, private_ip)
        eips.load(live)
        eips.setup()
        _paths[rt] = eips


def _on_running(rt: Any, instance_id: str) -> None:
    if not enabled(rt):
        return
    with changing(rt) as (conn, eips):
        row = addresses.of_instance(conn, instance_id)
        private_ip = _running_private_ip(conn, instance_id)
        if row is None or private_ip is None or eips is None:
            return
        addresses.set_private_ip(conn, row.id, private_ip)
        eips.associate(row.public_ip, instance_id, private_ip)


def _on_stopped(rt: Any, instance_id: str) -> None:
    eips = _paths.get(rt)
    if eips is not None:
        with _LOCK:
            eips.forget_instance(instance_id)  # the record keeps the association, as on AWS


def _on_terminated(rt: Any, instance_id: str) -> None:
    with _LOCK:
        with rt.store.write() as conn:
            addresses.disassociate(conn, instance_id=instance_id)
        eips = _paths.get(rt)
        if eips is not None:
            eips.forget_instance(instance_id)


def forget_public_ips(gone: list[tuple[str, str]]) -> None:
    """Take (public ip, instance id) associations off the host, wherever a runtime holds them
    (an account was purged; its records are already gone)."""
    with _LOCK:
        for eips in list(_paths.values()):
            current = eips.associations()
            for public_ip, instance_id in gone:
                found = current.get(public_ip)
                if found is not None and found.instance_id == instance_id:
                    eips.disassociate(public_ip)


hooks.on_network_ready(_on_network_ready)
hooks.on("running", _on_running)
hooks.on("stopped", _on_stopped)
hooks.on("terminated", _on_terminated)
