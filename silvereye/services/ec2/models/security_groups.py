"""Security groups as records: each account's groups and their rules, the default group among them.

AWS gives each VPC a group named ``default`` whose members reach each other
and may send anywhere; instances launched without a group join it. Here its
id is derived from the account and the default VPC (stable, needing no
table), and it is presented with those two rules until the account first
changes it (or an instance of the account runs): :func:`ensure_default`
stores it then, rule ids and all, so the stored group reads exactly as the
presented one did. Every other group is created by CreateSecurityGroup with
AWS's one rule, egress to anywhere.

Rules are stored one row per peer (a CIDR or a group), which is what the
firewall enforces (:class:`silvereye.compute.security_groups.Rule`) and what
``SecurityGroupRules`` describes; ``IpPermissions`` are folded from them
(:mod:`.sg_permissions`). Groups of one account only ever name groups of the
same account. The firewall is fed from here (:mod:`silvereye.services.ec2.firewall`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from silvereye.compute.security_groups import ALLOW_ALL_EGRESS, EGRESS, INGRESS, Rule, default_rules
from silvereye.services.ec2 import errors
from silvereye.services.ec2.models.common import loads, new_id, now
from silvereye.services.ec2.models.vpc import derived_id, vpc_id
from silvereye.services.ec2.tables import Account, ResourceId, When
from silvereye.services.ec2.tables import instances as inst
from silvereye.store import create_tables, metadata, register_migrations

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "default VPC security group"
NEW_GROUP_EGRESS = ALLOW_ALL_EGRESS

groups_t = sa.Table(
    "ec2_security_groups",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("vpc_id", ResourceId, nullable=False),
    sa.Column("created", When, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_ec2_security_groups_name"),
)

rules_t = sa.Table(
    "ec2_security_group_rules",
    metadata,
    sa.Column("id", ResourceId, primary_key=True),
    sa.Column("account_id", Account, nullable=False, index=True),
    sa.Column("group_id", ResourceId, nullable=False, index=True),
    sa.Column("egress", sa.Boolean, nullable=False),
    sa.Column("protocol", sa.String(8), nullable=False),  # tcp, udp, icmp, -1 or a protocol number
    sa.Column("from_port", sa.Integer, nullable=False),
    sa.Column("to_port", sa.Integer, nullable=False),
    sa.Column("cidr", sa.String(18), nullable=True),
    sa.Column("ref_group_id", ResourceId, nullable=True, index=True),
    sa.Column("description", sa.String(255), nullable=False, default=""),
    sa.Column("position", sa.Integer, nullable=False),  # the order rules were added in
)

register_migrations("ec2_security_groups", [create_tables(groups_t, rules_t)])


@dataclass(frozen=True)
class StoredRule:
    rule_id: str
    group_id: str
    account_id: str
    rule: Rule

    @property
    def egress(self) -> bool:
        return self.rule.direction == EGRESS


@dataclass
class Group:
    group_id: str
    account_id: str
    name: str
    description: str
    vpc_id: str
    rules: list[StoredRule] = field(default_factory=list)
    stored: bool = True

    def rules_of(self, direction: str) -> list[StoredRule]:
        return [r for r in self.rules if r.rule.direction == direction]

    def find(self, rule: Rule) -> StoredRule | None:
        return next((r for r in self.rules if r.rule.key == rule.key), None)


def default_group_id(account_id: str, region: str) -> str:
    return derived_id("sg", account_id, vpc_id(account_id, region))


def _default(account_id: str, region: str) -> Group:
    gid = default_group_id(account_id, region)
    group = Group(gid, account_id, DEFAULT_NAME, DEFAULT_DESCRIPTION, vpc_id(account_id, region), stored=False)
    group.rules = [StoredRule(derived_id("sgr", gid, rule.direction), gid, account_id, rule)
                   for rule in default_rules(gid)]
    return group


def _rule_of(row: Any) -> StoredRule:
    rule = Rule(EGRESS if row.egress else INGRESS, row.protocol, row.from_port, row.to_port, cidr=row.cidr,
                group_id=row.ref_group_id, description=row.description or "")
    return StoredRule(row.id, row.group_id, row.account_id, rule)


def _load(conn: sa.Connection, where: Any) -> list[Group]:
    groups = {r.id: Group(r.id, r.account_id, r.name, r.description, r.vpc_id)
              for r in conn.execute(sa.select(groups_t).where(where).order_by(groups_t.c.created, groups_t.c.id))}
    if groups:
        for row in conn.execute(sa.select(rules_t).where(rules_t.c.group_id.in_(list(groups)))
                                .order_by(rules_t.c.position, rules_t.c.id)):
            groups[row.group_id].rules.append(_rule_of(row))
    return list(groups.values())


def groups(conn: sa.Connection, account_id: str, region: str) -> list[Group]:
    """Every group of the account, the default one first (presented when not yet stored)."""
    found = _load(conn, groups_t.c.account_id == account_id)
    default_id = default_group_id(account_id, region)
    if not any(g.group_id == default_id for g in found):
        found.insert(0, _default(account_id, region))
    return found


def every_group(conn: sa.Connection) -> list[Group]:
    """Every stored group of every account (what the firewall loads at start)."""
    return _load(conn, sa.true())


def ensure_default(conn: sa.Connection, account_id: str, region: str) -> Group:
    """The account's default group, stored (with its two rules) if it was only presented so far."""
    group = get(conn, account_id, region, default_group_id(account_id, region))
    if group.stored:
        return group
    insert_group(conn, group)
    insert_rules(conn, group, group.rules)
    group.stored = True
    return group


def get(conn: sa.Connection, account_id: str, region: str, group_id: str) -> Group:
    for group in _load(conn, sa.and_(groups_t.c.account_id == account_id, groups_t.c.id == group_id)):
        return group
    if group_id == default_group_id(account_id, region):
        return _default(account_id, region)
    raise errors.group_id_not_found(group_id)


def find(conn: sa.Connection, account_id: str, region: str, *, group_id: str | None = None,
         name: str | None = None) -> Group:
    """A group named by id or (default VPC) name, InvalidGroup.NotFound otherwise."""
    if group_id:
        if not group_id.startswith("sg-"):
            raise errors.malformed_id(group_id, "sg", "InvalidGroupId.Malformed")
        return get(conn, account_id, region, group_id)
    if name is None:
        raise errors.missing_parameter("GroupId")
    if name == DEFAULT_NAME:
        return get(conn, account_id, region, default_group_id(account_id, region))
    for group in _load(conn, sa.and_(groups_t.c.account_id == account_id, groups_t.c.name == name)):
        return group
    raise errors.group_not_found(name)


def exists(conn: sa.Connection, account_id: str, region: str, group_id: str) -> bool:
    try:
        get(conn, account_id, region, group_id)
        return True
    except errors.ServiceError:
        return False


def resolve(conn: sa.Connection, account_id: str, region: str, names: list[str] | None,
            ids: list[str] | None) -> list[dict[str, str]]:
    """The groups a launch names ([{GroupId, GroupName}]); the default group when it names none."""
    chosen: dict[str, Group] = {}
    for name in names or []:
        group = find(conn, account_id, region, name=name)
        chosen[group.group_id] = group
    for group_id in ids or []:
        group = find(conn, account_id, region, group_id=group_id)
        chosen[group.group_id] = group
    if not chosen:
        group = get(conn, account_id, region, default_group_id(account_id, region))
        chosen[group.group_id] = group
    return [{"GroupId": g.group_id, "GroupName": g.name} for g in chosen.values()]


# -- who uses a group --------------------------------------------------------------------------


def member_instances(conn: sa.Connection, group_id: str) -> list[str]:
    """Instances (not terminated) in the group."""
    rows = conn.execute(sa.select(inst.c.id, inst.c.security_groups).where(
        inst.c.state != "terminated", inst.c.security_groups.contains(group_id)))
    return sorted(r.id for r in rows if any(g["GroupId"] == group_id for g in loads(r.security_groups, [])))


def referencing_groups(conn: sa.Connection, group_id: str) -> list[str]:
    """Other groups whose rules name this one."""
    rows = conn.execute(sa.select(rules_t.c.group_id).where(rules_t.c.ref_group_id == group_id,
                                                            rules_t.c.group_id != group_id).distinct())
    return sorted(r.group_id for r in rows)


# -- changing ---------------------------------------------------------------------------------


def insert_group(conn: sa.Connection, group: Group) -> None:
    conn.execute(sa.insert(groups_t).values(id=group.group_id, account_id=group.account_id, name=group.name,
                                            description=group.description, vpc_id=group.vpc_id, created=now()))


def new_group(account_id: str, region: str, name: str, description: str) -> Group:
    gid = new_id("sg")
    group = Group(gid, account_id, name, description, vpc_id(account_id, region))
    group.rules = [StoredRule(new_id("sgr"), gid, account_id, NEW_GROUP_EGRESS)]
    return group


def delete_group(conn: sa.Connection, group_id: str) -> None:
    conn.execute(sa.delete(rules_t).where(rules_t.c.group_id == group_id))
    conn.execute(sa.delete(groups_t).where(groups_t.c.id == group_id))


def insert_rules(conn: sa.Connection, group: Group, rules: list[StoredRule]) -> None:
    top = conn.execute(sa.select(sa.func.max(rules_t.c.position)).where(rules_t.c.group_id == group.group_id)).scalar()
    position = (top or 0) + 1
    for i, stored in enumerate(rules):
        r = stored.rule
        conn.execute(sa.insert(rules_t).values(
            id=stored.rule_id, account_id=group.account_id, group_id=group.group_id, egress=r.direction == EGRESS,
            protocol=r.protocol, from_port=r.from_port, to_port=r.to_port, cidr=r.cidr, ref_group_id=r.group_id,
            description=r.description, position=position + i))


def delete_rules(conn: sa.Connection, rule_ids: list[str]) -> None:
    if rule_ids:
        conn.execute(sa.delete(rules_t).where(rules_t.c.id.in_(rule_ids)))


def replace_rule(conn: sa.Connection, rule_id: str, rule: Rule) -> None:
    conn.execute(sa.update(rules_t).where(rules_t.c.id == rule_id).values(
        protocol=rule.protocol, from_port=rule.from_port, to_port=rule.to_port, cidr=rule.cidr,
        ref_group_id=rule.group_id, description=rule.description))


def set_description(conn: sa.Connection, rule_id: str, description: str) -> None:
    conn.execute(sa.update(rules_t).where(rules_t.c.id == rule_id).values(description=description))


def purge(conn: sa.Connection, account_id: str) -> None:
    conn.execute(sa.delete(rules_t).where(rules_t.c.account_id == account_id))
    conn.execute(sa.delete(groups_t).where(groups_t.c.account_id == account_id))


def count(conn: sa.Connection, account_id: str) -> int:
    """The account's own groups (the default group is the VPC's: it goes with the account, never holds it up)."""
    return conn.execute(sa.select(sa.func.count()).select_from(groups_t)
                        .where(groups_t.c.account_id == account_id, groups_t.c.name != DEFAULT_NAME)).scalar_one()
