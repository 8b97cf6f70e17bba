"""EBS-backed images: a machine image whose root is a snapshot, and instances that boot from a volume.

RegisterImage with a root block device mapping that names a snapshot (and
no ImageLocation) makes an image row like any machine image, with format
``ebs`` and location ``ebs:<snapshot id>`` instead of a cached file; its
mappings are in :data:`block_devices`. RunInstances of it gives every
instance a root volume made from the snapshot (at least its size; gp2
unless the mapping says; DeleteOnTermination true unless it says false),
attached at the image's root device name, and boots the instance from that
volume (``BootSource.root_volume``): stop and start keep it, terminate
frees it or deletes it, as marked. The image keeps its snapshot in use
(DeleteSnapshot refuses) until it is deregistered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from silvereye.compute import BootSource
from silvereye.services.ec2 import ebs, errors
from silvereye.services.ec2.models import images, snapshots, tags
from silvereye.services.ec2.models import volumes as volume_records
from silvereye.services.ec2.tables import ResourceId, images as im
from silvereye.store import create_tables, metadata, register_migrations

FORMAT = "ebs"  # images.format of an EBS-backed image

block_devices = sa.Table(
    "ec2_image_block_devices",
    metadata,
    sa.Column("image_id", ResourceId, primary_key=True),
    sa.Column("device", sa.String(32), primary_key=True),
    sa.Column("snapshot_id", ResourceId, nullable=False, index=True),
    sa.Column("volume_size", sa.Integer, nullable=False),  # GiB
    sa.Column("volume_type", sa.String(16), nullable=False),
    sa.Column("delete_on_termination", sa.Boolean, nullable=False),
)

register_migrations("ec2_ebs_images", [create_tables(block_devices)])
b = block_devices


def is_ebs(image: Any) -> bool:
    return image is not None and image.format == FORMAT


def wanted(params: dict[str, Any]) -> bool:
    """Does a RegisterImage request describe an EBS-backed image (a snapshot at its root device)?"""
    return not params.get("ImageLocation") and any((m.get("Ebs") or {}).get("SnapshotId")
                                                  for m in params.get("BlockDeviceMappings") or [])


def _root_mapping(conn: sa.Connection, account_id: str, params: dict[str, Any]) -> dict[str, Any]:
    root_device = params.get("RootDeviceName") or images.DEFAULT_ROOT_DEVICE
    given = params.get("BlockDeviceMappings") or []
    root = next((m for m in given if m.get("DeviceName") == root_device and m.get("Ebs")), None)
    if root is None:
        raise errors.invalid_parameter(f"The root device {root_device} has no EBS block device mapping with a snapshot; "
                                       "name the snapshot in the mapping of RootDeviceName.")
    for mapping in given:
        if mapping is not root and (mapping.get("Ebs") or mapping.get("VirtualName")):
            raise errors.unsupported(f"Only the root device's mapping is supported here ({mapping.get('DeviceName')} "
                                     "is another); attach further volumes to the instances instead.")
    ebs_spec = root["Ebs"]
    if ebs_spec.get("Encrypted") or ebs_spec.get("KmsKeyId"):
        raise errors.unsupported("Encrypted volumes are not offered by this cloud.")
    snap = snapshots.restorable(conn, account_id, ebs_spec.get("SnapshotId") or "")
    size = snap.volume_size if ebs_spec.get("VolumeSize") is None else ebs_spec["VolumeSize"]
    if size < snap.volume_size:
        raise errors.invalid_parameter(f"Volume of {size}GiB is too small; minimum is {snap.volume_size}GiB.")
    vtype, _, _ = volume_records.performance(ebs_spec.get("VolumeType"), size, ebs_spec.get("Iops"),
                                             ebs_spec.get("Throughput"))
    volume_records.check_size(size, vtype)
    dot = ebs_spec.get("DeleteOnTermination")
    return {"device": root_device, "snapshot_id": snap.id, "volume_size": size, "volume_type": vtype,
            "delete_on_termination": True if dot is None else bool(dot)}


def register_image(ctx: Any, params: dict[str, Any], settings: dict[str, Any], pairs: list[tuple[str, str]],
                   resource_type: str) -> dict[str, Any]:
    """RegisterImage of an EBS-backed image (``settings``: the machine settings the images handler read)."""
    name = params["Name"]
    with ctx.store.write() as conn:
        images.check_name(conn, ctx.account_id, name)
        images.check_parts(conn, ctx.account_id, settings["kernel_id"], settings["ramdisk_id"])
        root = _root_mapping(conn, ctx.account_id, params)
        image_id = images.insert(conn, ctx.account_id, images.NewImage(
            kind="machine", name=name, location=f"ebs:{root['snapshot_id']}", format=FORMAT, sha256="",
            size=root["volume_size"] << 30, description=params.get("Description"),
            **{**settings, "root_device_name": root["device"]}))
        conn.execute(sa.insert(b).values(image_id=image_id, **root))
        tags.put(conn, ctx.account_id, image_id, resource_type, pairs)
    return {"ImageId": image_id}


def mappings(conn: sa.Connection, image_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """image id -> its BlockDeviceMappings, as DescribeImages shows them."""
    out: dict[str, list[dict[str, Any]]] = {}
    if image_ids:
        for r in conn.execute(sa.select(b).where(b.c.image_id.in_(image_ids)).order_by(b.c.device)):
            out.setdefault(r.image_id, []).append({"DeviceName": r.device, "Ebs": {
                "SnapshotId": r.snapshot_id, "VolumeSize": r.volume_size, "VolumeType": r.volume_type,
                "DeleteOnTermination": bool(r.delete_on_termination), "Encrypted": False}})
    return out


def decorate(conn: sa.Connection, shapes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeImages' shapes of EBS-backed images: RootDeviceType ebs and their mappings."""
    found = mappings(conn, [s["ImageId"] for s in shapes])
    for shape in shapes:
        if shape["ImageId"] in found:
            shape["RootDeviceType"] = "ebs"
            shape["BlockDeviceMappings"] = found[shape["ImageId"]]
    return shapes


def _image_using(conn: sa.Connection, snapshot_id: str) -> str | None:
    """The image that boots from a snapshot (deregistered images let go of theirs)."""
    row = conn.execute(sa.select(b.c.image_id).join(im, im.c.id == b.c.image_id).where(
        b.c.snapshot_id == snapshot_id, im.c.state != "deregistered")).first()
    return row.image_id if row is not None else None


snapshots.register_user(_image_using)


def forget_removed(conn: sa.Connection) -> None:
    """Drop the mappings of images that are gone (housekeeping removed them once deregistered)."""
    conn.execute(sa.delete(b).where(b.c.image_id.not_in(sa.select(im.c.id))))


# -- launching ------------------------------------------------------------------------------------


def root_mapping(conn: sa.Connection, image: Any) -> Any:
    """The mapping of an EBS-backed image's root device (its snapshot, size, type, DeleteOnTermination)."""
    root = conn.execute(sa.select(b).where(b.c.image_id == image.id, b.c.device == image.root_device_name)).first()
    if root is None:
        raise errors.error("InvalidAMIID.Unavailable", f"image {image.id} has no root block device")
    return root


def root_volume(rt: Any, instance: Any, image: Any) -> str:
    """The instance's root volume: the one an earlier attempt made (a launch retried after a crash),
    or a new one from the image's snapshot, recorded as attached at the root device."""
    from silvereye.services.ec2 import launch_volumes

    with rt.store.read() as conn:
        root = root_mapping(conn, image)
        made = [r for r in volume_records.attached_to(conn, [instance.id]).get(instance.id, [])
                if r.device == image.root_device_name]
        override = launch_volumes.root_of(conn, instance.id)
    if made:
        return made[0].id
    wanted = override if override is not None else root
    volume_id = ebs.new_volume(rt, instance.account_id, instance.availability_zone, wanted.volume_size,
                               snapshot_id=root.snapshot_id, volume_type=wanted.volume_type,
                               restorable_by=image.account_id)  # a shared image's snapshot need not be
    with rt.store.write() as conn:
        volume_records.mark_attached(conn, volume_id, instance.id, image.root_device_name, "attaching",
                                     delete_on_termination=bool(wanted.delete_on_termination))
        launch_volumes.root_made(conn, instance.id)
    return volume_id


def boot_source(rt: Any, instance: Any, image: Any, boot: BootSource) -> BootSource:
    """``boot`` (kernel, ramdisk, firmware as the image says) booting from the instance's root volume."""
    volume_id = root_volume(rt, instance, image)
    return dataclasses.replace(boot, root=None, root_size=0, root_volume=volume_id,
                               root_device_name=image.root_device_name)


# -- CreateImage of an EBS-backed instance -------------------------------------------------------------


def root_volume_of(rt: Any, instance_id: str) -> Any | None:
    """The volume record an instance boots from (attached at a root device name), or None."""
    from silvereye.compute.volumes import check_root_device

    with rt.store.read() as conn:
        for row in volume_records.attached_to(conn, [instance_id]).get(instance_id, []):
            try:
                check_root_device(row.device or "")
            except Exception:  # noqa: BLE001 - a data volume's device
                continue
            return row
    return None


def image_from_root_volume(rt: Any, image_id: str, instance: Any, volume: Any) -> None:
    """CreateImage's work for an EBS-backed instance: a snapshot of its root volume (crash-consistent
    when it runs), which becomes the new image's root; the image is EBS-backed in turn."""
    from silvereye.services.ec2 import snapshot_store
    from silvereye.services.ec2.models.common import new_id

    snapshot_id = new_id("snap")
    with rt.store.write() as conn:
        snapshots.insert(conn, snapshot_id, instance.account_id, volume.id, volume.size,
                         f"Created by CreateImage({instance.id}) for {image_id}")
    snapshot_store.take(rt, snapshot_id)
    with rt.store.write() as conn:
        snap = snapshots.get(conn, snapshot_id)
        if snap is None or snap.state != "completed":
            raise RuntimeError(f"the snapshot of {volume.id} failed: {snap.error_message if snap else 'deleted'}")
        conn.execute(sa.insert(b).values(image_id=image_id, device=volume.device, snapshot_id=snapshot_id,
                                         volume_size=volume.size, volume_type=volume.volume_type,
                                         delete_on_termination=True))
        conn.execute(sa.update(im).where(im.c.id == image_id, im.c.state == "pending").values(
            state="available", format=FORMAT, location=f"ebs:{snapshot_id}", sha256="", size=volume.size << 30,
            root_device_name=volume.device))
