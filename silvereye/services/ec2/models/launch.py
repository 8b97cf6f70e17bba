"""A RunInstances request, checked and resolved into a :class:`LaunchPlan` before anything is written.

Every reference is resolved the way EC2 resolves it (image visible to the
account and available, key pair of the account, groups of the default VPC,
zone or subnet of this region, instance profile of the account), and every
value checked with EC2's error codes. Parameters this cloud cannot honour
are refused with ``Unsupported`` rather than silently dropped; settings
that only matter to AWS's billing (credit specification, capacity
reservation preference) are accepted and have no effect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from silvereye.compute.instance_types import InstanceType
from silvereye.services.ec2 import errors
from silvereye.services.ec2.models import images, key_pairs, security_groups, tags, vpc, zones
from silvereye.services.gateway.context import RequestContext

USER_DATA_MAX = 16 * 1024
MAX_PER_REQUEST = 100
HOP_LIMIT_MAX = 64

# Members that ask for something silvereye does not do: refused, never ignored.
UNSUPPORTED = {
    "LaunchTemplate": "launch templates",
    "InstanceMarketOptions": "spot instances",
    "Ipv6AddressCount": "IPv6",
    "Ipv6Addresses": "IPv6",
    "EnablePrimaryIpv6": "IPv6",
    "ElasticGpuSpecification": "elastic GPUs",
    "ElasticInferenceAccelerators": "elastic inference accelerators",
    "LicenseSpecifications": "license configurations",
    "SecondaryInterfaces": "secondary network interfaces",
    "PrivateIpAddress": "choosing the private address",
}


@dataclass
class LaunchPlan:
    image: Any
    kernel_id: str | None
    ramdisk_id: str | None
    instance_type: InstanceType
    zone: str
    min_count: int
    max_count: int
    key_name: str | None = None
    public_key: str | None = None
    user_data: bytes | None = None
    groups: list[dict[str, str]] = field(default_factory=list)
    instance_tags: list[tuple[str, str]] = field(default_factory=list)
    client_token: str | None = None
    request_hash: str = ""
    disable_api_termination: bool = False
    disable_api_stop: bool = False
    shutdown_behavior: str = "stop"
    profile_arn: str | None = None
    profile_id: str | None = None
    role_arn: str | None = None
    http_tokens: str = "optional"
    http_hop_limit: int = 1
    http_endpoint: str = "enabled"
    metadata_tags: str = "disabled"
    block_devices: Any = None  # the volumes BlockDeviceMappings asks for (launch_volumes.Wanted)


def request_hash(params: dict[str, Any]) -> str:
    """What makes two requests with one ClientToken the same request."""
    relevant = {k: v for k, v in params.items() if k not in ("ClientToken", "DryRun")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def _refuse_unsupported(params: dict[str, Any]) -> None:
    for member, what in UNSUPPORTED.items():
        if params.get(member):
            raise errors.unsupported(f"{member}: silvereye does not offer {what}.")
    if (params.get("Monitoring") or {}).get("Enabled"):
        raise errors.unsupported("Monitoring: detailed monitoring is not offered yet (CloudWatch comes later).")
    if params.get("EbsOptimized"):
        raise errors.unsupported("EbsOptimized: instances have no EBS-optimized mode.")
    if (params.get("HibernationOptions") or {}).get("Configured"):
        raise errors.unsupported("HibernationOptions: instances cannot hibernate.")
    if (params.get("EnclaveOptions") or {}).get("Enabled"):
        raise errors.unsupported("EnclaveOptions: there are no Nitro enclaves here.")
    placement = params.get("Placement") or {}
    for member in ("GroupName", "GroupId", "HostId", "HostResourceGroupArn", "PartitionNumber", "SpreadDomain"):
        if placement.get(member):
            raise errors.unsupported(f"Placement.{member}: placement groups and dedicated hosts are not offered.")
    if placement.get("Tenancy") not in (None, "default"):
        raise errors.unsupported("Placement.Tenancy: only default tenancy is offered.")


def _counts(params: dict[str, Any]) -> tuple[int, int]:
    lo, hi = params["MinCount"], params["MaxCount"]
    if lo < 1:
        raise errors.invalid_parameter(f"Value ({lo}) for parameter minCount is invalid. Expecting a value greater than 0.")
    if hi < lo:
        raise errors.invalid_parameter(
            f"Value ({lo}) for parameter minCount is invalid. Expecting a value less than or equal to maxCount.")
    if lo > MAX_PER_REQUEST:
        raise errors.error("InstanceLimitExceeded",
                           f"You have requested more instances ({lo}) than one request may launch ({MAX_PER_REQUEST}).")
    return lo, min(hi, MAX_PER_REQUEST)


def _user_data(params: dict[str, Any]) -> bytes | None:
    text = params.get("UserData")
    if not text:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.error("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.") from None
    if len(data) > USER_DATA_MAX:
        raise errors.invalid_parameter(f"User data is limited to {USER_DATA_MAX} bytes")
    return data


def _zone(ctx: RequestContext, params: dict[str, Any]) -> str:
    cfg = ctx.config
    placement = params.get("Placement") or {}
    asked = placement.get("AvailabilityZone")
    if placement.get("AvailabilityZoneId"):
        by_id = {vpc.zone_id(cfg, z): z for z in cfg.availability_zones}
        if placement["AvailabilityZoneId"] not in by_id:
            raise errors.invalid_parameter(f"Invalid availability zone id: [{placement['AvailabilityZoneId']}]")
        asked = asked or by_id[placement["AvailabilityZoneId"]]
    subnet = params.get("SubnetId")
    interfaces = params.get("NetworkInterfaces") or []
    if interfaces:
        if len(interfaces) > 1 or (interfaces[0].get("DeviceIndex") or 0) != 0 or interfaces[0].get("NetworkInterfaceId"):
            raise errors.unsupported("NetworkInterfaces: an instance has one interface, device index 0, made at launch.")
        if interfaces[0].get("AssociatePublicIpAddress"):
            raise errors.unsupported("AssociatePublicIpAddress: public addresses are elastic IPs here (AssociateAddress).")
        subnet = subnet or interfaces[0].get("SubnetId")
    if subnet:
        subnet_zone = vpc.zone_of_subnet(ctx.account_id, cfg, subnet)
        if asked and asked != subnet_zone:
            raise errors.invalid_parameter(
                f"Value ({asked}) for parameter availabilityZone is invalid. Subnet {subnet} is in Availability "
                f"Zone {subnet_zone}")
        return subnet_zone
    return zones.check_zone(cfg, asked)


def _groups(conn: sa.Connection, ctx: RequestContext, params: dict[str, Any]) -> list[dict[str, str]]:
    ids = list(params.get("SecurityGroupIds") or [])
    for interface in params.get("NetworkInterfaces") or []:
        ids += interface.get("Groups") or []
    return security_groups.resolve(conn, ctx.account_id, ctx.config.region, params.get("SecurityGroups"), ids)


def _metadata_options(plan: LaunchPlan, options: dict[str, Any]) -> None:
    plan.http_tokens = options.get("HttpTokens") or plan.http_tokens
    plan.http_endpoint = options.get("HttpEndpoint") or plan.http_endpoint
    plan.metadata_tags = options.get("InstanceMetadataTags") or plan.metadata_tags
    hop = options.get("HttpPutResponseHopLimit")
    if hop is not None:
        if not 1 <= hop <= HOP_LIMIT_MAX:
            raise errors.invalid_value(hop, "HttpPutResponseHopLimit", f"It must be between 1 and {HOP_LIMIT_MAX}.")
        plan.http_hop_limit = hop
    if options.get("HttpProtocolIpv6") == "enabled":
        raise errors.unsupported("HttpProtocolIpv6: the metadata service is reached over IPv4 only.")


def check_metadata_options(options: dict[str, Any]) -> dict[str, Any]:
    """ModifyInstanceMetadataOptions' values, checked as RunInstances checks them."""
    plan = LaunchPlan(image=None, kernel_id=None, ramdisk_id=None, instance_type=None, zone="",  # type: ignore[arg-type]
                      min_count=1, max_count=1)
    _metadata_options(plan, options)
    return {"http_tokens": plan.http_tokens, "http_hop_limit": plan.http_hop_limit,
            "http_endpoint": plan.http_endpoint, "metadata_tags": plan.metadata_tags}


def _profile(conn: sa.Connection, ctx: RequestContext, spec: dict[str, Any]) -> tuple[str, str, str | None]:
    """(profile ARN, profile id, role ARN) of the account's instance profile named by ARN or name."""
    from silvereye.services.iam import schema

    arn, name = spec.get("Arn"), spec.get("Name")
    if arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[4] != ctx.account_id or not parts[5].startswith("instance-profile/"):
            raise errors.invalid_value(arn, "iamInstanceProfile.arn", "Invalid IAM Instance Profile ARN")
        name = parts[5].rsplit("/", 1)[-1]
    if not name:
        raise errors.missing_parameter("IamInstanceProfile.Name")
    p, r = schema.instance_profiles, schema.roles
    row = conn.execute(sa.select(p).where(p.c.account_id == ctx.account_id, p.c.name_key == name.lower())).first()
    if row is None:
        raise errors.invalid_value(name, "iamInstanceProfile.name", "Invalid IAM Instance Profile name")
    profile_arn = f"arn:aws:iam::{ctx.account_id}:instance-profile{row.path}{row.name}"
    role = conn.execute(sa.select(r).where(r.c.id == row.role_id)).first() if row.role_id else None
    role_arn = f"arn:aws:iam::{ctx.account_id}:role{role.path}{role.name}" if role is not None else None
    return profile_arn, row.id, role_arn


def plan(conn: sa.Connection, ctx: RequestContext, params: dict[str, Any]) -> LaunchPlan:
    _refuse_unsupported(params)
    lo, hi = _counts(params)
    image_id = params.get("ImageId")
    if not image_id:
        raise errors.missing_parameter("ImageId")
    image = images.visible(conn, image_id, ctx.account_id)
    if image.kind != "machine":
        raise errors.invalid_value(image_id, "ImageId", f"{image_id} is a {image.kind} image; launch a machine image.")
    if image.state != "available":
        raise errors.error("InvalidAMIID.Unavailable", f"The image id '[{image_id}]' is not available (it is {image.state})")
    kernel_id = params.get("KernelId") or image.kernel_id
    ramdisk_id = params.get("RamdiskId") or image.ramdisk_id
    images.check_parts(conn, ctx.account_id, kernel_id, ramdisk_id)
    result = LaunchPlan(
        image=image, kernel_id=kernel_id, ramdisk_id=ramdisk_id,
        instance_type=zones.check_instance_type(params.get("InstanceType")),
        zone=_zone(ctx, params), min_count=lo, max_count=hi, user_data=_user_data(params),
        groups=_groups(conn, ctx, params), client_token=params.get("ClientToken"), request_hash=request_hash(params),
        disable_api_termination=bool(params.get("DisableApiTermination")),
        disable_api_stop=bool(params.get("DisableApiStop")),
        shutdown_behavior=params.get("InstanceInitiatedShutdownBehavior") or "stop",
    )
    if result.shutdown_behavior not in ("stop", "terminate"):
        raise errors.invalid_value(result.shutdown_behavior, "InstanceInitiatedShutdownBehavior", "Use stop or terminate.")
    if params.get("KeyName"):
        key = key_pairs.find(conn, ctx.account_id, params["KeyName"])
        if key is None:
            raise errors.key_pair_not_found(params["KeyName"])
        result.key_name, result.public_key = key.name, f"{key.public_key} {key.name}"
    specs = tags.specifications(params, {"instance": "instance"})
    result.instance_tags = specs.get("instance", [])
    if params.get("IamInstanceProfile"):
        result.profile_arn, result.profile_id, result.role_arn = _profile(conn, ctx, params["IamInstanceProfile"])
    _metadata_options(result, params.get("MetadataOptions") or {})
    return result
