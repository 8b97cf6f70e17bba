"""RunInstances, DescribeInstances, DescribeInstanceStatus.

RunInstances answers as EC2 does: the instances in ``pending``, committed
before the answer, launched by the controller afterwards. Describe reads
only the store (kept true to libvirt by events and reconciliation), so it
never waits on a hypervisor.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from silvereye.compute import ComputeError, ids
from silvereye.services.ec2 import controller, errors, filters, pagination
from silvereye.services.ec2.models import addresses, images, launch, tags, vpc, zones
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models.common import dumps, loads, new_id, now, utc
from silvereye.services.ec2.runtime import Ec2Runtime, runtime_for
from silvereye.services.ec2.tables import client_tokens
from silvereye.services.ec2.tables import instances as t
from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.registry import helper

log = logging.getLogger("silvereye.ec2")


@helper
def presentation(ctx: RequestContext, conn: sa.Connection, rows: list[Any]) -> records.Presentation:
    cfg = ctx.config
    wanted = {r.image_id for r in rows}
    found = list(conn.execute(sa.select(images.im.c.id, images.im.c.root_device_name, images.im.c.boot_mode)
                              .where(images.im.c.id.in_(wanted)))) if wanted else []
    return records.Presentation(
        region=cfg.region, dns_domain=cfg.dns_domain, vpc_id=vpc.vpc_id(ctx.account_id, cfg.region),
        subnet_ids=vpc.subnet_ids(ctx.account_id, cfg),
        root_device_names={r.id: r.root_device_name for r in found}, boot_modes={r.id: r.boot_mode for r in found},
        public_ips=addresses.public_ips(conn, [r.id for r in rows]))


@helper
def shapes(ctx: RequestContext, conn: sa.Connection, rows: list[Any]) -> dict[str, dict[str, Any]]:
    p = presentation(ctx, conn, rows)
    tag_maps = tags.of(conn, ctx.account_id, [r.id for r in rows])
    return {r.id: records.shape(r, tag_maps.get(r.id), p) for r in rows}


@helper
def fitting(rt: Ec2Runtime, instance_type: Any, zone: str) -> int:
    """How many instances of this type the nodes can take now; InsufficientInstanceCapacity when none."""
    try:
        capacities = rt.driver.capacity()
    except ComputeError as e:
        raise errors.insufficient_capacity(instance_type.name, zone, str(e)) from None
    return zones.room(capacities, rt.driver.scheduler, instance_type)[0]


def _existing(conn: sa.Connection, ctx: RequestContext, plan: launch.LaunchPlan) -> str | None:
    """The reservation an earlier request with this ClientToken made (IdempotentParameterMismatch if it differed)."""
    if not plan.client_token:
        return None
    c = client_tokens
    row = conn.execute(sa.select(c).where(c.c.account_id == ctx.account_id, c.c.token == plan.client_token)).first()
    if row is None:
        return None
    if row.request_hash != plan.request_hash:
        raise errors.idempotent_mismatch(plan.client_token)
    return row.reservation_id


def _reservation(ctx: RequestContext, conn: sa.Connection, reservation_id: str) -> dict[str, Any]:
    rows = list(conn.execute(sa.select(t).where(t.c.account_id == ctx.account_id, t.c.reservation_id == reservation_id)
                             .order_by(t.c.launch_index)))
    return records.reservations(rows, shapes(ctx, conn, rows))[0]


def run_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    with ctx.store.read() as conn:
        plan = launch.plan(conn, ctx, params)
        earlier = _existing(conn, ctx, plan)
        if earlier is not None:
            return _reservation(ctx, conn, earlier)
    if plan.role_arn:  # launching with a role hands the role to the instance: iam:PassRole, as on AWS
        from silvereye.services.iam.access import access_for

        try:
            access_for(ctx.store).authorize(ctx, "iam:PassRole", [plan.role_arn])
        except ServiceError:
            raise errors.unauthorized(f"You may not pass role {plan.role_arn}.") from None
    count = min(plan.max_count, fitting(rt, plan.instance_type, plan.zone))
    if count < plan.min_count:
        raise errors.insufficient_capacity(plan.instance_type.name, plan.zone)
    reservation_id = new_id("r")
    launched = []
    with ctx.store.write() as conn:
        earlier = _existing(conn, ctx, plan)  # a concurrent retry with the same token may have won
        if earlier is not None:
            return _reservation(ctx, conn, earlier)
        at = now()
        for index in range(count):
            iid = ids.new_instance_id()
            conn.execute(sa.insert(t).values(
                id=iid, account_id=ctx.account_id, reservation_id=reservation_id, launch_index=index,
                requester=ctx.principal.arn, image_id=plan.image.id, kernel_id=plan.kernel_id,
                ramdisk_id=plan.ramdisk_id, instance_type=plan.instance_type.name, availability_zone=plan.zone,
                key_name=plan.key_name, public_key=plan.public_key, user_data=plan.user_data,
                client_token=plan.client_token, security_groups=dumps(plan.groups), state="pending",
                transition_reason="", launch_time=at, state_changed=at,
                disable_api_termination=plan.disable_api_termination, disable_api_stop=plan.disable_api_stop,
                shutdown_behavior=plan.shutdown_behavior, instance_profile_arn=plan.profile_arn,
                instance_profile_id=plan.profile_id, http_tokens=plan.http_tokens,
                http_hop_limit=plan.http_hop_limit, http_endpoint=plan.http_endpoint,
                metadata_tags=plan.metadata_tags))
            tags.put(conn, ctx.account_id, iid, "instance", plan.instance_tags)
            launched.append(iid)
        if plan.client_token:
            conn.execute(sa.insert(client_tokens).values(account_id=ctx.account_id, token=plan.client_token,
                                                         reservation_id=reservation_id, request_hash=plan.request_hash,
                                                         created=at))
        answer = _reservation(ctx, conn, reservation_id)
    for iid in launched:  # committed: now the slow part, in the background
        rt.submit(iid, controller.launch, rt, iid)
    return answer


# -- describing ------------------------------------------------------------------------------


class _Row:
    """An instance row with its tags and security groups, for the filter engine."""

    __slots__ = ("row", "tag_map", "groups", "public_ip")

    def __init__(self, row: Any, tag_map: dict[str, str], public_ip: str | None = None):
        self.row, self.tag_map, self.public_ip = row, tag_map, public_ip
        self.groups = loads(row.security_groups, [])


def _dns(x: _Row, cfg: Any) -> str:
    return records.private_dns_name(x.row, cfg.dns_domain)


@helper
def filter_spec(cfg: Any) -> filters.FilterSpec:
    r = lambda f: (lambda x: f(x.row))  # noqa: E731 - a reader of the row itself
    return filters.FilterSpec(
        fields={
            "instance-id": r(lambda row: row.id),
            "instance-state-name": r(lambda row: row.state),
            "instance-state-code": r(lambda row: records.STATE_CODES[row.state]),
            "image-id": r(lambda row: row.image_id),
            "instance-type": r(lambda row: row.instance_type),
            "key-name": r(lambda row: row.key_name),
            "private-ip-address": r(lambda row: row.private_ip),
            "network-interface.addresses.private-ip-address": r(lambda row: row.private_ip),
            "private-dns-name": lambda x: _dns(x, cfg),
            "availability-zone": r(lambda row: row.availability_zone),
            "reservation-id": r(lambda row: row.reservation_id),
            "owner-id": r(lambda row: row.account_id),
            "requester-id": r(lambda row: row.requester),
            "launch-time": r(lambda row: utc(row.launch_time)),
            "launch-index": r(lambda row: row.launch_index),
            "kernel-id": r(lambda row: row.kernel_id),
            "ramdisk-id": r(lambda row: row.ramdisk_id),
            "client-token": r(lambda row: row.client_token),
            "subnet-id": r(lambda row: vpc.subnet_id(row.account_id, row.availability_zone)),
            "vpc-id": r(lambda row: vpc.vpc_id(row.account_id, cfg.region)),
            "instance.group-id": lambda x: [g["GroupId"] for g in x.groups],
            "instance.group-name": lambda x: [g["GroupName"] for g in x.groups],
            "group-id": lambda x: [g["GroupId"] for g in x.groups],
            "group-name": lambda x: [g["GroupName"] for g in x.groups],
            "architecture": r(lambda row: "x86_64"),
            "root-device-type": r(lambda row: "instance-store"),
            "virtualization-type": r(lambda row: "hvm"),
            "tenancy": r(lambda row: "default"),
            "state-reason-code": r(lambda row: row.state_reason_code),
            "state-reason-message": r(lambda row: row.state_reason_message),
            "reason": r(lambda row: row.transition_reason),
            "iam-instance-profile.arn": r(lambda row: row.instance_profile_arn),
            "metadata-options.http-tokens": r(lambda row: row.http_tokens),
            "metadata-options.http-put-response-hop-limit": r(lambda row: row.http_hop_limit),
            "metadata-options.http-endpoint": r(lambda row: row.http_endpoint),
            "metadata-options.instance-metadata-tags": r(lambda row: row.metadata_tags),
            "monitoring-state": r(lambda row: "disabled"),
            "platform-details": r(lambda row: "Linux/UNIX"),
            "ip-address": lambda x: x.public_ip,
            "network-interface.addresses.association.public-ip": lambda x: x.public_ip,
        },
        tags=lambda x: x.tag_map,
        never=frozenset({"dns-name", "ipv6-address", "network-interface.ipv6-address", "spot-instance-request-id",
                         "instance-lifecycle", "platform", "product-code", "placement-group-name", "host-id",
                         "block-device-mapping.volume-id"}),
    )


@helper
def select(ctx: RequestContext, conn: sa.Connection, params: dict[str, Any]) -> list[Any]:
    """The account's instances an InstanceIds list and Filters select, by instance id."""
    wanted = params.get("InstanceIds") or []
    if wanted:
        rows = records.owned(conn, ctx.account_id, wanted)
    else:
        rows = list(conn.execute(sa.select(t).where(t.c.account_id == ctx.account_id)))
    tag_maps = tags.of(conn, ctx.account_id, [r.id for r in rows]) if (rows and params.get("Filters")) else {}
    public = addresses.public_ips(conn, [r.id for r in rows]) if (rows and params.get("Filters")) else {}
    wrapped = [_Row(r, tag_maps.get(r.id, {}), public.get(r.id)) for r in rows]
    return [x.row for x in filters.apply(filter_spec(ctx.config), wrapped, params.get("Filters"))]


def describe_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("InstanceIds") and params.get("MaxResults") is not None:
        raise errors.combination("The parameter instancesSet cannot be used with the parameter maxResults")
    with ctx.store.read() as conn:
        rows = select(ctx, conn, params)
        page, token = pagination.page(rows, params, key=lambda r: r.id, minimum=5, maximum=1000)
        by_id = shapes(ctx, conn, page)
    return {"Reservations": records.reservations(page, by_id), "NextToken": token}


# -- status --------------------------------------------------------------------------------------

STATUS_FILTERS = filters.FilterSpec(fields={
    "availability-zone": lambda s: s["AvailabilityZone"],
    "instance-state-name": lambda s: s["InstanceState"]["Name"],
    "instance-state-code": lambda s: s["InstanceState"]["Code"],
    "instance-status.status": lambda s: s["InstanceStatus"]["Status"],
    "instance-status.reachability": lambda s: [d["Status"] for d in s["InstanceStatus"].get("Details", [])],
    "system-status.status": lambda s: s["SystemStatus"]["Status"],
    "system-status.reachability": lambda s: [d["Status"] for d in s["SystemStatus"].get("Details", [])],
}, never=frozenset({"event.code", "event.description", "event.not-after", "event.not-before"}))

INITIALIZING = 600  # seconds a guest may take before a missing DHCP lease means it is impaired


def _check(status: str, detail: str) -> dict[str, Any]:
    return {"Status": status, "Details": [{"Name": "reachability", "Status": detail}]}


def _status(row: Any, domain: Any, leased: set[str]) -> dict[str, Any]:
    """System status: is the domain running (libvirt). Instance status: did the guest come up far
    enough to take its DHCP lease (the guest OS asked for its address)."""
    out = {"InstanceId": row.id, "AvailabilityZone": row.availability_zone, "InstanceState": records.state_of(row),
           "Events": []}
    if row.state != "running":
        out["SystemStatus"] = out["InstanceStatus"] = {"Status": "not-applicable"}
        return out
    domain_up = domain is not None and domain.state.active
    out["SystemStatus"] = _check("ok", "passed") if domain_up else _check("impaired", "failed")
    age = (now() - utc(row.state_changed)).total_seconds()
    if domain_up and row.private_ip in leased:
        out["InstanceStatus"] = _check("ok", "passed")
    elif age < INITIALIZING:
        out["InstanceStatus"] = _check("initializing", "initializing")
    else:
        out["InstanceStatus"] = _check("impaired", "failed")
    return out


def describe_instance_status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("InstanceIds") and params.get("MaxResults") is not None:
        raise errors.combination("The parameter instancesSet cannot be used with the parameter maxResults")
    with ctx.store.read() as conn:
        rows = select(ctx, conn, {"InstanceIds": params.get("InstanceIds")})
    if not params.get("IncludeAllInstances"):
        rows = [r for r in rows if r.state == "running"]
    else:
        rows = [r for r in rows if r.state != "terminated" or params.get("InstanceIds")]
    driver = runtime_for(ctx.store).driver
    try:
        domains = {i.instance_id: i for i in driver.list_instances()}
        leased: set[str] = set()
        for node in driver.reachable_nodes():
            leased |= driver.network.leased_addresses(node.connection())
    except ComputeError as e:
        log.warning("instance status without libvirt: %s", e)
        domains, leased = {}, set()
    statuses = [_status(r, domains.get(r.id), leased) for r in rows]
    kept = filters.apply(STATUS_FILTERS, statuses, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda s: s["InstanceId"], minimum=5, maximum=1000)
    return {"InstanceStatuses": page, "NextToken": token}
