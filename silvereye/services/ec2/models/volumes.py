"""EBS volume records: what the API promised about each volume, kept true to the qcow2 files.

A volume row is written before its file exists (``creating``) and marked
``deleting`` before its file is removed, so a crash between record and
file leaves a state that says what was going on, which :func:`settle`
finishes at the next start (or the housekeeping round): a ``creating``
volume is made again, a ``deleting`` one removed, and attachments are read
back from the disk layer (libvirt), which is the ground truth for where a
volume is plugged in. A volume whose file vanished is ``error``.

Sizes are whole GiB, as EC2 counts them. The volume types EC2 offers are
accepted and reported with their IOPS and throughput; every volume here is
the same local qcow2 file underneath, so the figures are stored, not
enforced.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors
from silvereye.services.ec2.models.common import check_id, dumps, loads, now, utc
from silvereye.services.ec2.tables import Account, ResourceId, When
from silvereye.store import create_tables, metadata, register_migrations

GIB = 1 << 30
MAX_GIB = 16384
TYPES = ("standard", "gp2", "gp3", "io1", "io2", "st1", "sc1")
LIVE = ("creating", "available", "in-use", "error")  # the states Describe shows

volumes = sa.Table(
    "ec2_volumes",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("availability_zone", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),  # GiB
    sa.Column("snapshot_id", ResourceId, nullable=True),
    sa.Column("volume_type", sa.String(16), nullable=False),
    sa.Column("iops", sa.Integer, nullable=True),
    sa.Column("throughput", sa.Integer, nullable=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),  # creating|available|in-use|deleting|error
    sa.Column("error_message", sa.String(512), nullable=True),
    sa.Column("created", When, nullable=False),
    sa.Column("auto_enable_io", sa.Boolean, nullable=False, default=False),
    # The attachment (one: no multi-attach).
    sa.Column("instance_id", ResourceId, nullable=True, index=True),
    sa.Column("device", sa.String(32), nullable=True),  # as the client spelled it
    sa.Column("attach_state", sa.String(16), nullable=True),  # attaching|attached|detaching
    sa.Column("attach_time", When, nullable=True),
    sa.Column("delete_on_termination", sa.Boolean, nullable=False, default=False),
    # The last ModifyVolume (JSON: state, original and target size/type/iops/throughput, times).
    sa.Column("modification", sa.Text, nullable=True),
)

register_migrations("ec2_volumes", [create_tables(volumes)])
v = volumes


def check_volume_id(value: str) -> str:
    return check_id(value, ("vol",), "InvalidVolumeID.Malformed")


def not_found(volume_id: str) -> Exception:
    return errors.error("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.")


def incorrect_state(message: str) -> Exception:
    return errors.error("IncorrectState", message)


# -- the parameters of CreateVolume and ModifyVolume ---------------------------------------------


def check_size(size: Any, volume_type: str) -> int:
    low = {"standard": 1, "io1": 4, "io2": 4, "st1": 125, "sc1": 125}.get(volume_type, 1)
    high = 1024 if volume_type == "standard" else MAX_GIB
    if not isinstance(size, int) or isinstance(size, bool) or not low <= size <= high:
        raise errors.invalid_parameter(f"Volume of {size}GiB is not valid for {volume_type}: "
                                       f"the size must be between {low} and {high} GiB.")
    return size


def performance(volume_type: str | None, size: int, iops: int | None, throughput: int | None) -> tuple[str, int | None, int | None]:
    """(type, iops, throughput) as EC2 reports them, checked as EC2 checks them."""
    vtype = volume_type or "gp2"
    if vtype not in TYPES:
        raise errors.invalid_value(vtype, "volumeType", f"Valid values are {', '.join(TYPES)}.")
    if iops is not None and vtype not in ("gp3", "io1", "io2"):
        raise errors.combination(f"The parameter iops is not supported for {vtype} volumes.")
    if throughput is not None and vtype != "gp3":
        raise errors.combination(f"The parameter throughput is not supported for {vtype} volumes.")
    if vtype in ("io1", "io2"):
        if iops is None:
            raise errors.missing_parameter("iops")
        if not 100 <= iops <= 64000:
            raise errors.invalid_parameter(f"Volume iops of {iops} is not valid: it must be between 100 and 64000.")
        return vtype, iops, None
    if vtype == "gp3":
        if iops is not None and not 3000 <= iops <= 16000:
            raise errors.invalid_parameter(f"Volume iops of {iops} is not valid for gp3: it must be between 3000 and 16000.")
        if throughput is not None and not 125 <= throughput <= 1000:
            raise errors.invalid_parameter(f"Throughput of {throughput} MiB/s is not valid: it must be between 125 and 1000.")
        return vtype, iops or 3000, throughput or 125
    if vtype == "gp2":
        return vtype, min(16000, max(100, 3 * size)), None
    return vtype, None, None


# -- reading -----------------------------------------------------------------------------


def get(conn: sa.Connection, volume_id: str) -> Any | None:
    return conn.execute(sa.select(v).where(v.c.id == volume_id)).first()


def owned(conn: sa.Connection, account_id: str, volume_id: str) -> Any:
    """The account's live volume; InvalidVolume.NotFound otherwise (malformed ids: Malformed)."""
    row = get(conn, check_volume_id(volume_id))
    if row is None or row.account_id != account_id or row.state not in LIVE:
        raise not_found(volume_id)
    return row


def of_account(conn: sa.Connection, account_id: str) -> list[Any]:
    return list(conn.execute(sa.select(v).where(v.c.account_id == account_id, v.c.state.in_(LIVE)).order_by(v.c.id)))


def attached_to(conn: sa.Connection, instance_ids: list[str]) -> dict[str, list[Any]]:
    """instance id -> its volumes, by device."""
    out: dict[str, list[Any]] = {}
    if instance_ids:
        for row in conn.execute(sa.select(v).where(v.c.instance_id.in_(instance_ids)).order_by(v.c.device)):
            out.setdefault(row.instance_id, []).append(row)
    return out


def attachment(row: Any) -> dict[str, Any]:
    return {"VolumeId": row.id, "InstanceId": row.instance_id, "Device": row.device, "State": row.attach_state,
            "AttachTime": utc(row.attach_time), "DeleteOnTermination": bool(row.delete_on_termination)}


def block_device_mappings(rows: list[Any]) -> list[dict[str, Any]]:
    """DescribeInstances' BlockDeviceMappings of an instance's attached volumes."""
    return [{"DeviceName": r.device, "Ebs": {"VolumeId": r.id, "Status": r.attach_state, "AttachTime": utc(r.attach_time),
                                              "DeleteOnTermination": bool(r.delete_on_termination)}} for r in rows]


def shape(row: Any, tag_map: dict[str, str] | None) -> dict[str, Any]:
    from silvereye.services.ec2.models.tags import tag_list

    out: dict[str, Any] = {
        "VolumeId": row.id, "Size": row.size, "SnapshotId": row.snapshot_id or "",
        "AvailabilityZone": row.availability_zone, "State": row.state, "CreateTime": utc(row.created),
        "Attachments": [attachment(row)] if row.instance_id else [], "VolumeType": row.volume_type,
        "Encrypted": False, "MultiAttachEnabled": False, "Tags": tag_list(tag_map),
    }
    if row.iops is not None:
        out["Iops"] = row.iops
    if row.throughput is not None:
        out["Throughput"] = row.throughput
    return out


def modification(row: Any) -> dict[str, Any] | None:
    mod = loads(row.modification)
    if not mod:
        return None
    out = {"VolumeId": row.id, "ModificationState": mod["state"], "Progress": mod.get("progress", 0),
           "StartTime": mod["start"], "TargetSize": mod["target"]["size"], "OriginalSize": mod["original"]["size"],
           "TargetVolumeType": mod["target"]["type"], "OriginalVolumeType": mod["original"]["type"]}
    if mod.get("end"):
        out["EndTime"] = mod["end"]
    if mod.get("message"):
        out["StatusMessage"] = mod["message"]
    for key, name in (("iops", "Iops"), ("throughput", "Throughput")):
        if mod["target"].get(key) is not None:
            out["Target" + name] = mod["target"][key]
        if mod["original"].get(key) is not None:
            out["Original" + name] = mod["original"][key]
    return out


# -- writing -------------------------------------------------------------------------------


def insert(conn: sa.Connection, volume_id: str, account_id: str, zone: str, size: int, volume_type: str,
           iops: int | None, throughput: int | None, snapshot_id: str | None) -> Any:
    conn.execute(sa.insert(v).values(id=volume_id, account_id=account_id, availability_zone=zone, size=size,
                                     snapshot_id=snapshot_id, volume_type=volume_type, iops=iops, throughput=throughput,
                                     state="creating", created=now(), auto_enable_io=False, delete_on_termination=False))
    return get(conn, volume_id)


def update(conn: sa.Connection, volume_id: str, **values: Any) -> None:
    conn.execute(sa.update(v).where(v.c.id == volume_id).values(**values))


def mark_attached(conn: sa.Connection, volume_id: str, instance_id: str, device: str, state: str = "attached", *,
                  delete_on_termination: bool = False) -> None:
    update(conn, volume_id, state="in-use", instance_id=instance_id, device=device, attach_state=state,
           attach_time=now(), delete_on_termination=delete_on_termination)


def mark_detached(conn: sa.Connection, volume_id: str) -> None:
    update(conn, volume_id, state="available", instance_id=None, device=None, attach_state=None, attach_time=None,
           delete_on_termination=False)


def start_modification(conn: sa.Connection, row: Any, size: int, volume_type: str, iops: int | None,
                       throughput: int | None) -> None:
    mod = {"state": "modifying", "progress": 0, "start": now().isoformat(),
           "original": {"size": row.size, "type": row.volume_type, "iops": row.iops, "throughput": row.throughput},
           "target": {"size": size, "type": volume_type, "iops": iops, "throughput": throughput}}
    update(conn, row.id, modification=dumps(mod))


def finish_modification(conn: sa.Connection, volume_id: str, error: str | None = None) -> None:
    """The modification is done: the volume takes its target figures, or it failed and keeps its own."""
    row = get(conn, volume_id)
    mod = loads(row.modification) if row is not None else None
    if not mod:
        return
    mod.update(state="failed" if error else "completed", progress=100, end=now().isoformat())
    values: dict[str, Any] = {}
    if error:
        mod["message"] = error
    else:
        target = mod["target"]
        values = dict(size=target["size"], volume_type=target["type"], iops=target["iops"], throughput=target["throughput"])
    update(conn, volume_id, modification=dumps(mod), **values)


def purge(conn: sa.Connection, account_id: str) -> None:
    """An account's volumes go to ``deleting``; housekeeping detaches them and removes their files."""
    conn.execute(sa.update(v).where(v.c.account_id == account_id, v.c.state != "deleting")
                 .values(state="deleting", delete_on_termination=True))


def count(conn: sa.Connection, account_id: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(v)
                        .where(v.c.account_id == account_id, v.c.state.in_(LIVE))).scalar_one()


def set_delete_on_termination(conn: sa.Connection, instance_id: str, mappings: list[dict[str, Any]]) -> None:
    """ModifyInstanceAttribute's BlockDeviceMappings: DeleteOnTermination of volumes attached to the instance."""
    attached = {r.device: r for r in attached_to(conn, [instance_id]).get(instance_id, [])}
    for mapping in mappings:
        device, ebs = mapping.get("DeviceName"), mapping.get("Ebs") or {}
        row = attached.get(device)
        if row is None:
            raise errors.invalid_parameter(f"The device '{device}' has no EBS volume attached to {instance_id}.")
        if mapping.get("NoDevice") is not None or mapping.get("VirtualName"):
            raise errors.unsupported("Only Ebs.DeleteOnTermination of an attached volume can be changed.")
        if ebs.get("VolumeId") not in (None, row.id):
            raise errors.invalid_parameter(f"The volume at {device} of {instance_id} is {row.id}, not {ebs['VolumeId']}.")
        if ebs.get("DeleteOnTermination") is not None:
            update(conn, row.id, delete_on_termination=bool(ebs["DeleteOnTermination"]))
