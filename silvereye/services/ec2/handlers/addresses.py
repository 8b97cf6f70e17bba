"""AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress, DescribeAddresses(Attribute).

Addresses come from ``network.public_range``; an association is a pair of
NAT rules on the host (:mod:`..address_nat`), changed in the same step as
the record, so a call that fails leaves both as they were. Only default-VPC
("vpc") addresses exist: a request for "standard" gets one, as EC2 answers
since EC2-Classic ended.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.compute import ComputeError
from silvereye.compute.elastic_ips import AddressInUse
from silvereye.services.ec2 import address_nat, errors, filters, pagination
from silvereye.services.ec2.models import addresses, tags
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext

DOMAINS = ("vpc", "standard")
ASSOCIABLE_STATES = ("running", "stopped")


def _shape(row: Any, tag_map: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PublicIp": row.public_ip,
        "AllocationId": row.id,
        "Domain": row.domain,
        "PublicIpv4Pool": "amazon",
        "NetworkBorderGroup": row.border_group,
        "Tags": tags.tag_list(tag_map),
    }
    if row.instance_id:
        out.update(InstanceId=row.instance_id, AssociationId=row.association_id)
        if row.private_ip:
            out["PrivateIpAddress"] = row.private_ip
    return out


def _one_of(params: dict[str, Any], first: str, second: str) -> tuple[str | None, str | None]:
    x, y = params.get(first), params.get(second)
    if not x and not y:
        raise errors.missing_parameter(first)
    if x and y:
        raise errors.combination(f"The parameter {first} cannot be used with the parameter {second}")
    return x, y


def _data_path(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except AddressInUse as e:
        raise errors.error("Resource.AlreadyAssociated", str(e)) from None
    except ComputeError as e:
        raise address_nat.data_path_error(e) from None


def allocate_address(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    domain = params.get("Domain") or "vpc"
    if domain not in DOMAINS:
        raise errors.invalid_value(domain, "Domain", "Expected 'vpc' or 'standard'.")
    group = params.get("NetworkBorderGroup")
    if group and group != ctx.config.region:
        raise errors.invalid_value(group, "NetworkBorderGroup", f"This cloud has one: {ctx.config.region}.")
    if params.get("PublicIpv4Pool") not in (None, "", "amazon"):
        raise errors.error("InvalidPublicIpv4PoolID.NotFound",
                           f"The pool ID '{params['PublicIpv4Pool']}' does not exist")
    pairs = tags.specifications(params, {addresses.RESOURCE_TYPE: addresses.RESOURCE_TYPE}).get(
        addresses.RESOURCE_TYPE, [])
    with ctx.store.write() as conn:
        row = addresses.insert(conn, ctx.account_id, ctx.config, params.get("Address"))
        tags.put(conn, ctx.account_id, row.id, addresses.RESOURCE_TYPE, pairs)
    return {"PublicIp": row.public_ip, "AllocationId": row.id, "Domain": row.domain, "PublicIpv4Pool": "amazon",
            "NetworkBorderGroup": row.border_group}


def associate_address(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    allocation_id, public_ip = _one_of(params, "AllocationId", "PublicIp")
    if params.get("NetworkInterfaceId"):
        raise errors.unsupported("Associating with a network interface is not supported here; give InstanceId.")
    if params.get("PrivateIpAddress"):
        raise errors.unsupported("An instance here has one private address; leave PrivateIpAddress out.")
    instance_id = params.get("InstanceId")
    if not instance_id:
        raise errors.missing_parameter("InstanceId")
    allow = bool(params.get("AllowReassociation"))
    rt = runtime_for(ctx.store)
    addresses.public_range(ctx.config)  # the clear error when the cloud has no elastic IPs
    with address_nat.changing(rt) as (conn, eips):
        row = addresses.find(conn, ctx.account_id, allocation_id=allocation_id, public_ip=public_ip)
        (instance,) = records.owned(conn, ctx.account_id, [instance_id], include_terminated=False)
        if instance.state not in ASSOCIABLE_STATES:
            raise errors.incorrect_state(instance.id, instance.state, "associated with an elastic IP")
        if row.instance_id == instance.id:
            return {"AssociationId": row.association_id}
        if row.instance_id and not allow:
            raise errors.error("Resource.AlreadyAssociated",
                               f"resource {row.id} is already associated with associate-id {row.association_id}")
        previous = addresses.of_instance(conn, instance.id)  # the instance's other address lets go
        if previous is not None:
            addresses.disassociate(conn, allocation_id=previous.id)
        running = instance.state == "running" and bool(instance.private_ip)
        association_id = addresses.associate(conn, row.id, instance.id, instance.private_ip)
        if eips is not None:
            if running:
                _data_path(eips.associate, row.public_ip, instance.id, instance.private_ip)
            else:  # stopped: recorded now, applied when it runs; the address's old target lets go
                _data_path(eips.disassociate, row.public_ip)
                if previous is not None:
                    _data_path(eips.disassociate, previous.public_ip)
    return {"AssociationId": association_id}


def disassociate_address(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    association_id, public_ip = _one_of(params, "AssociationId", "PublicIp")
    rt = runtime_for(ctx.store)
    with address_nat.changing(rt) as (conn, eips):
        if association_id:
            row = addresses.by_association(conn, ctx.account_id, association_id)
        else:
            row = addresses.find(conn, ctx.account_id, public_ip=public_ip)
        if row.instance_id:
            addresses.disassociate(conn, allocation_id=row.id)
            if eips is not None:
                _data_path(eips.disassociate, row.public_ip)
    return {}


def release_address(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    allocation_id, public_ip = _one_of(params, "AllocationId", "PublicIp")
    group = params.get("NetworkBorderGroup")
    if group and group != ctx.config.region:
        raise errors.invalid_value(group, "NetworkBorderGroup", f"This cloud has one: {ctx.config.region}.")
    with ctx.store.write() as conn:
        row = addresses.find(conn, ctx.account_id, allocation_id=allocation_id, public_ip=public_ip)
        if row.instance_id:
            raise errors.error("InvalidIPAddress.InUse", f"Address {row.public_ip} is in use.")
        addresses.release(conn, row.id)
        tags.remove_all(conn, [row.id])
    return {}


FILTERS = filters.FilterSpec(
    fields={
        "allocation-id": lambda x: x.row.id,
        "association-id": lambda x: x.row.association_id,
        "instance-id": lambda x: x.row.instance_id,
        "public-ip": lambda x: x.row.public_ip,
        "private-ip-address": lambda x: x.row.private_ip if x.row.instance_id else None,
        "domain": lambda x: x.row.domain,
        "network-border-group": lambda x: x.row.border_group,
        "public-ipv4-pool": lambda x: "amazon",
    },
    tags=filters.row_tags,
    never=frozenset({"network-interface-id", "network-interface-owner-id"}),
)


def describe_addresses(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    a = addresses.addresses
    wanted_ips = [addresses.check_ip(ip) for ip in params.get("PublicIps") or []]
    wanted_ids = params.get("AllocationIds") or []
    for allocation_id in wanted_ids:
        addresses.check_id(allocation_id, (addresses.ALLOCATION_PREFIX,), "InvalidAllocationID.Malformed")
    with ctx.store.read() as conn:
        stmt = sa.select(a).where(a.c.account_id == ctx.account_id)
        if wanted_ips:
            stmt = stmt.where(a.c.public_ip.in_(wanted_ips))
        if wanted_ids:
            stmt = stmt.where(a.c.id.in_(wanted_ids))
        rows = list(conn.execute(stmt))
        tag_maps = tags.of(conn, ctx.account_id, [r.id for r in rows])
    missing_ips = [ip for ip in wanted_ips if ip not in {r.public_ip for r in rows}]
    if missing_ips:
        raise errors.error("InvalidAddress.NotFound", f"Address '{missing_ips[0]}' not found.")
    missing_ids = [i for i in wanted_ids if i not in {r.id for r in rows}]
    if missing_ids:
        raise errors.error("InvalidAllocationID.NotFound", f"The allocation ID '{missing_ids[0]}' does not exist")
    kept = filters.apply(FILTERS, [filters.Tagged(r, tag_maps.get(r.id, {})) for r in rows], params.get("Filters"))
    kept.sort(key=lambda x: tuple(int(p) for p in x.row.public_ip.split(".")))
    return {"Addresses": [_shape(x.row, x.tag_map) for x in kept]}


def describe_addresses_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The only attribute is reverse DNS (domain-name); this cloud serves no PTR records, so each
    address reads without one, as an address does on EC2 before ModifyAddressAttribute sets it."""
    attribute = params.get("Attribute") or "domain-name"
    if attribute != "domain-name":
        raise errors.invalid_value(attribute, "Attribute", "Expected 'domain-name'.")
    a = addresses.addresses
    wanted = params.get("AllocationIds") or []
    for allocation_id in wanted:
        addresses.check_id(allocation_id, (addresses.ALLOCATION_PREFIX,), "InvalidAllocationID.Malformed")
    with ctx.store.read() as conn:
        stmt = sa.select(a).where(a.c.account_id == ctx.account_id)
        rows = list(conn.execute(stmt.where(a.c.id.in_(wanted)) if wanted else stmt))
    missing = [i for i in wanted if i not in {r.id for r in rows}]
    if missing:
        raise errors.error("InvalidAllocationID.NotFound", f"The allocation ID '{missing[0]}' does not exist")
    chosen, token = pagination.page(rows, params, key=lambda r: r.id, minimum=1, maximum=1000)
    return {"Addresses": [{"PublicIp": r.public_ip, "AllocationId": r.id} for r in chosen], "NextToken": token}
