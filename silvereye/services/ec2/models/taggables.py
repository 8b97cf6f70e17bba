"""The kinds of resource this issue's EC2 can tag, registered with :mod:`.tags` on import."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors
from silvereye.services.ec2.models import addresses, images, security_groups, snapshots, volumes, vpc
from silvereye.services.ec2.models.tags import Taggable, register
from silvereye.services.ec2.tables import instances, key_pairs


def _instance(conn: sa.Connection, account_id: str, resource_id: str, _cfg: Any) -> bool:
    i = instances
    return conn.execute(sa.select(i.c.id).where(i.c.id == resource_id, i.c.account_id == account_id,
                                                i.c.state != "terminated")).first() is not None


def _image(conn: sa.Connection, account_id: str, resource_id: str, _cfg: Any) -> bool:
    row = images.get(conn, resource_id)
    return row is not None and images.can_launch(conn, row, account_id)


def _key_pair(conn: sa.Connection, account_id: str, resource_id: str, _cfg: Any) -> bool:
    k = key_pairs
    return conn.execute(sa.select(k.c.id).where(k.c.id == resource_id, k.c.account_id == account_id)).first() is not None


def _address(conn: sa.Connection, account_id: str, resource_id: str, _cfg: Any) -> bool:
    a = addresses.addresses
    return conn.execute(sa.select(a.c.id).where(a.c.id == resource_id, a.c.account_id == account_id)).first() is not None


def _network(_conn: sa.Connection, account_id: str, resource_id: str, cfg: Any) -> bool:
    return vpc.exists(account_id, cfg, resource_id) or security_groups.exists(_conn, account_id, cfg.region, resource_id)


register(Taggable("i", "instance", _instance, lambda rid: errors.instance_not_found([rid])))
for _prefix in images.IMAGE_PREFIXES:
    register(Taggable(_prefix, "image", _image, lambda rid: errors.image_not_found([rid])))
register(Taggable("key", "key-pair", _key_pair, errors.key_pair_id_not_found))
register(Taggable("vpc", "vpc", _network, errors.vpc_not_found))
register(Taggable("subnet", "subnet", _network, errors.subnet_not_found))
register(Taggable("sg", "security-group", _network, errors.group_id_not_found))
register(Taggable(addresses.ALLOCATION_PREFIX, addresses.RESOURCE_TYPE, _address,
                  lambda rid: errors.error("InvalidAllocationID.NotFound", f"The allocation ID '{rid}' does not exist")))


def _group_rule(conn: sa.Connection, account_id: str, resource_id: str, cfg: Any) -> bool:
    return any(r.rule_id == resource_id for g in security_groups.groups(conn, account_id, cfg.region) for r in g.rules)


register(Taggable("sgr", "security-group-rule", _group_rule, lambda rid: errors.error(
    "InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rid}' does not exist")))


def _volume(conn: sa.Connection, account_id: str, resource_id: str, _cfg: Any) -> bool:
    row = volumes.get(conn, resource_id)
    return row is not None and row.account_id == account_id and row.state in volumes.LIVE


def _snapshot(conn: sa.Connection, account_id: str, resource_id: str, _cfg: Any) -> bool:
    try:
        snapshots.readable(conn, account_id, resource_id)
    except Exception:  # noqa: BLE001 - NotFound: not this account's to tag
        return False
    return True


register(Taggable("vol", "volume", _volume, volumes.not_found))
register(Taggable("snap", "snapshot", _snapshot, snapshots.not_found))
