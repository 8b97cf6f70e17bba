"""CreateSnapshot, DescribeSnapshots, DeleteSnapshot, CopySnapshot, and the createVolumePermission
attribute (Describe/Modify/ResetSnapshotAttribute).

Taking and copying answer at once with the snapshot ``pending`` and run in
the background (:mod:`..snapshot_store`), its Progress moving to 100%.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from silvereye.services.ec2 import errors, filters, pagination, snapshot_store
from silvereye.services.ec2.models import snapshots as records
from silvereye.services.ec2.models import tags
from silvereye.services.ec2.models import volumes as volume_records
from silvereye.services.ec2.models.common import new_id
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext

RESOURCE_TYPE = "snapshot"
_ACCOUNT = re.compile(r"[0-9]{12}")


def _tag_specs(params: dict[str, Any]) -> list[tuple[str, str]]:
    return tags.specifications(params, {RESOURCE_TYPE: RESOURCE_TYPE}).get(RESOURCE_TYPE, [])


def _description(params: dict[str, Any]) -> str:
    text = params.get("Description") or ""
    if len(text) > 255:
        raise errors.invalid_parameter("The description of a snapshot is at most 255 characters.")
    return text


def create_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    pairs = _tag_specs(params)
    description = _description(params)
    snapshot_id = new_id("snap")
    with ctx.store.write() as conn:
        volume = volume_records.owned(conn, ctx.account_id, params["VolumeId"])
        if volume.state not in ("available", "in-use"):
            raise errors.error("IncorrectState", f"The volume '{volume.id}' is not 'available' or 'in-use'.")
        row = records.insert(conn, snapshot_id, ctx.account_id, volume.id, volume.size, description)
        tags.put(conn, ctx.account_id, snapshot_id, RESOURCE_TYPE, pairs)
    rt.submit(volume.id, snapshot_store.take, rt, snapshot_id)
    return records.shape(row, dict(pairs))


def copy_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    region = params.get("SourceRegion")
    if region != ctx.config.region:
        raise errors.invalid_parameter(f"Snapshots can only be copied within this cloud's region {ctx.config.region}; "
                                       f"SourceRegion {region!r} is not it.")
    if params.get("Encrypted") or params.get("KmsKeyId"):
        raise errors.unsupported("Encrypted snapshots are not offered by this cloud; copy with Encrypted false.")
    pairs = _tag_specs(params)
    description = _description(params)
    snapshot_id = new_id("snap")
    with ctx.store.write() as conn:
        source = records.readable(conn, ctx.account_id, params["SourceSnapshotId"])
        if source.state != "completed":
            raise errors.error("IncorrectState", f"Snapshot '{source.id}' is not 'completed'; copy it once it is.")
        records.insert(conn, snapshot_id, ctx.account_id, source.volume_id, source.volume_size,
                       description or f"Copied from {source.id}", source.id)
        tags.put(conn, ctx.account_id, snapshot_id, RESOURCE_TYPE, pairs)
    rt.submit(snapshot_id, snapshot_store.copy, rt, snapshot_id, source.id)
    return {"SnapshotId": snapshot_id, "Tags": tags.tag_list(dict(pairs))}


class _Snapshot(NamedTuple):
    row: Any
    tag_map: dict[str, str]
    grantees: set[str]


FILTERS = filters.FilterSpec(
    fields={
        "snapshot-id": lambda x: x.row.id,
        "volume-id": lambda x: x.row.volume_id,
        "volume-size": lambda x: x.row.volume_size,
        "status": lambda x: x.row.state,
        "progress": lambda x: f"{x.row.progress}%",
        "owner-id": lambda x: x.row.account_id,
        "description": lambda x: x.row.description or "",
        "start-time": lambda x: x.row.created,
        "encrypted": lambda x: False,
        "storage-tier": lambda x: "standard",
    },
    tags=lambda x: x.tag_map,
    never=frozenset({"owner-alias"}),
)


def _owners(ctx: RequestContext, values: list[str]) -> set[str]:
    out = set()
    for v in values:
        if v == "self":
            out.add(ctx.account_id)
        elif v == "amazon":
            continue  # no snapshot here belongs to the cloud itself
        elif _ACCOUNT.fullmatch(v):
            out.add(v)
        else:
            raise errors.invalid_value(v, "Owner", "Expected an account id, self or amazon.")
    return out


def _can_restore(x: _Snapshot, accounts: set[str]) -> bool:
    return x.row.account_id in accounts or bool(x.grantees & (accounts | {records.PUBLIC}))


def describe_snapshots(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = [records.check_snapshot_id(i) for i in params.get("SnapshotIds") or []]
    with ctx.store.read() as conn:
        rows = records.visible(conn, ctx.account_id)
        tag_maps = tags.of(conn, ctx.account_id, [r.id for r in rows])
        grants = records.grantees(conn, [r.id for r in rows])
    items = [_Snapshot(r, tag_maps.get(r.id, {}), grants.get(r.id, set())) for r in rows]
    if wanted:
        have = {x.row.id for x in items}
        missing = [i for i in wanted if i not in have]
        if missing:
            raise records.not_found(missing[0])
        items = [x for x in items if x.row.id in set(wanted)]
    if params.get("OwnerIds"):
        owners = _owners(ctx, params["OwnerIds"])
        items = [x for x in items if x.row.account_id in owners]
    if params.get("RestorableByUserIds"):
        users = _owners(ctx, [u for u in params["RestorableByUserIds"] if u != records.PUBLIC])
        public_only = records.PUBLIC in params["RestorableByUserIds"]
        items = [x for x in items if _can_restore(x, users) or (public_only and records.PUBLIC in x.grantees)]
    kept = filters.apply(FILTERS, items, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda x: x.row.id, minimum=5, maximum=1000)
    return {"Snapshots": [records.shape(x.row, x.tag_map) for x in page], "NextToken": token}


def delete_snapshot(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, params["SnapshotId"])
        user = records.used_by(conn, row.id)
        if user:
            raise errors.error("InvalidSnapshot.InUse", f"The snapshot {row.id} is currently in use by {user}")
        records.update(conn, row.id, state="deleting")
        records.revoke(conn, row.id)
    if row.state != "pending":  # a pending one is removed by its job when it ends
        rt.submit(row.id, snapshot_store.remove, rt, row.id)
    return {}


def _check_attribute(attribute: str | None) -> str:
    if attribute not in ("createVolumePermission", "productCodes"):
        raise errors.invalid_value(attribute, "Attribute", "Valid values are createVolumePermission, productCodes.")
    return attribute


def describe_snapshot_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = _check_attribute(params.get("Attribute"))
    with ctx.store.read() as conn:
        row = records.owned(conn, ctx.account_id, params["SnapshotId"])
        granted = sorted(records.grantees(conn, [row.id]).get(row.id, set()))
    if attribute == "productCodes":
        return {"SnapshotId": row.id, "ProductCodes": []}
    return {"SnapshotId": row.id, "CreateVolumePermissions": [
        {"Group": g} if g == records.PUBLIC else {"UserId": g} for g in granted]}


def _changes(params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(grantees to add, grantees to remove) from either form ModifySnapshotAttribute takes."""
    def grantees(items: list[dict[str, Any]]) -> list[str]:
        out = []
        for item in items or []:
            if item.get("Group") is not None:
                if item["Group"] != records.PUBLIC:
                    raise errors.invalid_value(item["Group"], "Group", "The only group is 'all'.")
                out.append(records.PUBLIC)
            elif item.get("UserId") is not None:
                out.append(item["UserId"])
        return out

    perm = params.get("CreateVolumePermission") or {}
    add, remove = grantees(perm.get("Add")), grantees(perm.get("Remove"))
    listed = [*params.get("UserIds", []), *params.get("GroupNames", [])]
    if listed:
        op = params.get("OperationType")
        if op not in ("add", "remove"):
            raise errors.missing_parameter("OperationType")
        listed = [*params.get("UserIds", []), *grantees([{"Group": g} for g in params.get("GroupNames", [])])]
        (add if op == "add" else remove).extend(listed)
    for grantee in add + remove:
        if grantee != records.PUBLIC and not _ACCOUNT.fullmatch(grantee):
            raise errors.invalid_value(grantee, "UserId", "Expected a 12-digit account id.")
    if not add and not remove:
        raise errors.missing_parameter("CreateVolumePermission")
    return add, remove


def modify_snapshot_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = _check_attribute(params.get("Attribute") or "createVolumePermission")
    if attribute != "createVolumePermission":
        raise errors.invalid_parameter("Only the createVolumePermission attribute of a snapshot can be modified.")
    add, remove = _changes(params)
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, params["SnapshotId"])
        for grantee in add:
            records.grant(conn, row, grantee)
        for grantee in remove:
            records.revoke(conn, row.id, grantee)
    return {}


def reset_snapshot_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if _check_attribute(params.get("Attribute")) != "createVolumePermission":
        raise errors.invalid_parameter("Only the createVolumePermission attribute of a snapshot can be reset.")
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, params["SnapshotId"])
        records.revoke(conn, row.id)
    return {}
