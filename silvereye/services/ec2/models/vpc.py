"""The default VPC: silvereye's one instance network, presented the way AWS presents a default VPC.

Modern tools expect a default VPC with a default subnet in each availability
zone (Terraform's aws_default_vpc, the aws CLI's run-instances without a
subnet, Ansible's ec2_instance). silvereye has one libvirt NAT network
(Eucalyptus' MANAGED-NOVLAN); it is that VPC, and each configured zone's
default subnet is that network too -- the same CIDR, because every node
serves every zone from the one network (an instance's address comes from
the whole subnet whatever its zone). Nothing here is stored: the ids are
derived from the account, the region and the zone, so they are stable
across restarts and frontends and need no table.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from silvereye.services.ec2 import errors


def derived_id(prefix: str, *parts: str) -> str:
    """A stable ``<prefix>-<17 hex>`` id for a resource silvereye presents rather than stores."""
    digest = hashlib.sha256("|".join((prefix, *parts)).encode()).hexdigest()
    return f"{prefix}-{digest[:17]}"


def vpc_id(account_id: str, region: str) -> str:
    return derived_id("vpc", account_id, region)


def subnet_id(account_id: str, zone: str) -> str:
    return derived_id("subnet", account_id, zone)


def dhcp_options_id(account_id: str, region: str) -> str:
    return derived_id("dopt", account_id, region)


def subnet_ids(account_id: str, cfg: Any) -> dict[str, str]:
    return {zone: subnet_id(account_id, zone) for zone in cfg.availability_zones}


def zone_id(cfg: Any, zone: str) -> str:
    """AWS's zone ids read like use1-az1: here <region>-az<n> in configuration order."""
    return f"{cfg.region}-az{cfg.availability_zones.index(zone) + 1}"


def vpc(account_id: str, cfg: Any, tag_list: list[dict[str, str]] | None = None) -> dict[str, Any]:
    cidr = str(ipaddress.IPv4Network(cfg.network.subnet))
    the_id = vpc_id(account_id, cfg.region)
    return {
        "VpcId": the_id,
        "OwnerId": account_id,
        "State": "available",
        "CidrBlock": cidr,
        "DhcpOptionsId": dhcp_options_id(account_id, cfg.region),
        "InstanceTenancy": "default",
        "IsDefault": True,
        "CidrBlockAssociationSet": [{
            "AssociationId": derived_id("vpc-cidr-assoc", the_id),
            "CidrBlock": cidr,
            "CidrBlockState": {"State": "associated"},
        }],
        "Tags": tag_list,
    }


def subnet(account_id: str, cfg: Any, zone: str, available: int, tag_list: list[dict[str, str]] | None = None) -> dict[str, Any]:
    the_id = subnet_id(account_id, zone)
    return {
        "SubnetId": the_id,
        "SubnetArn": f"arn:aws:ec2:{cfg.region}:{account_id}:subnet/{the_id}",
        "VpcId": vpc_id(account_id, cfg.region),
        "OwnerId": account_id,
        "State": "available",
        "CidrBlock": str(ipaddress.IPv4Network(cfg.network.subnet)),
        "AvailabilityZone": zone,
        "AvailabilityZoneId": zone_id(cfg, zone),
        "AvailableIpAddressCount": available,
        "DefaultForAz": True,
        "MapPublicIpOnLaunch": False,
        "MapCustomerOwnedIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "EnableDns64": False,
        "Ipv6Native": False,
        "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": True,
                                          "EnableResourceNameDnsAAAARecord": False},
        "Tags": tag_list,
    }


def zone_of_subnet(account_id: str, cfg: Any, wanted: str) -> str:
    """The zone whose default subnet this is; InvalidSubnetID.NotFound for any other id."""
    for zone, sid in subnet_ids(account_id, cfg).items():
        if sid == wanted:
            return zone
    raise errors.subnet_not_found(wanted)


def exists(account_id: str, cfg: Any, resource_id: str) -> bool:
    return resource_id == vpc_id(account_id, cfg.region) or resource_id in subnet_ids(account_id, cfg).values()
