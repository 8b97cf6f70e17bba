"""RunInstances' BlockDeviceMappings: the root volume's size, type and DeleteOnTermination, and further
EBS volumes (empty, or from a snapshot) that come with each instance.

The request is checked before anything is made; what it asks of each
instance is written next to the instance's record (committed with it), and
carried out as the instance comes to life: the root volume when its launch
makes it (:mod:`.ebs_images`), further volumes as soon as it runs (a hook:
each is made, hot-plugged at its device and recorded as attached, marked
DeleteOnTermination unless the mapping says otherwise, as EC2 does).
What is done is struck off, so a launch retried after a crash neither
loses nor doubles a volume. Instance-store names (``VirtualName``) and
``NoDevice`` name devices that do not exist here: they are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from silvereye.compute import ComputeError, InvalidArgument
from silvereye.compute.volumes import device_target
from silvereye.services.ec2 import ebs, errors, hooks
from silvereye.services.ec2.models import snapshots
from silvereye.services.ec2.models import volumes as volume_records
from silvereye.services.ec2.tables import ResourceId, instances
from silvereye.services.gateway.errors import ServiceError
from silvereye.store import create_tables, metadata, register_migrations

log = logging.getLogger("silvereye.ec2")

roots = sa.Table(
    "ec2_launch_root_volumes",
    metadata,
    sa.Column("instance_id", ResourceId, primary_key=True),
    sa.Column("volume_size", sa.Integer, nullable=False),
    sa.Column("volume_type", sa.String(16), nullable=False),
    sa.Column("delete_on_termination", sa.Boolean, nullable=False),
)

extras = sa.Table(
    "ec2_launch_volumes",
    metadata,
    sa.Column("instance_id", ResourceId, primary_key=True),
    sa.Column("device", sa.String(32), primary_key=True),
    sa.Column("snapshot_id", ResourceId, nullable=True),
    sa.Column("volume_size", sa.Integer, nullable=False),
    sa.Column("volume_type", sa.String(16), nullable=False),
    sa.Column("delete_on_termination", sa.Boolean, nullable=False),
)

register_migrations("ec2_launch_volumes", [create_tables(roots, extras)])


@dataclass
class Wanted:
    root: dict[str, Any] | None = None
    extra: list[dict[str, Any]] = field(default_factory=list)


def _performance(spec: dict[str, Any], size: int, default_type: str) -> str:
    vtype, _, _ = volume_records.performance(spec.get("VolumeType") or default_type, size, spec.get("Iops"),
                                             spec.get("Throughput"))
    volume_records.check_size(size, vtype)
    return vtype


def _root(conn: sa.Connection, image: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from silvereye.services.ec2.ebs_images import is_ebs, root_mapping

    if not is_ebs(image):
        raise errors.unsupported(f"BlockDeviceMappings: {image.id} is an instance-store image; its root device "
                                 f"{image.root_device_name} is not an EBS volume to size.")
    if spec.get("SnapshotId") or spec.get("Encrypted") or spec.get("KmsKeyId"):
        raise errors.unsupported("BlockDeviceMappings: the root volume comes from the image's snapshot, unencrypted.")
    root = root_mapping(conn, image)
    size = spec.get("VolumeSize", root.volume_size)
    if size < root.volume_size:
        raise errors.invalid_parameter(f"Volume of {size}GiB is too small; minimum is {root.volume_size}GiB.")
    dot = spec.get("DeleteOnTermination")
    return {"volume_size": size, "volume_type": _performance(spec, size, root.volume_type),
            "delete_on_termination": bool(root.delete_on_termination) if dot is None else bool(dot)}


def _extra(conn: sa.Connection, account_id: str, device: str, spec: dict[str, Any]) -> dict[str, Any]:
    try:
        device_target(device)
    except InvalidArgument:
        raise errors.invalid_parameter(f"Invalid device name {device}; use /dev/sdf to /dev/sdp (or /dev/sd[b-z], "
                                       "/dev/xvd[b-z]).") from None
    if spec.get("Encrypted") or spec.get("KmsKeyId"):
        raise errors.unsupported("Encrypted volumes are not offered by this cloud.")
    size = spec.get("VolumeSize")
    if spec.get("SnapshotId"):
        snap = snapshots.restorable(conn, account_id, spec["SnapshotId"])
        size = snap.volume_size if size is None else size
        if size < snap.volume_size:
            raise errors.invalid_parameter(f"Volume of {size}GiB is too small; minimum is {snap.volume_size}GiB.")
    elif size is None:
        raise errors.missing_parameter(f"BlockDeviceMapping.Ebs.VolumeSize ({device} has no snapshot)")
    dot = spec.get("DeleteOnTermination")
    return {"device": device, "snapshot_id": spec.get("SnapshotId"), "volume_size": size,
            "volume_type": _performance(spec, size, "gp2"), "delete_on_termination": True if dot is None else bool(dot)}


def check(conn: sa.Connection, account_id: str, image: Any, mappings: list[dict[str, Any]] | None) -> Wanted:
    """The volumes RunInstances' BlockDeviceMappings ask for, checked as EC2 checks them."""
    wanted = Wanted()
    seen: set[str] = set()
    for mapping in mappings or []:
        device, spec = mapping.get("DeviceName"), mapping.get("Ebs")
        if not spec:
            continue
        if device in seen:
            raise errors.invalid_parameter(f"The device {device} is mapped more than once.")
        seen.add(device)
        if device == image.root_device_name:
            wanted.root = _root(conn, image, spec)
        else:
            wanted.extra.append(_extra(conn, account_id, device, spec))
    return wanted


def remember(conn: sa.Connection, instance_id: str, wanted: Wanted | None) -> None:
    """Write what the launch asks for next to the instance's record (in its transaction)."""
    if wanted is None:
        return
    if wanted.root is not None:
        conn.execute(sa.insert(roots).values(instance_id=instance_id, **wanted.root))
    for extra in wanted.extra:
        conn.execute(sa.insert(extras).values(instance_id=instance_id, **extra))


def root_of(conn: sa.Connection, instance_id: str) -> Any | None:
    """The root volume the launch asked for (size, type, DeleteOnTermination), or None: the image's."""
    return conn.execute(sa.select(roots).where(roots.c.instance_id == instance_id)).first()


def root_made(conn: sa.Connection, instance_id: str) -> None:
    conn.execute(sa.delete(roots).where(roots.c.instance_id == instance_id))


def _attach_extras(rt: Any, instance_id: str) -> None:
    """A hook on ``running``: make and plug in the further volumes its launch asked for, once."""
    with rt.store.read() as conn:
        wanted = list(conn.execute(sa.select(extras).where(extras.c.instance_id == instance_id)))
        instance = conn.execute(sa.select(instances).where(instances.c.id == instance_id)).first()
    if not wanted or instance is None:
        return
    for row in wanted:
        try:
            volume_id = ebs.new_volume(rt, instance.account_id, instance.availability_zone, row.volume_size,
                                       snapshot_id=row.snapshot_id, volume_type=row.volume_type)
            with rt.store.write() as conn:
                volume_records.mark_attached(conn, volume_id, instance_id, row.device, "attaching",
                                             delete_on_termination=bool(row.delete_on_termination))
                conn.execute(sa.delete(extras).where(extras.c.instance_id == instance_id, extras.c.device == row.device))
            ebs.storage(rt).volumes.attach(volume_id, instance_id, row.device)
            with rt.store.write() as conn:
                volume_records.update(conn, volume_id, attach_state="attached")
        except (ComputeError, ServiceError) as e:  # the volume, if made, stays for the user to see
            log.warning("the volume %s asked for at launch of %s could not be given to it: %s", row.device,
                        instance_id, e)
            ebs.settle(rt)


def forget_ended(conn: sa.Connection) -> None:
    """Drop what launches asked for that ended before it was done (terminated while pending)."""
    pending = sa.select(instances.c.id).where(instances.c.state.in_(("pending", "running", "stopped")))
    for table in (roots, extras):
        conn.execute(sa.delete(table).where(table.c.instance_id.not_in(pending)))


hooks.on("running", _attach_extras)
