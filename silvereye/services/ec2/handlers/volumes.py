"""CreateVolume, DescribeVolumes, DeleteVolume, AttachVolume, DetachVolume, ModifyVolume,
DescribeVolumesModifications, DescribeVolumeStatus, Describe/ModifyVolumeAttribute.

Creating, deleting, detaching and growing answer at once with the record
in its transitional state and finish in the background (:mod:`..ebs`).
Attaching is done before the answer: libvirt's hot-plug takes a fraction
of a second, and its refusals (the device is taken) reach the client as
EC2's errors rather than as a volume that silently falls back.
"""

from __future__ import annotations

from typing import Any

from silvereye.compute import ComputeError, InstanceNotFound, InvalidArgument
from silvereye.compute.volumes import DeviceInUse, VolumeInUse, check_root_device, device_target
from silvereye.services.ec2 import ebs, errors, filters, pagination
from silvereye.services.ec2.models import instances, tags, vpc, zones
from silvereye.services.ec2.models import volumes as records
from silvereye.services.ec2.models.common import new_id
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError

RESOURCE_TYPE = "volume"


def _zone_named_by_id(cfg: Any, zone_id: str | None) -> str:
    if not zone_id:
        raise errors.missing_parameter("AvailabilityZone")
    for name in cfg.availability_zones:
        if vpc.zone_id(cfg, name) == zone_id:
            return name
    raise errors.invalid_value(zone_id, "AvailabilityZoneId", "No availability zone has this id.")


def create_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from silvereye.services.ec2.models import snapshots

    zone = params.get("AvailabilityZone") or _zone_named_by_id(ctx.config, params.get("AvailabilityZoneId"))
    zones.check_zone(ctx.config, zone)
    if params.get("Encrypted") or params.get("KmsKeyId"):
        raise errors.unsupported("Encrypted volumes are not offered by this cloud; create the volume with Encrypted false.")
    if params.get("MultiAttachEnabled"):
        raise errors.unsupported("Multi-Attach is not offered by this cloud; a volume attaches to one instance.")
    pairs = tags.specifications(params, {RESOURCE_TYPE: RESOURCE_TYPE}).get(RESOURCE_TYPE, [])
    snapshot_id = params.get("SnapshotId")
    size = params.get("Size")
    rt = runtime_for(ctx.store)
    volume_id = new_id("vol")
    with ctx.store.write() as conn:
        if snapshot_id:
            snap = snapshots.restorable(conn, ctx.account_id, snapshot_id)
            if size is None:
                size = snap.volume_size
            elif size < snap.volume_size:
                raise errors.invalid_parameter(f"Volume of {size}GiB is too small; minimum is {snap.volume_size}GiB.")
        elif size is None:
            raise errors.missing_parameter("Size")
        vtype, iops, throughput = records.performance(params.get("VolumeType"), size if isinstance(size, int) else 1,
                                                      params.get("Iops"), params.get("Throughput"))
        records.check_size(size, vtype)
        row = records.insert(conn, volume_id, ctx.account_id, zone, size, vtype, iops, throughput, snapshot_id)
        tags.put(conn, ctx.account_id, volume_id, RESOURCE_TYPE, pairs)
    rt.submit(volume_id, ebs.create, rt, volume_id)
    return records.shape(row, dict(pairs))


FILTERS = filters.FilterSpec(
    fields={
        "volume-id": lambda x: x.row.id,
        "status": lambda x: x.row.state,
        "size": lambda x: x.row.size,
        "availability-zone": lambda x: x.row.availability_zone,
        "snapshot-id": lambda x: x.row.snapshot_id or "",
        "volume-type": lambda x: x.row.volume_type,
        "create-time": lambda x: x.row.created,
        "encrypted": lambda x: False,
        "multi-attach-enabled": lambda x: False,
        "attachment.instance-id": lambda x: x.row.instance_id,
        "attachment.status": lambda x: x.row.attach_state,
        "attachment.device": lambda x: x.row.device,
        "attachment.attach-time": lambda x: x.row.attach_time,
        "attachment.delete-on-termination": lambda x: bool(x.row.delete_on_termination) if x.row.instance_id else None,
    },
    tags=filters.row_tags,
)


def _selected(ctx: RequestContext, params: dict[str, Any]) -> list[filters.Tagged]:
    """The account's volumes named by VolumeIds (every one must exist), or all of them."""
    ebs.storage(runtime_for(ctx.store))  # the first look after a start settles records with the disks
    wanted = [records.check_volume_id(i) for i in params.get("VolumeIds") or []]
    with ctx.store.read() as conn:
        rows = records.of_account(conn, ctx.account_id)
        tag_maps = tags.of(conn, ctx.account_id, [r.id for r in rows])
    if wanted:
        have = {r.id for r in rows}
        missing = [i for i in wanted if i not in have]
        if missing:
            raise records.not_found(missing[0])
        rows = [r for r in rows if r.id in set(wanted)]
    return [filters.Tagged(r, tag_maps.get(r.id, {})) for r in rows]


def describe_volumes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    kept = filters.apply(FILTERS, _selected(ctx, params), params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda x: x.row.id, minimum=5, maximum=500, cap=True)
    return {"Volumes": [records.shape(x.row, x.tag_map) for x in page], "NextToken": token}


def delete_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    volume_id = params["VolumeId"]
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, volume_id)
        if row.instance_id:
            raise errors.error("VolumeInUse", f"Volume {volume_id} is currently attached to {row.instance_id}")
        if row.state == "creating":
            raise records.incorrect_state(f"The volume '{volume_id}' is still being created; delete it once it is available.")
        records.update(conn, volume_id, state="deleting")
    rt.submit(volume_id, ebs.delete, rt, volume_id)
    return {}


def _is_root_device(device: str) -> bool:
    try:
        check_root_device(device)
    except InvalidArgument:
        return False
    return True


def _check_device(device: str | None) -> str:
    if not device:
        raise errors.missing_parameter("Device")
    if _is_root_device(device):
        return device  # only a stopped instance without a root volume takes one (checked with the instance)
    try:
        device_target(device)
    except InvalidArgument:
        raise errors.invalid_parameter(f"Invalid value '{device}' for unixDevice. Attachment point {device} is "
                                       "not valid; use /dev/sdf to /dev/sdp (or /dev/sd[b-z], /dev/xvd[b-z]).") from None
    return device


def _target(device: str) -> str:
    return "vda" if _is_root_device(device) else device_target(device)


def _device_taken(device: str) -> ServiceError:
    return errors.invalid_parameter(f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use")


def attach_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    st = ebs.storage(rt)
    volume_id, instance_id = params["VolumeId"], params["InstanceId"]
    device = _check_device(params.get("Device"))
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, volume_id)
        instance = instances.owned(conn, ctx.account_id, [instances.check_instance_id(instance_id)],
                                   include_terminated=False)[0]
        if row.instance_id:
            raise errors.error("VolumeInUse", f"vol '{volume_id}' is already attached to an instance")
        if row.state != "available":
            raise records.incorrect_state(f"The volume '{volume_id}' is not 'available'.")
        if instance.state not in ("running", "stopped"):
            raise errors.incorrect_state(instance_id, instance.state, "attached to")
        if instance.availability_zone != row.availability_zone:
            raise errors.error("InvalidVolume.ZoneMismatch", f"The volume '{volume_id}' is not in the same availability "
                               f"zone as instance '{instance_id}'")
        if _is_root_device(device) and instance.state != "stopped":
            raise errors.invalid_parameter(f"Invalid value '{device}' for unixDevice. Attachment point {device} is the "
                                           "root device: a volume goes there only while the instance is stopped.")
        attached = records.attached_to(conn, [instance_id]).get(instance_id, [])
        if any(_target(r.device) == _target(device) for r in attached):
            raise _device_taken(device)
        records.mark_attached(conn, volume_id, instance_id, device, "attaching")
    def plug() -> ComputeError | None:  # a refusal is an answer for the client, not a failure to log
        try:
            st.volumes.attach(volume_id, instance_id, device)
        except ComputeError as e:
            return e
        return None

    try:  # on the volume's queue: settle() leaves it alone meanwhile, and it never overlaps a detach
        refused = rt.submit(volume_id, plug).result()
        if refused is not None:
            raise refused
    except BaseException as e:
        with ctx.store.write() as conn:
            records.mark_detached(conn, volume_id)
        if isinstance(e, DeviceInUse):
            raise _device_taken(device) from None
        if isinstance(e, VolumeInUse):  # the disk layer knew better than the record: settle it
            ebs.settle(rt)
            raise errors.error("VolumeInUse", f"vol '{volume_id}' is already attached to an instance") from None
        if isinstance(e, InstanceNotFound):
            raise errors.incorrect_state(instance_id, "pending", "attached to") from None
        if isinstance(e, ComputeError):
            raise errors.error("IncorrectState", f"The volume '{volume_id}' could not be attached to '{instance_id}': {e}") from None
        raise
    with ctx.store.write() as conn:
        records.update(conn, volume_id, attach_state="attached")
        row = records.get(conn, volume_id)
    return records.attachment(row)


def detach_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    ebs.storage(rt)
    volume_id = params["VolumeId"]
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, volume_id)
        if not row.instance_id:
            raise records.incorrect_state(f"Volume '{volume_id}' is in the 'available' state.")
        for name, want in (("InstanceId", row.instance_id), ("Device", row.device)):
            if params.get(name) and params[name] != want:
                raise errors.error("InvalidAttachment.NotFound", f"Volume '{volume_id}' is not attached to "
                                   f"{params.get('InstanceId') or row.instance_id} at {params.get('Device') or row.device}")
        if row.attach_state == "detaching" and not params.get("Force"):
            return records.attachment(row)
        if _is_root_device(row.device or ""):
            instance = instances.get(conn, row.instance_id)
            if instance is not None and instance.state != "stopped":
                raise records.incorrect_state(f"Unable to detach root volume '{volume_id}' from instance "
                                              f"'{row.instance_id}': stop the instance first.")
        records.update(conn, volume_id, attach_state="detaching")
        row = records.get(conn, volume_id)
    rt.submit(volume_id, ebs.detach, rt, volume_id, row.instance_id, bool(params.get("Force")))
    return records.attachment(row)


def modify_volume(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    volume_id = params["VolumeId"]
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, volume_id)
        if row.state not in ("available", "in-use"):
            raise records.incorrect_state(f"The volume '{volume_id}' is not 'available' or 'in-use'.")
        mod = records.modification(row)
        if mod is not None and mod["ModificationState"] == "modifying":
            raise errors.error("IncorrectModificationState", f"Volume {volume_id} is already being modified.")
        size = params.get("Size", row.size)
        if size < row.size:
            raise errors.invalid_parameter(f"New size cannot be smaller than existing size of {row.size}GiB for "
                                           f"volume {volume_id}; volumes only grow.")
        vtype = params.get("VolumeType") or row.volume_type
        same = vtype == row.volume_type  # unchanged figures carry over; gp2's follow its size
        iops = params.get("Iops", row.iops if same and vtype != "gp2" else None)
        throughput = params.get("Throughput", row.throughput if same else None)
        vtype, iops, throughput = records.performance(vtype, size, iops, throughput)
        records.check_size(size, vtype)
        if (size, vtype, iops, throughput) == (row.size, row.volume_type, row.iops, row.throughput):
            raise errors.invalid_parameter(f"New configuration of volume {volume_id} is the same as the existing one.")
        records.start_modification(conn, row, size, vtype, iops, throughput)
        row = records.get(conn, volume_id)
    rt.submit(volume_id, ebs.grow, rt, volume_id)
    return {"VolumeModification": records.modification(row)}


MODIFICATION_FILTERS = filters.FilterSpec(fields={
    "volume-id": lambda m: m["VolumeId"],
    "modification-state": lambda m: m["ModificationState"],
    "target-size": lambda m: m["TargetSize"],
    "original-size": lambda m: m["OriginalSize"],
    "target-volume-type": lambda m: m["TargetVolumeType"],
    "original-volume-type": lambda m: m["OriginalVolumeType"],
    "start-time": lambda m: m["StartTime"],
})


def describe_volumes_modifications(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    chosen = _selected(ctx, params)
    mods = [m for m in (records.modification(x.row) for x in chosen) if m is not None]
    if params.get("VolumeIds"):
        without = [x.row.id for x in chosen if records.modification(x.row) is None]
        if without:
            raise errors.error("InvalidVolumeModification.NotFound",
                               f"Modification for volume '{without[0]}' does not exist.")
    kept = filters.apply(MODIFICATION_FILTERS, mods, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda m: m["VolumeId"], minimum=1, maximum=500)
    return {"VolumesModifications": page, "NextToken": token}


def _status(x: filters.Tagged) -> dict[str, Any]:
    state = x.row.state
    verdict = {"error": "impaired", "creating": "insufficient-data"}.get(state, "ok")
    io = {"ok": "passed", "impaired": "failed"}.get(verdict, "insufficient-data")
    return {"VolumeId": x.row.id, "AvailabilityZone": x.row.availability_zone, "Actions": [], "Events": [],
            "VolumeStatus": {"Status": verdict, "Details": [{"Name": "io-enabled", "Status": io},
                                                            {"Name": "io-performance", "Status": "not-applicable"}]}}


STATUS_FILTERS = filters.FilterSpec(fields={
    "volume-id": lambda s: s["VolumeId"],
    "availability-zone": lambda s: s["AvailabilityZone"],
    "volume-status.status": lambda s: s["VolumeStatus"]["Status"],
    "volume-status.details-name": lambda s: [d["Name"] for d in s["VolumeStatus"]["Details"]],
    "volume-status.details-status": lambda s: [d["Status"] for d in s["VolumeStatus"]["Details"]],
}, never=frozenset({"action.code", "action.description", "action.event-id", "event.description",
                    "event.event-id", "event.event-type", "event.not-after", "event.not-before"}))


def describe_volume_status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    kept = filters.apply(STATUS_FILTERS, [_status(x) for x in _selected(ctx, params)], params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda s: s["VolumeId"], minimum=5, maximum=1000)
    return {"VolumeStatuses": page, "NextToken": token}


def describe_volume_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["Attribute"]
    with ctx.store.read() as conn:
        row = records.owned(conn, ctx.account_id, params["VolumeId"])
    if attribute == "autoEnableIO":
        return {"VolumeId": row.id, "AutoEnableIO": {"Value": bool(row.auto_enable_io)}}
    if attribute == "productCodes":
        return {"VolumeId": row.id, "ProductCodes": []}
    raise errors.invalid_value(attribute, "Attribute", "Valid values are autoEnableIO, productCodes.")


def modify_volume_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    value = (params.get("AutoEnableIO") or {}).get("Value")
    if value is None:
        raise errors.missing_parameter("AutoEnableIO")
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, params["VolumeId"])
        records.update(conn, row.id, auto_enable_io=bool(value))
    return {}
