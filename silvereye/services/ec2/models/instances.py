"""Instance records and EC2's state machine over them.

States and their codes are AWS's::

    pending(0) -> running(16) -> stopping(64) -> stopped(80) -> pending(0) ...
    any but terminated -> shutting-down(32) -> terminated(48)

A record moves only through :func:`transition`, an UPDATE conditioned on the
states it may come from, so the request handlers, the launcher, libvirt's
events and the reconciler can all race without one undoing another: the
loser's UPDATE matches no row and it knows it lost. Every move records when
it happened, and the reasons AWS shows: ``StateTransitionReason`` ("User
initiated (2024-05-01 12:00:00 GMT)") and ``StateReason`` (code and
message, e.g. ``Client.UserInitiatedShutdown``).

Terminated instances stay visible for an hour (:data:`TERMINATED_VISIBLE`),
then housekeeping forgets them, as EC2 does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from silvereye.compute import instance_types
from silvereye.services.ec2 import errors
from silvereye.services.ec2.models import tags
from silvereye.services.ec2.models.common import check_ids, gmt, loads, now, utc
from silvereye.services.ec2.tables import instances as t

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
TERMINATED_VISIBLE = dt.timedelta(hours=1)

# StateReason codes and messages, as EC2 words them.
USER_SHUTDOWN = ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")
INSTANCE_SHUTDOWN = ("Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown: Instance initiated shutdown")
INTERNAL_ERROR = "Server.InternalError"
NO_CAPACITY = "Server.InsufficientInstanceCapacity"


def check_instance_id(value: str) -> str:
    return check_ids([value], ("i",), "InvalidInstanceID.Malformed")[0]


def user_initiated(at: dt.datetime | None = None) -> str:
    return f"User initiated ({gmt(at or now())})"


def get(conn: sa.Connection, instance_id: str) -> Any | None:
    return conn.execute(sa.select(t).where(t.c.id == instance_id)).first()


def owned(conn: sa.Connection, account_id: str, instance_ids: list[str], *, include_terminated: bool = True) -> list[Any]:
    """The account's instances with these ids, in the order asked; InvalidInstanceID.NotFound for any other."""
    check_ids(instance_ids, ("i",), "InvalidInstanceID.Malformed")
    wanted = list(dict.fromkeys(instance_ids))
    rows = {r.id: r for r in conn.execute(sa.select(t).where(t.c.account_id == account_id, t.c.id.in_(wanted)))}
    missing = [i for i in wanted if i not in rows or (not include_terminated and rows[i].state == "terminated")]
    if missing:
        raise errors.instance_not_found(missing)
    return [rows[i] for i in wanted]


def live(conn: sa.Connection) -> list[Any]:
    """Every instance that is not terminated, of every account (the reconciler's view)."""
    return list(conn.execute(sa.select(t).where(t.c.state != "terminated")))


def transition(conn: sa.Connection, instance_id: str, to: str, *, expect: tuple[str, ...],
               reason: tuple[str, str] | None = None, transition_reason: str | None = None,
               **values: Any) -> bool:
    """Move an instance to ``to`` if it is in one of ``expect``; False when it was not (someone else moved it)."""
    if to not in STATE_CODES:
        raise ValueError(f"no EC2 state {to!r}")
    at = now()
    changes: dict[str, Any] = {"state": to, "state_changed": at, **values}
    if reason is not None:
        changes["state_reason_code"], changes["state_reason_message"] = reason
    elif to in ("pending", "running"):
        changes["state_reason_code"] = changes["state_reason_message"] = None
    if transition_reason is not None:
        changes["transition_reason"] = transition_reason
    elif to == "running":
        changes["transition_reason"] = ""
    if to == "terminated":
        changes.setdefault("terminated_at", at)
    result = conn.execute(sa.update(t).where(t.c.id == instance_id, t.c.state.in_(expect)).values(**changes))
    return result.rowcount == 1


def expired(conn: sa.Connection, at: dt.datetime | None = None) -> list[str]:
    """Terminated instances whose hour of visibility is over."""
    cutoff = (at or now()) - TERMINATED_VISIBLE
    return list(conn.execute(sa.select(t.c.id).where(t.c.state == "terminated", t.c.terminated_at < cutoff)).scalars())


def forget(conn: sa.Connection, instance_ids: list[str]) -> None:
    if instance_ids:
        conn.execute(sa.delete(t).where(t.c.id.in_(instance_ids)))
        tags.remove_all(conn, instance_ids)


# -- what an instance looks like to clients -----------------------------------------------------


@dataclass(frozen=True)
class Presentation:
    """Facts about the cloud an instance's description needs (the same for every instance)."""

    region: str
    dns_domain: str
    vpc_id: str
    subnet_ids: dict[str, str]  # availability zone -> default subnet id
    root_device_names: dict[str, str]  # image id -> root device name
    boot_modes: dict[str, str]  # image id -> boot mode
    public_ips: dict[str, str] = field(default_factory=dict)  # instance id -> its elastic IP


def private_dns_name(row: Any, dns_domain: str) -> str:
    """The resource name EC2 offers as hostname type 'resource-name': <instance id>.<domain>,
    which is also the name libvirt's DNS gives the instance on the silvereye network."""
    return f"{row.id}.{dns_domain}" if row.private_ip else ""


def state_of(row: Any) -> dict[str, Any]:
    return {"Code": STATE_CODES[row.state], "Name": row.state}


def shape(row: Any, tag_map: dict[str, str] | None, p: Presentation) -> dict[str, Any]:
    itype = instance_types.INSTANCE_TYPES.get(row.instance_type)
    cpu = {"CoreCount": itype.vcpus, "ThreadsPerCore": 1} if itype is not None else None
    groups = loads(row.security_groups, [])
    out: dict[str, Any] = {
        "InstanceId": row.id,
        "ImageId": row.image_id,
        "State": state_of(row),
        "PrivateDnsName": private_dns_name(row, p.dns_domain),
        "PublicDnsName": "",
        "StateTransitionReason": row.transition_reason or "",
        "KeyName": row.key_name,
        "AmiLaunchIndex": row.launch_index,
        "ProductCodes": [],
        "InstanceType": row.instance_type,
        "LaunchTime": utc(row.launch_time),
        "Placement": {"AvailabilityZone": row.availability_zone, "GroupName": "", "Tenancy": "default"},
        "KernelId": row.kernel_id,
        "RamdiskId": row.ramdisk_id,
        "Monitoring": {"State": "disabled"},
        "Architecture": "x86_64",
        "RootDeviceType": "instance-store",
        "RootDeviceName": p.root_device_names.get(row.image_id),
        "BlockDeviceMappings": [],
        "VirtualizationType": "hvm",
        "ClientToken": row.client_token or "",
        "Tags": tags.tag_list(tag_map),
        "SecurityGroups": groups,
        "SourceDestCheck": True,
        "EbsOptimized": False,
        "EnaSupport": False,
        "CpuOptions": cpu,
        "HibernationOptions": {"Configured": False},
        "MetadataOptions": {
            "State": "applied",
            "HttpTokens": row.http_tokens,
            "HttpPutResponseHopLimit": row.http_hop_limit,
            "HttpEndpoint": row.http_endpoint,
            "HttpProtocolIpv6": "disabled",
            "InstanceMetadataTags": row.metadata_tags,
        },
        "EnclaveOptions": {"Enabled": False},
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "PrivateDnsNameOptions": {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": True,
                                  "EnableResourceNameDnsAAAARecord": False},
        "MaintenanceOptions": {"AutoRecovery": "default"},
        "BootMode": p.boot_modes.get(row.image_id),
        "CurrentInstanceBootMode": p.boot_modes.get(row.image_id),
    }
    if row.state != "terminated":
        out["VpcId"] = p.vpc_id
        out["SubnetId"] = p.subnet_ids.get(row.availability_zone)
        out["PrivateIpAddress"] = row.private_ip
        if row.id in p.public_ips:
            out["PublicIpAddress"] = p.public_ips[row.id]
    if row.state_reason_code:
        out["StateReason"] = {"Code": row.state_reason_code, "Message": row.state_reason_message or row.state_reason_code}
    if row.instance_profile_arn:
        out["IamInstanceProfile"] = {"Arn": row.instance_profile_arn, "Id": row.instance_profile_id}
    return out


def reservations(rows: list[Any], instance_shapes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Instances grouped into their reservations, in the order the rows come."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        res = out.setdefault(row.reservation_id, {
            "ReservationId": row.reservation_id, "OwnerId": row.account_id, "Groups": [], "Instances": []})
        res["Instances"].append(instance_shapes[row.id])
    return list(out.values())
