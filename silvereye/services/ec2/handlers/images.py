"""RegisterImage, DescribeImages, DeregisterImage, Describe/Modify/ResetImageAttribute, CreateImage."""

from __future__ import annotations

from typing import Any

from silvereye.services.ec2 import ebs_images, errors, image_builder, pagination
from silvereye.services.ec2.models import bundles, images, tags
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models.common import new_id
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext

RESOURCE_TYPE = "image"


def _machine_settings(params: dict[str, Any], manifest: bundles.Manifest | None) -> dict[str, Any]:
    architecture = params.get("Architecture") or (manifest.architecture if manifest else "x86_64")
    if architecture not in images.ARCHITECTURES:
        raise errors.invalid_value(architecture, "Architecture", "silvereye runs x86_64 images.")
    boot_mode = params.get("BootMode") or (manifest.boot_mode if manifest else None) or "legacy-bios"
    if boot_mode == "uefi-preferred":
        boot_mode = "uefi"
    if boot_mode not in images.BOOT_MODES:
        raise errors.invalid_value(boot_mode, "BootMode", "Valid values are legacy-bios and uefi.")
    for mapping in params.get("BlockDeviceMappings") or []:
        if mapping.get("Ebs") and params.get("ImageLocation"):
            raise errors.unsupported("EBS block device mappings with an ImageLocation are not supported; register "
                                     "an instance-store image from S3, or an EBS-backed one from a snapshot")
    return {
        "architecture": architecture,
        "boot_mode": boot_mode,
        "kernel_id": params.get("KernelId") or (manifest.kernel_id if manifest else None),
        "ramdisk_id": params.get("RamdiskId") or (manifest.ramdisk_id if manifest else None),
        "kernel_cmdline": manifest.kernel_cmdline if manifest else None,
        "root_device_name": params.get("RootDeviceName"),
    }


def register_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    location = params.get("ImageLocation")
    pairs = tags.specifications(params, {RESOURCE_TYPE: RESOURCE_TYPE}).get(RESOURCE_TYPE, [])
    if not location and ebs_images.wanted(params):
        return ebs_images.register_image(ctx, params, _machine_settings(params, None), pairs, RESOURCE_TYPE)
    if not location:
        raise errors.missing_parameter("ImageLocation")
    with ctx.store.read() as conn:
        images.check_name(conn, ctx.account_id, name)
    cache = runtime_for(ctx.store).driver.images
    fetched = bundles.fetch(ctx.store, ctx.config, cache, location, ctx.principal)
    manifest = fetched.manifest
    kind = manifest.kind if manifest else "machine"
    settings = _machine_settings(params, manifest) if kind == "machine" else {
        "architecture": params.get("Architecture") or (manifest.architecture if manifest else "x86_64")}
    with ctx.store.write() as conn:
        images.check_name(conn, ctx.account_id, name)
        if kind == "machine":
            images.check_parts(conn, ctx.account_id, settings["kernel_id"], settings["ramdisk_id"])
        image_id = images.insert(conn, ctx.account_id, images.NewImage(
            kind=kind, name=name, location=fetched.location, format=fetched.image.format,
            sha256=fetched.image.sha256, size=fetched.image.size, description=params.get("Description"),
            **settings))
        tags.put(conn, ctx.account_id, image_id, RESOURCE_TYPE, pairs)
    return {"ImageId": image_id}


def describe_images(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("ImageIds") and params.get("MaxResults") is not None:
        raise errors.combination("The parameter imageIds cannot be used with the parameter maxResults")
    with ctx.store.read() as conn:
        found = ebs_images.decorate(conn, images.describe(conn, ctx.account_id, params))
    page, token = pagination.page(found, params, key=lambda i: i["ImageId"], minimum=5, maximum=1000)
    return {"Images": page, "NextToken": token}


def deregister_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as conn:
        row = images.owned(conn, params["ImageId"], ctx.account_id)
        images.deregister(conn, row)
    return {"Return": True}


IMAGE_ATTRIBUTES = {
    "description": lambda conn, row: {"Description": {"Value": row.description} if row.description else {}},
    "kernel": lambda conn, row: {"KernelId": {"Value": row.kernel_id} if row.kernel_id else {}},
    "ramdisk": lambda conn, row: {"RamdiskId": {"Value": row.ramdisk_id} if row.ramdisk_id else {}},
    "launchPermission": lambda conn, row: {"LaunchPermissions": images.permissions(conn, row)},
    "productCodes": lambda conn, row: {"ProductCodes": []},
    "blockDeviceMapping": lambda conn, row: {"BlockDeviceMappings": ebs_images.mappings(conn, [row.id]).get(row.id, [])},
    "sriovNetSupport": lambda conn, row: {"SriovNetSupport": {}},
    "bootMode": lambda conn, row: {"BootMode": {"Value": row.boot_mode} if row.boot_mode else {}},
    "imdsSupport": lambda conn, row: {"ImdsSupport": {}},
    "deregistrationProtection": lambda conn, row: {"DeregistrationProtection": {"Value": "disabled"}},
}


def describe_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["Attribute"]
    if attribute not in IMAGE_ATTRIBUTES:
        raise errors.invalid_value(attribute, "Attribute", f"Valid values are {', '.join(IMAGE_ATTRIBUTES)}.")
    with ctx.store.read() as conn:
        row = (images.owned if attribute == "launchPermission" else images.visible)(conn, params["ImageId"], ctx.account_id)
        return {"ImageId": row.id, **IMAGE_ATTRIBUTES[attribute](conn, row)}


def _permission_changes(params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    if params.get("LaunchPermission"):
        lp = params["LaunchPermission"]
        return list(lp.get("Add") or []), list(lp.get("Remove") or [])
    operation = params.get("OperationType")
    if operation not in ("add", "remove"):
        raise errors.missing_parameter("OperationType")
    items = [{"Group": g} for g in params.get("UserGroups") or []] + [{"UserId": u} for u in params.get("UserIds") or []]
    if not items:
        raise errors.missing_parameter("UserId or UserGroup")
    return (items, []) if operation == "add" else ([], items)


def modify_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params.get("Attribute")
    if params.get("ProductCodes") or attribute == "productCodes":
        raise errors.unsupported("silvereye images have no product codes")
    if params.get("OrganizationArns") or params.get("OrganizationalUnitArns"):
        raise errors.unsupported("silvereye has no AWS Organizations: share images with account ids")
    with ctx.store.write() as conn:
        row = images.owned(conn, params["ImageId"], ctx.account_id)
        if params.get("Description") is not None or attribute == "description":
            value = (params.get("Description") or {}).get("Value", params.get("Value"))
            conn.execute(images.im.update().where(images.im.c.id == row.id).values(description=value or None))
        elif params.get("LaunchPermission") or attribute == "launchPermission" or params.get("UserIds") \
                or params.get("UserGroups"):
            add, remove = _permission_changes(params)
            images.change_permissions(conn, row, add, remove)
        else:
            raise errors.missing_parameter("LaunchPermission or Description")
    return {}


def reset_image_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params["Attribute"] != "launchPermission":
        raise errors.invalid_value(params["Attribute"], "Attribute", "Only launchPermission can be reset.")
    with ctx.store.write() as conn:
        images.reset_permissions(conn, images.owned(conn, params["ImageId"], ctx.account_id))
    return {}


def create_image(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A new image from an instance's root disk, made in the background (state pending -> available)."""
    rt = runtime_for(ctx.store)
    no_reboot = bool(params.get("NoReboot"))
    for mapping in params.get("BlockDeviceMappings") or []:
        if mapping.get("Ebs"):
            raise errors.unsupported("EBS block device mappings in CreateImage are not supported yet")
    pairs = tags.specifications(params, {RESOURCE_TYPE: RESOURCE_TYPE, "snapshot": "snapshot"}).get(RESOURCE_TYPE, [])
    with ctx.store.write() as conn:
        row = records.owned(conn, ctx.account_id, [params["InstanceId"]])[0]
        if row.state not in ("running", "stopped"):
            raise errors.incorrect_state(row.id, row.state, "imaged")
        source = images.get(conn, row.image_id) or conn.execute(
            images.im.select().where(images.im.c.id == row.image_id)).first()
        name = images.check_name(conn, ctx.account_id, params["Name"])
        image_id = new_id("ami")
        images.insert(conn, ctx.account_id, images.NewImage(
            kind="machine", name=name, location="", format="qcow2", sha256="", size=0, state="pending",
            description=params.get("Description"), kernel_id=row.kernel_id, ramdisk_id=row.ramdisk_id,
            kernel_cmdline=source.kernel_cmdline if source else None,
            root_device_name=source.root_device_name if source else None,
            boot_mode=source.boot_mode if source else None, source_instance_id=row.id), image_id=image_id)
        tags.put(conn, ctx.account_id, image_id, RESOURCE_TYPE, pairs)
        cycle = row.state == "running" and not no_reboot
        if cycle:
            records.transition(conn, row.id, "stopping", expect=("running",),
                               transition_reason=records.user_initiated())
    rt.submit(row.id, image_builder.build, rt, image_id, row.id, cycle)
    return {"ImageId": image_id}
