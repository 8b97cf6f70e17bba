"""DescribeInstanceAttribute, ModifyInstanceAttribute, ModifyInstanceMetadataOptions, GetConsoleOutput."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa

from silvereye.compute import ComputeError, InstanceNotFound
from silvereye.services.ec2 import controller, errors, firewall
from silvereye.services.ec2.models import images, launch, security_groups, volumes, zones
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models.common import dumps, loads, now
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.ec2.tables import instances as t
from silvereye.services.gateway.context import RequestContext


def _value(v: Any) -> dict[str, Any]:
    return {"Value": v} if v is not None else {}


READERS = {
    "instanceType": lambda row, root: {"InstanceType": _value(row.instance_type)},
    "kernel": lambda row, root: {"KernelId": _value(row.kernel_id)},
    "ramdisk": lambda row, root: {"RamdiskId": _value(row.ramdisk_id)},
    "userData": lambda row, root: {"UserData": _value(base64.b64encode(row.user_data).decode() if row.user_data else None)},
    "disableApiTermination": lambda row, root: {"DisableApiTermination": {"Value": bool(row.disable_api_termination)}},
    "disableApiStop": lambda row, root: {"DisableApiStop": {"Value": bool(row.disable_api_stop)}},
    "instanceInitiatedShutdownBehavior": lambda row, root: {"InstanceInitiatedShutdownBehavior": _value(row.shutdown_behavior)},
    "rootDeviceName": lambda row, root: {"RootDeviceName": _value(root)},
    "blockDeviceMapping": lambda row, root: {"BlockDeviceMappings": []},  # filled from the volumes in describe
    "productCodes": lambda row, root: {"ProductCodes": []},
    "sourceDestCheck": lambda row, root: {"SourceDestCheck": {"Value": True}},
    "groupSet": lambda row, root: {"Groups": loads(row.security_groups, [])},
    "ebsOptimized": lambda row, root: {"EbsOptimized": {"Value": False}},
    "sriovNetSupport": lambda row, root: {"SriovNetSupport": {}},
    "enaSupport": lambda row, root: {"EnaSupport": {"Value": False}},
    "enclaveOptions": lambda row, root: {"EnclaveOptions": {"Enabled": False}},
}


def describe_instance_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["Attribute"]
    if attribute not in READERS:
        raise errors.invalid_value(attribute, "Attribute", f"Valid values are {', '.join(READERS)}.")
    with ctx.store.read() as conn:
        row = records.owned(conn, ctx.account_id, [params["InstanceId"]])[0]
        image = conn.execute(sa.select(images.im.c.root_device_name).where(images.im.c.id == row.image_id)).first()
        found = READERS[attribute](row, image.root_device_name if image else None)
        if attribute == "blockDeviceMapping":
            found["BlockDeviceMappings"] = volumes.block_device_mappings(volumes.attached_to(conn, [row.id]).get(row.id, []))
    return {"InstanceId": row.id, **found}


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise errors.invalid_value(value, name, "Expected true or false.")


def _requested(params: dict[str, Any]) -> tuple[str, Any]:
    """The one attribute a ModifyInstanceAttribute request changes, in either of EC2's two forms."""
    structured = {
        "InstanceType": "instanceType", "UserData": "userData", "DisableApiTermination": "disableApiTermination",
        "DisableApiStop": "disableApiStop", "InstanceInitiatedShutdownBehavior": "instanceInitiatedShutdownBehavior",
        "Kernel": "kernel", "Ramdisk": "ramdisk", "SourceDestCheck": "sourceDestCheck", "EbsOptimized": "ebsOptimized",
        "EnaSupport": "enaSupport", "SriovNetSupport": "sriovNetSupport", "EnclaveOptions": "enclaveOptions",
    }
    chosen = [(name, params[member]) for member, name in structured.items() if params.get(member) is not None]
    if params.get("Groups"):
        chosen.append(("groupSet", params["Groups"]))
    if params.get("BlockDeviceMappings"):
        chosen.append(("blockDeviceMapping", params["BlockDeviceMappings"]))
    if params.get("Attribute"):
        chosen.append((params["Attribute"], {"Value": params.get("Value")}))
    if len(chosen) != 1:
        raise errors.combination("ModifyInstanceAttribute changes exactly one attribute per request")
    return chosen[0]


def modify_instance_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    name, payload = _requested(params)
    value = payload.get("Value") if isinstance(payload, dict) else payload
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, [params["InstanceId"]], include_terminated=False)[0]
        changes: dict[str, Any] = {}
        if name == "instanceType":
            itype = zones.check_instance_type(value)
            if row.state != "stopped":
                raise errors.incorrect_state(row.id, row.state, "modified (instanceType needs it stopped)")
            try:
                controller.change_type(rt, row.id, itype.name)
            except InstanceNotFound:
                raise errors.incorrect_state(row.id, row.state, "modified") from None
            changes["instance_type"] = itype.name
        elif name == "userData":
            if row.state != "stopped":
                raise errors.incorrect_state(row.id, row.state, "modified (userData needs it stopped)")
            data = value if isinstance(value, (bytes, bytearray)) else _decode(value)
            if len(data) > launch.USER_DATA_MAX:
                raise errors.invalid_parameter(f"User data is limited to {launch.USER_DATA_MAX} bytes")
            changes["user_data"] = bytes(data) or None
        elif name == "disableApiTermination":
            changes["disable_api_termination"] = _bool(value, "DisableApiTermination")
        elif name == "disableApiStop":
            changes["disable_api_stop"] = _bool(value, "DisableApiStop")
        elif name == "instanceInitiatedShutdownBehavior":
            if value not in ("stop", "terminate"):
                raise errors.invalid_value(value, "InstanceInitiatedShutdownBehavior", "Use stop or terminate.")
            changes["shutdown_behavior"] = value
        elif name == "groupSet":
            _change_groups(ctx, conn, row, list(value))
        elif name == "blockDeviceMapping":
            volumes.set_delete_on_termination(conn, row.id, list(value))
        elif name == "sourceDestCheck" and _bool(value, "SourceDestCheck"):
            pass  # already so: instances only send and receive as themselves
        elif name in ("ebsOptimized", "enaSupport") and not _bool(value, name):
            pass  # already off
        else:
            raise errors.unsupported(f"Changing {name} is not supported on silvereye instances")
        if changes:
            conn.execute(sa.update(t).where(t.c.id == row.id).values(**changes))
    return {}


def _change_groups(ctx: RequestContext, conn: sa.Connection, row: Any, group_ids: list[str]) -> None:
    """Move an instance to other groups; a running one changes in the firewall at once (rolled back with
    the record if the firewall refuses)."""
    groups = security_groups.resolve(conn, ctx.account_id, ctx.config.region, None, group_ids)
    conn.execute(sa.update(t).where(t.c.id == row.id).values(security_groups=dumps(groups)))
    rt = runtime_for(ctx.store)
    fw = firewall.firewall(rt)
    before = fw.ruleset()
    try:
        firewall.place_instance(conn, fw, row, ctx.config.region, [g["GroupId"] for g in groups])
    except ComputeError as e:
        if fw.ruleset() != before:
            firewall.reload(rt, fw)
        raise firewall.failure(e) from None


def _decode(value: Any) -> bytes:
    if value in (None, ""):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return str(value).encode()  # the CLI's --value form sends the text itself


def modify_instance_metadata_options(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in params.items() if k in ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint",
                                                        "HttpProtocolIpv6", "InstanceMetadataTags")}
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, [params["InstanceId"]], include_terminated=False)[0]
        current = {"HttpTokens": row.http_tokens, "HttpPutResponseHopLimit": row.http_hop_limit,
                   "HttpEndpoint": row.http_endpoint, "InstanceMetadataTags": row.metadata_tags}
        values = launch.check_metadata_options({**current, **options})
        conn.execute(sa.update(t).where(t.c.id == row.id).values(**values))
    return {"InstanceId": row.id, "InstanceMetadataOptions": {
        "State": "applied", "HttpTokens": values["http_tokens"], "HttpPutResponseHopLimit": values["http_hop_limit"],
        "HttpEndpoint": values["http_endpoint"], "HttpProtocolIpv6": "disabled",
        "InstanceMetadataTags": values["metadata_tags"]}}


def get_console_output(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The latest 64 KiB of the serial console (across reboots), base64 as EC2 sends it."""
    with ctx.store.read() as conn:
        row = records.owned(conn, ctx.account_id, [params["InstanceId"]])[0]
    out: dict[str, Any] = {"InstanceId": row.id, "Timestamp": now()}
    if row.state in ("terminated", "pending") and not row.node:
        return out
    try:
        data = runtime_for(ctx.store).driver.console_output(row.id)
    except (InstanceNotFound, ComputeError):
        return out
    if data:
        out["Output"] = base64.b64encode(data).decode()
    return out
