"""The disk side of EC2 volumes: the runtime's Volumes and Snapshots, the slow work, and keeping records true.

Handlers write a record first (``creating``, ``deleting``, ``detaching``)
and hand the file work to the runtime's executor under the volume's id, so
work on one volume never overlaps; the job moves the record on when the
disk layer is done. :func:`settle` compares every record with the files
and libvirt's attachments (:meth:`Volumes.list`): it runs when the storage
is first used after a start and at each housekeeping round, finishing what
a crash interrupted and correcting any record the disk layer contradicts.
When an instance is terminated (a hook), its volumes become available, or
go, if marked DeleteOnTermination.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from silvereye.compute import ComputeError
from silvereye.compute.snapshots import Snapshots
from silvereye.compute.volumes import DetachTimeout, VolumeExists, VolumeNotAttached, VolumeNotFound, Volumes
from silvereye.services.ec2 import hooks
from silvereye.services.ec2.models import tags
from silvereye.services.ec2.models import volumes as records
from silvereye.services.ec2.runtime import Ec2Runtime

log = logging.getLogger("silvereye.ec2")


@dataclass
class Storage:
    volumes: Volumes
    snapshots: Snapshots


_storages: "weakref.WeakKeyDictionary[Ec2Runtime, Storage]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def storage(rt: Ec2Runtime) -> Storage:
    """The runtime's volumes and snapshots; the first call after a start recovers and settles them."""
    with _lock:
        found = _storages.get(rt)
        if found is not None:
            return found
        vols = Volumes(rt.driver)
        found = Storage(vols, Snapshots(vols))
        _storages[rt] = found
    try:
        fixed = found.snapshots.recover()
        if fixed:
            log.info("merged back the snapshot overlays a crash left on %s", ", ".join(fixed))
        settle(rt)
    except ComputeError as e:  # libvirt down: housekeeping settles later
        log.warning("could not settle volumes with the disk layer: %s", e)
    return found


# -- jobs --------------------------------------------------------------------------------


def _set(rt: Ec2Runtime, volume_id: str, **values: Any) -> None:
    with rt.store.write() as conn:
        records.update(conn, volume_id, **values)


def create(rt: Ec2Runtime, volume_id: str) -> None:
    """Make a ``creating`` volume's file (empty, or its snapshot's bytes from the system bucket), then
    mark it available; ``error`` if it cannot be made. Run again after a crash, it finishes the job."""
    st = storage(rt)
    with rt.store.read() as conn:
        row = records.get(conn, volume_id)
    if row is None or row.state != "creating":
        return
    size = row.size * records.GIB
    try:
        try:
            if row.snapshot_id:
                from silvereye.services.ec2 import snapshot_store

                snapshot_store.restore(rt, row.snapshot_id, volume_id, size)
            else:
                st.volumes.create(volume_id, size)
        except VolumeExists:  # made before a crash took the record's update with it
            if st.volumes.describe(volume_id).size != size:
                raise
    except Exception as e:  # noqa: BLE001 - the record says what went wrong
        log.warning("volume %s could not be created: %s", volume_id, e)
        _set(rt, volume_id, state="error", error_message=str(e)[:500])
        return
    with rt.store.write() as conn:
        current = records.get(conn, volume_id)
        if current is not None and current.state == "creating":
            records.update(conn, volume_id, state="available")
    if current is None or current.state == "deleting":
        rt.submit(volume_id, delete, rt, volume_id)


def delete(rt: Ec2Runtime, volume_id: str) -> None:
    """Remove a ``deleting`` volume's file (unplugging it first if it is still attached) and its record."""
    st = storage(rt)
    try:
        info = st.volumes.describe(volume_id)
        if info.attachment is not None:
            st.volumes.detach(volume_id, force=True)
        st.volumes.delete(volume_id)
    except VolumeNotFound:
        pass  # its file is gone already: the record is all that is left
    except ComputeError as e:
        log.warning("volume %s could not be deleted yet (%s); housekeeping tries again", volume_id, e)
        return
    with rt.store.write() as conn:
        conn.execute(sa.delete(records.v).where(records.v.c.id == volume_id, records.v.c.state == "deleting"))
        tags.remove_all(conn, [volume_id])


def detach(rt: Ec2Runtime, volume_id: str, instance_id: str, force: bool) -> None:
    """Unplug a ``detaching`` volume; a guest that does not let go leaves it attached."""
    st = storage(rt)
    try:
        info = st.volumes.detach(volume_id, instance_id=instance_id, force=force)
    except VolumeNotAttached:
        info = None
    except (VolumeNotFound, DetachTimeout, ComputeError) as e:
        log.warning("detaching %s from %s: %s", volume_id, instance_id, e)
        with rt.store.write() as conn:
            row = records.get(conn, volume_id)
            if row is not None and row.attach_state == "detaching":
                records.update(conn, volume_id, attach_state="attached")
        return
    with rt.store.write() as conn:
        row = records.get(conn, volume_id)
        if row is None or row.instance_id != instance_id:
            return
        if info is None or info.attachment is None:
            records.mark_detached(conn, volume_id)
        # else: forced, the guest still holds it; settle() finishes once it lets go


def grow(rt: Ec2Runtime, volume_id: str) -> None:
    """Carry out a ModifyVolume: grow the file (live when attached), then record the new figures."""
    with rt.store.read() as conn:
        row = records.get(conn, volume_id)
    mod = records.loads(row.modification) if row is not None else None
    if not mod or mod["state"] != "modifying":
        return
    error = None
    try:
        storage(rt).volumes.grow(volume_id, mod["target"]["size"] * records.GIB)
    except ComputeError as e:
        error = str(e)
    with rt.store.write() as conn:
        records.finish_modification(conn, volume_id, error)


# -- keeping records true ---------------------------------------------------------------------


def settle(rt: Ec2Runtime) -> None:
    """Make every volume record agree with the disk layer, and restart the work a crash interrupted."""
    st = _storages[rt]
    found = {info.volume_id: info for info in st.volumes.list()}
    with rt.store.write() as conn:
        rows = list(conn.execute(sa.select(records.v)))
        for row in rows:
            if rt.busy(row.id) or (row.instance_id and rt.busy(row.instance_id)) or row.state in ("creating", "deleting"):
                continue  # work on the volume, or on its instance (a launch from it), is under way
            info = found.get(row.id)
            if info is None:
                if row.state != "error":
                    log.warning("volume %s has no file; it is marked error", row.id)
                    records.update(conn, row.id, state="error", error_message="the volume's file is missing",
                                   instance_id=None, device=None, attach_state=None)
                continue
            att = info.attachment
            if att is None and row.instance_id:
                records.mark_detached(conn, row.id)
            elif att is not None and (row.instance_id != att.instance_id or row.state != "in-use"):
                device = row.device if row.instance_id == att.instance_id and row.device else att.device
                records.mark_attached(conn, row.id, att.instance_id, device, att.state,
                                      delete_on_termination=bool(row.delete_on_termination))
            elif att is not None and row.attach_state != att.state and row.attach_state != "detaching":
                records.update(conn, row.id, attach_state=att.state)
    for row in rows:
        if row.state == "creating" and not rt.busy(row.id):
            rt.submit(row.id, create, rt, row.id)
        elif row.state == "deleting" and not rt.busy(row.id):
            rt.submit(row.id, delete, rt, row.id)


def start(rt: Ec2Runtime) -> None:
    """At service start, before any request: merge back the overlays a crash left, settle the volumes,
    and settle every snapshot left pending (no job of this process can hold one yet)."""
    from silvereye.services.ec2 import snapshot_store

    st = storage(rt)
    snapshot_store.housekeep(rt, stale=None)
    if st.snapshots.staging.is_dir():  # images taken but never stored: their snapshots just became error
        for leftover in st.snapshots.staging.glob("snap-*.qcow2"):
            leftover.unlink(missing_ok=True)


def housekeep(rt: Ec2Runtime) -> None:
    storage(rt)  # settles on first use
    settle(rt)
    from silvereye.services.ec2 import ebs_images, launch_volumes, snapshot_store

    snapshot_store.housekeep(rt)
    with rt.store.write() as conn:
        ebs_images.forget_removed(conn)
        launch_volumes.forget_ended(conn)


def _instance_terminated(rt: Ec2Runtime, instance_id: str) -> None:
    """Its volumes are free again; those marked DeleteOnTermination go."""
    doomed = []
    with rt.store.write() as conn:
        for row in records.attached_to(conn, [instance_id]).get(instance_id, []):
            if row.delete_on_termination:
                records.update(conn, row.id, state="deleting", instance_id=None, device=None, attach_state=None)
                doomed.append(row.id)
            else:
                records.mark_detached(conn, row.id)
    for volume_id in doomed:
        rt.submit(volume_id, delete, rt, volume_id)


def _instance_running(rt: Ec2Runtime, instance_id: str) -> None:
    """An instance launched from a root volume runs: the volume's attachment is complete."""
    with rt.store.write() as conn:
        for row in records.attached_to(conn, [instance_id]).get(instance_id, []):
            if row.attach_state == "attaching":
                records.update(conn, row.id, attach_state="attached")


hooks.on("terminated", _instance_terminated)
hooks.on("running", _instance_running)


# -- for other features (EBS-backed instances and images) -------------------------------------------


def new_volume(rt: Ec2Runtime, account_id: str, zone: str, size_gib: int | None = None, *,
               snapshot_id: str | None = None, volume_type: str = "gp2", delete_on_termination: bool = False,
               restorable_by: str | None = None) -> str:
    """A new volume of the account, made before this returns (``available``); its id. Empty, or from a
    snapshot the account (or ``restorable_by``: the owner of a shared image that boots from it) may
    restore, at least the snapshot's size. EC2's errors for what is not found or too small; a
    ComputeError if the disk cannot be made (the record then says ``error``)."""
    from silvereye.services.ec2 import errors
    from silvereye.services.ec2.models import snapshots
    from silvereye.services.ec2.models.common import new_id

    volume_id = new_id("vol")
    with rt.store.write() as conn:
        size = size_gib
        if snapshot_id is not None:
            snap = snapshots.restorable(conn, restorable_by or account_id, snapshot_id)
            size = snap.volume_size if size is None else size
            if size < snap.volume_size:
                raise errors.invalid_parameter(f"Volume of {size}GiB is too small; minimum is {snap.volume_size}GiB.")
        elif size is None:
            raise errors.missing_parameter("Size")
        vtype, iops, throughput = records.performance(volume_type, size, None, None)
        records.insert(conn, volume_id, account_id, zone, records.check_size(size, vtype), vtype, iops, throughput,
                       snapshot_id)
        records.update(conn, volume_id, delete_on_termination=delete_on_termination)
    rt.submit(volume_id, create, rt, volume_id).result()
    with rt.store.read() as conn:
        row = records.get(conn, volume_id)
    if row.state != "available":
        raise ComputeError(f"volume {volume_id} could not be made: {row.error_message}")
    return volume_id


def volume_from_snapshot(rt: Ec2Runtime, account_id: str, snapshot_id: str, zone: str, *, size_gib: int | None = None,
                         volume_type: str = "gp2", delete_on_termination: bool = False,
                         restorable_by: str | None = None) -> str:
    """:func:`new_volume` holding a snapshot."""
    return new_volume(rt, account_id, zone, size_gib, snapshot_id=snapshot_id, volume_type=volume_type,
                      delete_on_termination=delete_on_termination, restorable_by=restorable_by)
