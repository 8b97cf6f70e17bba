"""Who may call which EC2 operation on which resource: IAM policies over EC2 ARNs.

Resource ARNs are AWS's: ``arn:aws:ec2:REGION:ACCOUNT:instance/i-...``,
``key-pair/NAME``, ``security-group/sg-...``, ``subnet/subnet-...``, and for
images ``arn:aws:ec2:REGION::image/ami-...`` with an empty account, since
who may launch an image is decided by its owner's launch permissions, not by
the ARN. Describe operations act on ``*`` (EC2 has no resource-level
permissions for them). RunInstances acts on everything it touches: the new
instances (``instance/*``), the image, the subnet, the groups and the key.

EC2 answers ``UnauthorizedOperation`` (403) where other services say
AccessDenied, and a request with ``DryRun`` that would be allowed answers
``DryRunOperation`` (412) without doing anything.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors
from silvereye.services.ec2.models import security_groups, vpc
from silvereye.services.ec2.models.tags import ID_PATTERN
from silvereye.services.ec2.tables import key_pairs
from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError

RESOURCE_TYPES = {
    "i": "instance", "ami": "image", "aki": "image", "ari": "image", "emi": "image", "eki": "image", "eri": "image",
    "key": "key-pair", "sg": "security-group", "subnet": "subnet", "vpc": "vpc", "vol": "volume",
    "snap": "snapshot", "eipalloc": "elastic-ip",
}
INSTANCE_OPERATIONS = {
    "StartInstances", "StopInstances", "RebootInstances", "TerminateInstances", "MonitorInstances",
    "UnmonitorInstances",
}
ONE_INSTANCE_OPERATIONS = {
    "GetConsoleOutput", "ModifyInstanceAttribute", "ResetInstanceAttribute", "ModifyInstanceMetadataOptions",
    "GetConsoleScreenshot",
}
IMAGE_OPERATIONS = {"DeregisterImage", "ModifyImageAttribute", "ResetImageAttribute"}
GROUP_OPERATIONS = {
    "DeleteSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress", "UpdateSecurityGroupRuleDescriptionsEgress",
}
VOLUME_OPERATIONS = {"DeleteVolume", "ModifyVolume", "ModifyVolumeAttribute", "DescribeVolumeAttribute"}
SNAPSHOT_OPERATIONS = {"DeleteSnapshot", "ModifySnapshotAttribute", "ResetSnapshotAttribute",
                       "DescribeSnapshotAttribute"}


def arn(ctx: RequestContext, resource_type: str, resource_id: str, *, account: str | None = None) -> str:
    region = ctx.config.region if ctx.config is not None else ctx.region
    owner = ctx.account_id if account is None else account
    return f"arn:aws:ec2:{region}:{owner}:{resource_type}/{resource_id}"


def arn_of(ctx: RequestContext, resource_id: str) -> str:
    m = ID_PATTERN.fullmatch(resource_id or "")
    kind = RESOURCE_TYPES.get(m.group("prefix")) if m else None
    if kind is None:
        return "*"
    return arn(ctx, kind, resource_id, account="" if kind in ("image", "snapshot") else None)


def _key_name(ctx: RequestContext, params: dict[str, Any]) -> str:
    if params.get("KeyName"):
        return params["KeyName"]
    key_id = params.get("KeyPairId")
    if not key_id or ctx.store is None:
        return "*"
    k = key_pairs
    with ctx.store.read() as conn:
        found = conn.execute(sa.select(k.c.name).where(k.c.account_id == ctx.account_id, k.c.id == key_id)).scalar()
    return found or "*"


def _group_id(ctx: RequestContext, params: dict[str, Any]) -> str:
    """The group a request acts on: its GroupId, or the id of the group its GroupName names."""
    if params.get("GroupId") or not params.get("GroupName") or ctx.store is None:
        return params.get("GroupId") or "*"
    with ctx.store.read() as conn:
        try:
            return security_groups.find(conn, ctx.account_id, ctx.config.region, name=params["GroupName"]).group_id
        except ServiceError:
            return "*"  # the handler answers InvalidGroup.NotFound


def _allocation_id(ctx: RequestContext, params: dict[str, Any]) -> str:
    """The elastic IP a request names (by allocation id, public IP or association id); '*' when unknown."""
    if params.get("AllocationId"):
        return params["AllocationId"]
    from silvereye.services.ec2.models.addresses import addresses as a

    column, value = (a.c.public_ip, params.get("PublicIp")) if params.get("PublicIp") else \
        (a.c.association_id, params.get("AssociationId"))
    if not value or ctx.store is None:
        return "*"
    with ctx.store.read() as conn:
        found = conn.execute(sa.select(a.c.id).where(a.c.account_id == ctx.account_id, column == value)).scalar()
    return found or "*"


def _run_instances(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    cfg = ctx.config
    out = [arn(ctx, "instance", "*")]
    if params.get("ImageId"):
        out.append(arn(ctx, "image", params["ImageId"], account=""))
    zone = (params.get("Placement") or {}).get("AvailabilityZone") or cfg.availability_zones[0]
    subnet = params.get("SubnetId") or vpc.subnet_id(ctx.account_id, zone if zone in cfg.availability_zones
                                                      else cfg.availability_zones[0])
    out.append(arn(ctx, "subnet", subnet))
    groups = list(params.get("SecurityGroupIds") or [])
    if not groups and not params.get("SecurityGroups"):
        groups = [security_groups.default_group_id(ctx.account_id, cfg.region)]
    out += [arn(ctx, "security-group", g) for g in groups]
    if params.get("KeyName"):
        out.append(arn(ctx, "key-pair", params["KeyName"]))
    return out


def ec2_resources(ctx: RequestContext, operation: str, params: dict[str, Any]) -> list[str]:
    if operation == "RunInstances":
        return _run_instances(ctx, params)
    if operation in INSTANCE_OPERATIONS:
        return [arn(ctx, "instance", i) for i in params.get("InstanceIds") or []] or ["*"]
    if operation in ONE_INSTANCE_OPERATIONS or operation == "DescribeInstanceAttribute":
        return [arn(ctx, "instance", params["InstanceId"])]
    if operation == "CreateImage":
        return [arn(ctx, "instance", params["InstanceId"]), arn(ctx, "image", "*", account="")]
    if operation in IMAGE_OPERATIONS or operation == "DescribeImageAttribute":
        return [arn(ctx, "image", params["ImageId"], account="")]
    if operation == "RegisterImage":
        return [arn(ctx, "image", "*", account="")]
    if operation in ("CreateKeyPair", "ImportKeyPair", "DeleteKeyPair"):
        return [arn(ctx, "key-pair", _key_name(ctx, params))]
    if operation == "CreateSecurityGroup":
        return [arn(ctx, "security-group", "*"), arn(ctx, "vpc", vpc.vpc_id(ctx.account_id, ctx.config.region))]
    if operation in GROUP_OPERATIONS:
        return [arn(ctx, "security-group", _group_id(ctx, params))]
    if operation == "AllocateAddress":
        return [arn(ctx, "elastic-ip", "*")]
    if operation in ("DisassociateAddress", "ReleaseAddress"):
        return [arn(ctx, "elastic-ip", _allocation_id(ctx, params))]
    if operation == "AssociateAddress":
        return [arn(ctx, "elastic-ip", _allocation_id(ctx, params)), arn(ctx, "instance", params.get("InstanceId") or "*")]
    if operation in VOLUME_OPERATIONS or operation in ("AttachVolume", "DetachVolume"):
        out = [arn(ctx, "volume", params["VolumeId"])]
        return out + ([arn(ctx, "instance", params["InstanceId"])] if params.get("InstanceId") else [])
    if operation == "CreateVolume":
        snapshot = [arn(ctx, "snapshot", params["SnapshotId"], account="")] if params.get("SnapshotId") else []
        return [arn(ctx, "volume", "*"), *snapshot]
    if operation == "CreateSnapshot":
        return [arn(ctx, "volume", params["VolumeId"]), arn(ctx, "snapshot", "*", account="")]
    if operation == "CopySnapshot":
        return [arn(ctx, "snapshot", params["SourceSnapshotId"], account=""), arn(ctx, "snapshot", "*", account="")]
    if operation in SNAPSHOT_OPERATIONS:
        return [arn(ctx, "snapshot", params["SnapshotId"], account="")]
    if operation in ("CreateTags", "DeleteTags"):
        return [arn_of(ctx, r) for r in params.get("Resources") or []] or ["*"]
    return ["*"]


def ec2_authorize(ctx: RequestContext, operation: str, params: dict[str, Any]) -> None:
    """IAM's decision, in EC2's words; then DryRun's answer when the call would have been allowed."""
    from silvereye.services.iam.access import access_for

    try:
        access_for(ctx.store).authorize(ctx, f"ec2:{operation}", ec2_resources(ctx, operation, params))
    except ServiceError as e:
        if e.code == "AccessDenied":
            raise errors.unauthorized() from None
        raise
    if params.get("DryRun"):
        raise errors.dry_run()
