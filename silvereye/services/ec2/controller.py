"""The work behind instance requests, and keeping records true to libvirt.

Request handlers commit a record's new state (``pending``, ``stopping``,
``shutting-down``) and answer; the functions here, run by
:meth:`Ec2Runtime.submit` on a worker thread, then do the slow part through
the driver and commit where it ended (``running``, ``stopped``,
``terminated``, with AWS's reasons). Nothing here trusts its own memory:
every step re-reads the record and moves it only from the state it expects.

:func:`reconcile` compares every record with the domains libvirt has (at
start-up, every :data:`RECONCILE_SECONDS`, and for one instance on each
lifecycle event) and applies :func:`silvereye.services.ec2.reconcile.decide`.
A domain of this cloud (its interface on our network and its files under
our instances directory) with no live record is terminated; one that is not
ours is only reported.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from silvereye.compute import (
    BootSource,
    ComputeError,
    InstanceEvent,
    InstanceExists,
    InstanceInfo,
    InstanceNotFound,
    InsufficientCapacity,
    LaunchRequest,
)
from silvereye.compute import instance_types
from silvereye.services.ec2 import ebs_images, hooks
from silvereye.services.ec2 import reconcile as rules
from silvereye.services.ec2.models import bundles, images
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models.common import now, utc
from silvereye.services.ec2.runtime import Ec2Runtime

log = logging.getLogger("silvereye.ec2")

RECONCILE_SECONDS = 30
STALE_PENDING = dt.timedelta(minutes=5)
UNRECORDED_GRACE = dt.timedelta(minutes=10)
STOP_TIMEOUT = 120.0  # a clean ACPI shutdown before the power is cut, as EC2 waits before forcing
GIB = 1 << 30


def _write(rt: Ec2Runtime):  # noqa: ANN202
    return rt.store.write()


def _read(rt: Ec2Runtime):  # noqa: ANN202
    return rt.store.read()


def _where(info: InstanceInfo) -> dict[str, Any]:
    return {"node": info.node, "private_ip": info.private_ip or None, "mac": info.mac or None}


# -- launching ------------------------------------------------------------------------------


def boot_source(rt: Ec2Runtime, row: Any) -> BootSource:
    """The cached files an instance boots from (fetched from S3 again if the cache lost one)."""
    cache = rt.driver.images
    with _read(rt) as conn:
        machine = conn.execute(images.im.select().where(images.im.c.id == row.image_id)).first()
        kernel = conn.execute(images.im.select().where(images.im.c.id == row.kernel_id)).first() if row.kernel_id else None
        ramdisk = conn.execute(images.im.select().where(images.im.c.id == row.ramdisk_id)).first() if row.ramdisk_id else None
    if machine is None:
        raise ComputeError(f"image {row.image_id} of {row.id} no longer exists")
    itype = instance_types.get(row.instance_type)
    ebs_backed = ebs_images.is_ebs(machine)
    kw: dict[str, Any] = {} if ebs_backed else {"root": bundles.cached_or_fetch(rt.store, rt.cfg, cache, machine),
                                                "root_size": itype.root_gib * GIB}
    if kernel is not None:
        kw["kernel"] = bundles.cached_or_fetch(rt.store, rt.cfg, cache, kernel)
        if machine.kernel_cmdline:
            kw["kernel_cmdline"] = machine.kernel_cmdline
    if ramdisk is not None:
        kw["ramdisk"] = bundles.cached_or_fetch(rt.store, rt.cfg, cache, ramdisk)
    if kernel is None and machine.boot_mode == "uefi":
        kw["firmware"] = "uefi"
    if ebs_backed:  # its root is a volume made from the image's snapshot
        return ebs_images.boot_source(rt, row, machine, BootSource(**kw))
    return BootSource(**kw)


def launch(rt: Ec2Runtime, instance_id: str) -> None:
    """Make a pending instance's domain; running on success, terminated (with the reason) on failure."""
    with _read(rt) as conn:
        row = records.get(conn, instance_id)
    if row is None or row.state != "pending":
        return
    try:
        rt.ensure_network()
        boot = boot_source(rt, row)
        request = LaunchRequest(instance_id, row.account_id, row.instance_type, boot, image_id=row.image_id)
        info = rt.driver.launch(request)
    except InstanceExists:
        info = rt.driver.describe(instance_id)  # made before a crash: adopt it
    except InsufficientCapacity as e:
        _failed(rt, instance_id, (records.NO_CAPACITY, f"{records.NO_CAPACITY}: {e}"))
        return
    except Exception as e:  # noqa: BLE001 - any failure ends the launch with its reason recorded
        log.warning("launch of %s failed: %s", instance_id, e)
        _failed(rt, instance_id, (records.INTERNAL_ERROR, f"{records.INTERNAL_ERROR}: {e}"))
        return
    with _write(rt) as conn:
        moved = records.transition(conn, instance_id, "running", expect=("pending",), **_where(info))
        if not moved:  # terminated (or stopped) while it launched: keep where it is, the queued op follows
            conn.execute(records.t.update().where(records.t.c.id == instance_id).values(**_where(info)))
    if moved:
        hooks.fire(rt, "running", instance_id)


def _failed(rt: Ec2Runtime, instance_id: str, reason: tuple[str, str]) -> None:
    try:
        rt.driver.terminate(instance_id)  # whatever a failed launch left (it undoes itself; this is belt and braces)
    except ComputeError as e:
        log.warning("cleaning up after the failed launch of %s: %s", instance_id, e)
    with _write(rt) as conn:
        moved = records.transition(conn, instance_id, "terminated", expect=("pending", "shutting-down"), reason=reason)
    if moved:
        hooks.fire(rt, "terminated", instance_id)


# -- lifecycle --------------------------------------------------------------------------------


def stop(rt: Ec2Runtime, instance_id: str, force: bool = False) -> None:
    try:
        rt.driver.stop(instance_id, timeout=STOP_TIMEOUT, force=force)
    except InstanceNotFound:
        _lost(rt, instance_id)
        return
    with _write(rt) as conn:
        moved = records.transition(conn, instance_id, "stopped", expect=("stopping",), reason=records.USER_SHUTDOWN)
    if moved:
        hooks.fire(rt, "stopped", instance_id)


def start(rt: Ec2Runtime, instance_id: str) -> None:
    try:
        rt.ensure_network()
        rt.driver.start(instance_id)
        described = rt.driver.describe(instance_id)
    except InstanceNotFound:
        _lost(rt, instance_id)
        return
    except InsufficientCapacity as e:
        with _write(rt) as conn:
            records.transition(conn, instance_id, "stopped", expect=("pending",),
                               reason=(records.NO_CAPACITY, f"{records.NO_CAPACITY}: {e}"))
        return
    with _write(rt) as conn:
        moved = records.transition(conn, instance_id, "running", expect=("pending",), **_where(described))
    if moved:
        hooks.fire(rt, "running", instance_id)


def reboot(rt: Ec2Runtime, instance_id: str) -> None:
    try:
        rt.driver.reboot(instance_id, timeout=STOP_TIMEOUT)
    except InstanceNotFound:
        _lost(rt, instance_id)


def terminate(rt: Ec2Runtime, instance_id: str) -> None:
    rt.driver.terminate(instance_id)
    with _write(rt) as conn:
        moved = records.transition(conn, instance_id, "terminated", expect=("shutting-down",))
    if moved:
        hooks.fire(rt, "terminated", instance_id)


def _lost(rt: Ec2Runtime, instance_id: str) -> None:
    rt.driver.terminate(instance_id)
    with _write(rt) as conn:
        moved = records.transition(conn, instance_id, "terminated", expect=records.LIVE_STATES, reason=rules.LOST)
    if moved:
        hooks.fire(rt, "terminated", instance_id)


def change_type(rt: Ec2Runtime, instance_id: str, instance_type: str) -> None:
    rt.driver.change_type(instance_id, instance_type)


# -- reconciliation -------------------------------------------------------------------------------


def _is_ours(rt: Ec2Runtime, info: InstanceInfo) -> bool:
    """A domain of this cloud: on our network, with its files under our instances directory."""
    if not info.recognised or info.network != rt.driver.network.name:
        return False
    try:
        return rt.driver.node(info.node).host.exists(rt.driver.instance_dir(info.instance_id))
    except ComputeError:
        return False


def _age(info: InstanceInfo) -> dt.timedelta:
    try:
        launched = dt.datetime.strptime(info.launched_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return dt.timedelta.max  # no launch time recorded: not one a tool is making right now
    return now() - launched


def _cleanable(rt: Ec2Runtime, info: InstanceInfo) -> bool:
    """An unrecorded domain to terminate: this cloud's, and older than UNRECORDED_GRACE.

    Launches commit their record before the domain exists, so a crash never
    leaves a domain without one; a domain without a record comes from outside
    the API (a restored store, an account purged, someone's tool driving
    libvirt). Young ones are left a while, so such a tool can finish.
    """
    return rules.unrecorded_domain(None, _is_ours(rt, info)) == "clean" and _age(info) > UNRECORDED_GRACE


def _act(rt: Ec2Runtime, row: Any, action: rules.Action, info: InstanceInfo | None) -> None:
    """Carry out a decision, synchronously: this runs as the instance's queued work."""
    iid = row.id
    log.info("reconcile %s: record %s, domain %s -> %s", iid, row.state,
             info.state.state if info else rules.ABSENT, action.kind)
    if action.kind == "adopt" and info is not None:
        with _write(rt) as conn:
            moved = records.transition(conn, iid, "running", expect=(row.state,), **_where(info))
        if moved:
            hooks.fire(rt, "running", iid)
    elif action.kind == "relaunch":
        rt.driver.terminate(iid)  # leftovers of the lost launch: reservation, files
        launch(rt, iid)
    elif action.kind == "start":
        start(rt, iid)
    elif action.kind == "stop":
        stop(rt, iid)
    elif action.kind == "stopped":
        with _write(rt) as conn:
            moved = records.transition(conn, iid, "stopped", expect=(row.state,), reason=action.reason,
                                       transition_reason=action.transition_reason)
        if moved:
            hooks.fire(rt, "stopped", iid)
    elif action.kind == "terminate":
        if row.state != "shutting-down":
            with _write(rt) as conn:
                if not records.transition(conn, iid, "shutting-down", expect=(row.state,), reason=action.reason,
                                          transition_reason=action.transition_reason):
                    return
        terminate(rt, iid)
    elif action.kind == "terminated":
        rt.driver.terminate(iid)
        with _write(rt) as conn:
            moved = records.transition(conn, iid, "terminated", expect=(row.state,), reason=action.reason)
        if moved:
            hooks.fire(rt, "terminated", iid)


def settle(rt: Ec2Runtime, instance_id: str, starting: bool = False) -> None:
    """Bring one instance's record in line with its domain, both read afresh (queued per instance,
    so it never overlaps an operation on the instance and never acts on what it saw earlier)."""
    with _read(rt) as conn:
        row = records.get(conn, instance_id)
    try:
        info = rt.driver.describe(instance_id)
        state = info.state.state
    except InstanceNotFound:
        info, state = None, rules.ABSENT
    if row is None or row.state == "terminated":
        if info is not None and _cleanable(rt, info):
            log.warning("reconcile: domain %s on node %s has no live instance record; terminating it",
                        info.domain_name, info.node)
            rt.driver.terminate(instance_id)
        return
    action = rules.decide(row.state, state, shutdown_behavior=row.shutdown_behavior,
                          stale=starting or _stale(row))
    if action.kind != "none":
        _act(rt, row, action, info)


def reconcile_one(rt: Ec2Runtime, instance_id: str) -> None:
    """Queue a settle of one instance (what a lifecycle event asks for); events in a burst share one."""
    rt.submit_once(instance_id, settle, rt, instance_id)


def _stale(row: Any) -> bool:
    changed = utc(row.state_changed)
    return changed is None or now() - changed > STALE_PENDING


def reconcile(rt: Ec2Runtime, *, starting: bool = False) -> dict[str, int]:
    """Compare every record with libvirt, queue a settle where they disagree, clean what a crash left."""
    counts = {"settled": 0, "cleaned": 0, "reported": 0}
    domains = {i.instance_id: i for i in rt.driver.list_instances()}
    with _read(rt) as conn:
        rows = {r.id: r for r in records.live(conn)}
        known = set(conn.execute(records.t.select().with_only_columns(records.t.c.id)).scalars())
    for iid, row in rows.items():
        if rt.busy(iid):
            continue
        info = domains.get(iid)
        state = info.state.state if info is not None else rules.ABSENT
        action = rules.decide(row.state, state, shutdown_behavior=row.shutdown_behavior,
                              stale=starting or _stale(row))
        if action.kind != "none":
            counts["settled"] += 1
            rt.submit(iid, settle, rt, iid, starting)
    for iid, info in domains.items():
        if iid in rows or rt.busy(iid):
            continue
        if _cleanable(rt, info):
            rt.submit(iid, settle, rt, iid)
            counts["cleaned"] += 1
        elif _is_ours(rt, info):
            log.info("reconcile: domain %s has no instance record; terminating it once it is %d minutes old",
                     info.domain_name, UNRECORDED_GRACE.total_seconds() // 60)
        elif info.network == rt.driver.network.name:
            log.warning("reconcile: domain %s on node %s is on this cloud's network but not one of its "
                        "instances; leaving it alone", info.domain_name, info.node)
            counts["reported"] += 1
    counts["cleaned"] += _clean_orphans(rt, rows, known)
    return counts


def _clean_orphans(rt: Ec2Runtime, rows: dict[str, Any], known: set[str]) -> int:
    """DHCP reservations and instance directories with no domain, of instances nothing is launching."""
    orphans = rt.driver.orphans()
    settled = 0

    def idle(iid: str) -> bool:
        return not rt.busy(iid) and (iid not in rows or rows[iid].state not in ("pending",))

    for node_name, reservations in orphans.reservations.items():
        for r in reservations:
            if r.name in known and idle(r.name):
                rt.driver.network.release(rt.driver.node(node_name).connection(), r.mac)
                settled += 1
    for node_name, dirs in orphans.instance_dirs.items():
        for iid in dirs:
            if idle(iid) and (iid not in rows or rows[iid].state in ("terminated", "shutting-down")):
                rt.driver.node(node_name).host.remove_tree(rt.driver.instance_dir(iid))
                settled += 1
    for info in orphans.unrecognised_domains:
        log.warning("reconcile: domain %s on node %s has a silvereye name but no silvereye metadata; leaving it",
                    info.domain_name, info.node)
    return settled


def on_event(rt: Ec2Runtime, event: InstanceEvent) -> None:
    """A lifecycle event (on libvirt's event thread, so quick): settle that instance on a worker."""
    if rt.closed or event.event in ("defined", "resumed", "suspended"):
        return
    try:
        reconcile_one(rt, event.instance_id)
    except RuntimeError:  # the executor is shutting down with the server
        pass
