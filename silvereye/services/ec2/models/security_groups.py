"""Security groups, as far as this issue goes: every account's default group of the default VPC.

AWS gives each VPC a group named ``default`` that admits traffic from its
own members and lets everything out; instances launched without a group
join it. That is the group RunInstances accepts here (by name or id), and
the one DescribeSecurityGroups lists, with those two default rules.

Issue 6 (security groups enforced with nwfilter) extends this module: it
adds stored groups and rules beside the default one and enforces them. Until
then the default group is presented, not enforced: instances on the
silvereye network reach each other and the host, as in Eucalyptus'
MANAGED-NOVLAN mode before group rules are applied.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.ec2 import errors
from silvereye.services.ec2.models.vpc import derived_id, vpc_id

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "default VPC security group"


def default_group_id(account_id: str, region: str) -> str:
    return derived_id("sg", account_id, vpc_id(account_id, region))


def default_group(account_id: str, region: str, tag_list: list[dict[str, str]] | None = None) -> dict[str, Any]:
    group_id = default_group_id(account_id, region)
    return {
        "GroupId": group_id,
        "GroupName": DEFAULT_NAME,
        "Description": DEFAULT_DESCRIPTION,
        "OwnerId": account_id,
        "VpcId": vpc_id(account_id, region),
        "SecurityGroupArn": f"arn:aws:ec2:{region}:{account_id}:security-group/{group_id}",
        "IpPermissions": [{
            "IpProtocol": "-1",
            "IpRanges": [],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
            "UserIdGroupPairs": [{"GroupId": group_id, "UserId": account_id}],
        }],
        "IpPermissionsEgress": [{
            "IpProtocol": "-1",
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
            "UserIdGroupPairs": [],
        }],
        "Tags": tag_list,
    }


def groups(account_id: str, region: str) -> list[dict[str, Any]]:
    """Every group of the account (just the default one until issue 6 adds stored groups)."""
    return [default_group(account_id, region)]


def resolve(account_id: str, region: str, names: list[str] | None, ids: list[str] | None) -> list[dict[str, str]]:
    """The groups a launch names ([{GroupId, GroupName}]); the default group when it names none."""
    known = {g["GroupId"]: g for g in groups(account_id, region)}
    by_name = {g["GroupName"]: g for g in known.values()}
    chosen: dict[str, dict[str, Any]] = {}
    for name in names or []:
        if name not in by_name:
            raise errors.group_not_found(name)
        chosen[by_name[name]["GroupId"]] = by_name[name]
    for group_id in ids or []:
        if group_id not in known:
            raise errors.group_id_not_found(group_id)
        chosen[group_id] = known[group_id]
    if not chosen:
        default = known[default_group_id(account_id, region)]
        chosen[default["GroupId"]] = default
    return [{"GroupId": g["GroupId"], "GroupName": g["GroupName"]} for g in chosen.values()]


def exists(account_id: str, region: str, group_id: str) -> bool:
    return any(g["GroupId"] == group_id for g in groups(account_id, region))
