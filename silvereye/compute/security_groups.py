"""Security groups enforced in the data path: one nftables table, replaced atomically on every change.

Why nftables and not one libvirt nwfilter per group: redefining an nwfilter
makes libvirt rebuild the ebtables/iptables rules of every filtered
interface on the host, one command at a time. Measured here with two tiny
instances, one redefinition took 4.5 s, and it grows with every instance on
the host; EC2 wants a rule change to bite within a second. nwfilter's
iptables rules also only see bridged traffic, so packets from the host to an
instance pass unfiltered. So libvirt keeps the part that never changes and
must follow the tap device across restarts, the stock ``clean-traffic``
filter on every interface (no MAC, IP or ARP spoofing: an instance's packets
carry its own address), and the rules that do change live here, keyed by
those addresses. One ``nft -f`` transaction replaces the whole table in a
few milliseconds whatever the number of instances, and nothing is ever
half-applied.

The table mirrors the nwfilter design it replaces: a chain per group and
direction (``sg_<id>_in`` / ``sg_<id>_out``, one ``accept`` per rule), a
chain per instance that jumps to its groups' chains and drops what none
accepted, and two verdict maps from instance address to instance chain.
Base chains hook every path a packet to or from an instance takes (bridge
netfilter makes bridged instance-to-instance traffic pass the IPv4 hooks):

- forward, ingress side: to an instance from another instance or from
  outside (also after an elastic IP's DNAT);
- forward, egress side: from an instance to another or to the outside
  (a separate base chain, because ``accept`` ends only its own chain, so
  both the sender's egress and the receiver's ingress rules must pass);
- output: from the host to an instance;
- input: from an instance to the host (egress).

Semantics are AWS's: connection tracking lets replies of allowed traffic
back (``established,related``), so revoking a rule stops new connections and
lets tracked ones finish; rules only allow; an instance's rules are the union
of its groups'; egress is open only through egress rules (the EC2 layer
gives every new group :data:`ALLOW_ALL_EGRESS`, and a default group
:func:`default_rules`, under which members reach each other); and traffic
the cloud itself needs is never filtered: DHCP, DNS to the gateway, and the
metadata service. A source-group rule matches the current addresses of that
group's members (a named set per referenced group). An address of the
subnet that belongs to no registered instance gets nothing in: an instance
is closed from its launch until the EC2 layer names its groups.

The table covers instances on this host's bridge (the local node), like the
metadata redirect.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from silvereye.compute import ids
from silvereye.compute.errors import ComputeError, InvalidArgument, NetworkError
from silvereye.compute.metadata_nat import METADATA_ADDRESS, run_nft, table_name_for

INGRESS, EGRESS = "ingress", "egress"
ALL = "-1"
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1}
_GROUP_ID = re.compile(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


class GroupNotFound(ComputeError):
    """No security group with this id is known to the firewall."""

    def __init__(self, group_id: str):
        super().__init__(f"security group {group_id} does not exist")
        self.group_id = group_id


class GroupExists(ComputeError):
    def __init__(self, group_id: str):
        super().__init__(f"security group {group_id} already exists")
        self.group_id = group_id


class GroupInUse(ComputeError):
    """The group still has member instances (``kind='members'``) or other groups' rules name it
    (``kind='referenced'``); ``by`` lists them."""

    def __init__(self, group_id: str, kind: str, by: list[str]):
        what = "instances" if kind == "members" else "rules of groups"
        super().__init__(f"security group {group_id} is used by {what} {', '.join(by)}")
        self.group_id, self.kind, self.by = group_id, kind, by


class DuplicateRule(InvalidArgument):
    """An authorized rule is already in the group (EC2: InvalidPermission.Duplicate)."""


class RuleNotFound(InvalidArgument):
    """A revoked rule is not in the group (EC2: InvalidPermission.NotFound)."""


def check_group_id(value: str) -> str:
    return ids._check(_GROUP_ID, value, "a security group id (expected sg- and 8 or 17 lowercase hex digits)")


def _int(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what} {value!r} is not a number") from None


@dataclass(frozen=True)
class Rule:
    """One permission: ``protocol`` is tcp, udp, icmp, -1 (everything) or an IP protocol number;
    tcp/udp take a port range ``from_port``-``to_port``; icmp takes a type (``from_port``) and
    a code (``to_port``), -1 meaning any. The peer is a CIDR or a group's members: the source
    of ingress traffic, the destination of egress traffic. Values are checked and normalised
    on construction (``"6"`` becomes ``"tcp"``); ``description`` is not part of the rule's identity."""

    direction: str
    protocol: str = ALL
    from_port: int = -1
    to_port: int = -1
    cidr: str | None = None
    group_id: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.direction not in (INGRESS, EGRESS):
            raise InvalidArgument(f"rule direction {self.direction!r} is not ingress or egress")
        proto = str(self.protocol).strip().lower()
        if proto == "all":
            proto = ALL
        if proto in ("58", "icmpv6"):
            raise InvalidArgument("ICMPv6 rules need IPv6, which this cloud's network does not carry")
        if proto.isdigit():
            number = int(proto)
            if number > 255:
                raise InvalidArgument(f"IP protocol {proto} is not a number from 0 to 255")
            proto = next((name for name, n in PROTOCOL_NUMBERS.items() if n == number), str(number))
        elif proto not in (ALL, *PROTOCOL_NUMBERS):
            raise InvalidArgument(f"protocol {self.protocol!r} is not tcp, udp, icmp, -1 or a protocol number")
        low, high = _int(self.from_port, "port"), _int(self.to_port, "port")
        if proto in ("tcp", "udp"):
            if (low, high) == (-1, -1):
                low, high = 0, 65535
            if not (0 <= low <= 65535 and 0 <= high <= 65535) or low > high:
                raise InvalidArgument(f"{proto} port range {low}-{high} is not within 0-65535 in order")
        elif proto == "icmp":
            if not (-1 <= low <= 255 and -1 <= high <= 255):
                raise InvalidArgument(f"ICMP type {low} / code {high} must each be -1 or 0-255")
            if low == -1 and high != -1:
                raise InvalidArgument("an ICMP code needs an ICMP type")
        else:
            low, high = -1, -1  # ports mean nothing for other protocols (AWS ignores them)
        if (self.cidr is None) == (self.group_id is None):
            raise InvalidArgument("a rule names exactly one peer: a CIDR or a security group")
        cidr = self.cidr
        if cidr is not None:
            try:
                cidr = str(ipaddress.IPv4Network(str(cidr).strip(), strict=True))
            except ValueError:
                raise InvalidArgument(f"CIDR block {self.cidr!r} is malformed") from None
        if self.group_id is not None:
            check_group_id(self.group_id)
        if len(self.description) > 255:
            raise InvalidArgument("a rule description is at most 255 characters")
        object.__setattr__(self, "protocol", proto)
        object.__setattr__(self, "from_port", low)
        object.__setattr__(self, "to_port", high)
        object.__setattr__(self, "cidr", cidr)

    @property
    def key(self) -> tuple:
        """What makes two rules the same rule (the description does not)."""
        return (self.direction, self.protocol, self.from_port, self.to_port, self.cidr, self.group_id)


ALLOW_ALL_EGRESS = Rule(EGRESS, ALL, cidr="0.0.0.0/0")


def default_rules(group_id: str) -> tuple[Rule, ...]:
    """A VPC default group's rules, as AWS makes them: members reach each other, egress is open."""
    return (Rule(INGRESS, ALL, group_id=check_group_id(group_id)), ALLOW_ALL_EGRESS)


@dataclass(frozen=True)
class SecurityGroup:
    group_id: str
    rules: tuple[Rule, ...] = ()

    def referenced_groups(self) -> set[str]:
        return {r.group_id for r in self.rules if r.group_id}


@dataclass(frozen=True)
class Member:
    """An instance, its private address and the groups it is in."""

    instance_id: str
    private_ip: str
    group_ids: tuple[str, ...]


@dataclass
class _State:
    groups: dict[str, SecurityGroup] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)

    def copy(self) -> _State:
        return _State(dict(self.groups), dict(self.members))


def _chain(prefix: str, some_id: str, direction: str) -> str:
    return f"{prefix}_{some_id.split('-', 1)[1]}_{'in' if direction == INGRESS else 'out'}"


def _set_name(group_id: str) -> str:
    return f"members_{group_id.split('-', 1)[1]}"


def rule_statement(rule: Rule) -> str:
    """The nft statement that accepts what ``rule`` allows (values are all checked, never raw text)."""
    side = "saddr" if rule.direction == INGRESS else "daddr"
    parts: list[str] = []
    if rule.group_id:
        parts.append(f"ip {side} @{_set_name(rule.group_id)}")
    elif rule.cidr != "0.0.0.0/0":
        parts.append(f"ip {side} {rule.cidr}")
    if rule.protocol in ("tcp", "udp"):
        if (rule.from_port, rule.to_port) == (0, 65535):
            parts.append(f"meta l4proto {rule.protocol}")
        elif rule.from_port == rule.to_port:
            parts.append(f"{rule.protocol} dport {rule.from_port}")
        else:
            parts.append(f"{rule.protocol} dport {rule.from_port}-{rule.to_port}")
    elif rule.protocol == "icmp":
        if rule.from_port == -1:
            parts.append("meta l4proto icmp")
        else:
            parts.append(f"icmp type {rule.from_port}")
            if rule.to_port != -1:
                parts.append(f"icmp code {rule.to_port}")
    elif rule.protocol != ALL:
        parts.append(f"ip protocol {int(rule.protocol)}")
    parts.append("accept")
    return " ".join(parts)


def render(state: _State, table: str, bridge: str, subnet: ipaddress.IPv4Network) -> str:
    """The whole table for ``state``, as one nft script that replaces any previous version."""
    gateway = subnet.network_address + 1
    special = f"{{ {gateway}, {subnet.broadcast_address} }}"
    out = [f"add table ip {table}", f"delete table ip {table}", f"table ip {table} {{"]
    referenced = sorted(set().union(*(g.referenced_groups() for g in state.groups.values())))
    for gid in referenced:
        addresses = sorted((m.private_ip for m in state.members.values() if gid in m.group_ids),
                           key=ipaddress.IPv4Address)
        elements = f" elements = {{ {', '.join(addresses)} }};" if addresses else ""
        out.append(f"  set {_set_name(gid)} {{ type ipv4_addr;{elements} }}")
    for gid, group in sorted(state.groups.items()):
        for direction in (INGRESS, EGRESS):
            out.append(f"  chain {_chain('sg', gid, direction)} {{")
            out += [f"    {rule_statement(r)}" for r in group.rules if r.direction == direction]
            out.append("  }")
    ingress, egress = [], []
    for iid, member in sorted(state.members.items()):
        for direction, verdicts in ((INGRESS, ingress), (EGRESS, egress)):
            name = _chain("i", iid, direction)
            out.append(f"  chain {name} {{")
            out += [f"    jump {_chain('sg', gid, direction)}" for gid in member.group_ids]
            out += ["    drop", "  }"]
            verdicts.append(f"{member.private_ip} : jump {name}")
    for name, verdicts in (("ingress", ingress), ("egress", egress)):
        elements = f" elements = {{ {', '.join(verdicts)} }};" if verdicts else ""
        out.append(f"  map {name} {{ type ipv4_addr : verdict;{elements} }}")
    out += [
        # Another instance's or the outside world's packets to an instance.
        "  chain forward_ingress {",
        "    type filter hook forward priority filter - 5; policy accept;",
        f'    oifname != "{bridge}" accept',
        "    ct state established,related accept",
        "    ip daddr vmap @ingress",
        f"    ip daddr {subnet} ip daddr != {special} drop",
        "  }",
        # An instance's packets to another instance or the outside world.
        "  chain forward_egress {",
        "    type filter hook forward priority filter - 6; policy accept;",
        f'    iifname != "{bridge}" accept',
        "    ct state established,related accept",
        "    ip saddr vmap @egress",
        "  }",
        # The host's packets to an instance (keyed by address: after an elastic IP's DNAT in
        # output, the hook's output device is still the one routed before it).
        "  chain output_ingress {",
        "    type filter hook output priority filter - 5; policy accept;",
        f"    ip daddr != {subnet} accept",
        f"    ip daddr {special} accept",
        "    ct state established,related accept",
        "    udp sport 67 udp dport 68 accept",
        "    ip daddr vmap @ingress",
        "    drop",
        "  }",
        # An instance's packets to the host: DHCP, DNS and metadata always pass.
        "  chain input_egress {",
        "    type filter hook input priority filter - 5; policy accept;",
        f'    iifname != "{bridge}" accept',
        "    ct state established,related accept",
        "    udp dport 67 accept",
        f"    ip daddr {gateway} meta l4proto {{ tcp, udp }} th dport 53 accept",
        f"    ct original ip daddr {METADATA_ADDRESS} accept",
        "    ip saddr vmap @egress",
        "  }",
        "}",
    ]
    return "\n".join(out) + "\n"


def ensure_bridge_netfilter() -> None:
    """Make bridged IPv4 traffic pass the nftables hooks (br_netfilter), or say how to."""
    if not BRIDGE_NF.exists():
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, timeout=30)
    try:
        if BRIDGE_NF.read_text().strip() != "1":
            BRIDGE_NF.write_text("1\n")
    except OSError as e:
        raise NetworkError(
            f"security groups need bridged traffic to pass netfilter and {BRIDGE_NF} cannot be set ({e.strerror}); "
            "run 'modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1'"
        ) from None


class SecurityGroupFirewall:
    """The security groups of one instance network, and the nftables table that enforces them.

    The EC2 layer is the system of record: at start it hands over every group and membership
    (:meth:`load`) and then reports each change through the small methods below. Each change
    is checked first (a refused change changes nothing), then the whole table is replaced in
    one transaction; only when that succeeds does the in-memory view move on. Until
    :meth:`setup`, changes are only remembered, so a driver that never sets the firewall up
    filters nothing.
    """

    def __init__(self, *, network_name: str, bridge: str, subnet: str, netns: str | None = None):
        if not _IFNAME.fullmatch(bridge):
            raise NetworkError(f"{bridge!r} is not an interface name")
        self.table = f"{table_name_for(network_name)}_sg"
        self.bridge = bridge
        self.subnet = ipaddress.IPv4Network(subnet, strict=True)
        self.netns = netns
        self._prefix: tuple[str, ...] = ("ip", "netns", "exec", netns) if netns else ()
        self._state = _State()
        self._active = False
        self._lock = threading.RLock()

    @classmethod
    def for_driver(cls, driver) -> SecurityGroupFirewall:
        """The firewall of the driver's network; terminate forgets an instance, teardown removes the table."""
        fw = cls(network_name=driver.network.name, bridge=driver.network.bridge, subnet=str(driver.network.subnet))
        driver.enable_anti_spoofing()  # rules keyed by address need addresses that cannot be forged
        driver.on_terminate(fw.forget_instance)
        driver.on_teardown(fw.teardown)
        return fw

    # -- reading ------------------------------------------------------------

    def groups(self) -> dict[str, SecurityGroup]:
        with self._lock:
            return dict(self._state.groups)

    def group(self, group_id: str) -> SecurityGroup:
        with self._lock:
            try:
                return self._state.groups[check_group_id(group_id)]
            except KeyError:
                raise GroupNotFound(group_id) from None

    def members(self) -> dict[str, Member]:
        with self._lock:
            return dict(self._state.members)

    def ruleset(self) -> str:
        with self._lock:
            return render(self._state, self.table, self.bridge, self.subnet)

    def installed(self) -> bool:
        r = subprocess.run([*self._prefix, "nft", "list", "table", "ip", self.table], capture_output=True, timeout=30)
        return r.returncode == 0

    # -- changing -------------------------------------------------------------

    def _commit(self, state: _State) -> None:
        """Apply ``state`` (when active) and make it current; on failure nothing changes."""
        self._check(state)
        if self._active:
            run_nft(render(state, self.table, self.bridge, self.subnet),
                    f"update the security groups in nftables table {self.table}", self._prefix)
        self._state = state

    def _check(self, state: _State) -> None:
        for group in state.groups.values():
            for gid in group.referenced_groups():
                if gid not in state.groups:
                    raise GroupNotFound(gid)
        for member in state.members.values():
            for gid in member.group_ids:
                if gid not in state.groups:
                    raise GroupNotFound(gid)

    def setup(self) -> None:
        """Install the table (bridge netfilter enabled first) and keep it current from now on."""
        with self._lock:
            if self.netns is None:
                ensure_bridge_netfilter()
            self._active = True
            try:
                self._commit(self._state.copy())
            except BaseException:
                self._active = False
                raise

    def teardown(self) -> None:
        """Remove the table (idempotent); the groups stay remembered but are no longer enforced."""
        with self._lock:
            self._active = False
            run_nft(f"add table ip {self.table}\ndelete table ip {self.table}\n",
                    f"remove nftables table {self.table}", self._prefix)

    def load(self, groups: Iterable[SecurityGroup], members: Iterable[Member]) -> None:
        """Replace everything with the EC2 layer's records (at service start)."""
        state = _State()
        for g in groups:
            check_group_id(g.group_id)
            state.groups[g.group_id] = SecurityGroup(g.group_id, _unique(g.rules, g.group_id))
        for m in members:
            state.members[m.instance_id] = _checked_member(m, self.subnet)
        with self._lock:
            self._commit(state)

    def create_group(self, group_id: str, rules: Iterable[Rule] = ()) -> SecurityGroup:
        with self._lock:
            if check_group_id(group_id) in self._state.groups:
                raise GroupExists(group_id)
            state = self._state.copy()
            state.groups[group_id] = SecurityGroup(group_id, _unique(rules, group_id))
            self._commit(state)
            return state.groups[group_id]

    def delete_group(self, group_id: str) -> None:
        with self._lock:
            self.group(group_id)
            users = sorted(m.instance_id for m in self._state.members.values() if group_id in m.group_ids)
            if users:
                raise GroupInUse(group_id, "members", users)
            referring = sorted(g.group_id for g in self._state.groups.values()
                               if g.group_id != group_id and group_id in g.referenced_groups())
            if referring:
                raise GroupInUse(group_id, "referenced", referring)
            state = self._state.copy()
            del state.groups[group_id]
            self._commit(state)

    def authorize(self, group_id: str, rules: Iterable[Rule]) -> SecurityGroup:
        """Add rules; DuplicateRule (and no change) if one is already there or given twice."""
        with self._lock:
            group = self.group(group_id)
            added = _unique(rules, group_id)
            present = {r.key for r in group.rules}
            for r in added:
                if r.key in present:
                    raise DuplicateRule(f"the rule {describe_rule(r)} already exists in security group {group_id}")
            state = self._state.copy()
            state.groups[group_id] = replace(group, rules=group.rules + added)
            self._commit(state)
            return state.groups[group_id]

    def revoke(self, group_id: str, rules: Iterable[Rule]) -> SecurityGroup:
        """Remove rules; RuleNotFound (and no change) if one of them is not in the group."""
        with self._lock:
            group = self.group(group_id)
            gone = {r.key for r in rules}
            present = {r.key for r in group.rules}
            for key in gone - present:
                raise RuleNotFound(f"the rule {describe_rule(Rule(*key))} does not exist in security group {group_id}")
            state = self._state.copy()
            state.groups[group_id] = replace(group, rules=tuple(r for r in group.rules if r.key not in gone))
            self._commit(state)
            return state.groups[group_id]

    def set_instance_groups(self, instance_id: str, private_ip: str, group_ids: Iterable[str]) -> Member:
        """Put an instance (at ``private_ip``) in exactly these groups, live; an earlier
        member at the same address (a terminated instance) is dropped."""
        member = _checked_member(Member(instance_id, private_ip, tuple(group_ids)), self.subnet)
        with self._lock:
            state = self._state.copy()
            for other in [m for m in state.members.values() if m.private_ip == member.private_ip]:
                del state.members[other.instance_id]
            state.members[instance_id] = member
            self._commit(state)
            return member

    def forget_instance(self, instance_id: str) -> bool:
        """Drop an instance (terminated); False if it was not a member."""
        with self._lock:
            if instance_id not in self._state.members:
                return False
            state = self._state.copy()
            del state.members[instance_id]
            self._commit(state)
            return True


def _unique(rules: Iterable[Rule], group_id: str) -> tuple[Rule, ...]:
    out: list[Rule] = []
    seen: set[tuple] = set()
    for r in rules:
        if not isinstance(r, Rule):
            raise InvalidArgument(f"{r!r} is not a security group rule")
        if r.key in seen:
            raise DuplicateRule(f"the rule {describe_rule(r)} is given twice for security group {group_id}")
        seen.add(r.key)
        out.append(r)
    return tuple(out)


def _checked_member(member: Member, subnet: ipaddress.IPv4Network) -> Member:
    ids.check_instance_id(member.instance_id)
    try:
        address = ipaddress.IPv4Address(member.private_ip)
    except ValueError:
        raise InvalidArgument(f"{member.private_ip!r} is not an IPv4 address") from None
    if address not in subnet or address in (subnet.network_address, subnet.network_address + 1,
                                            subnet.broadcast_address):
        raise InvalidArgument(f"{address} is not an instance address of subnet {subnet}")
    groups = tuple(dict.fromkeys(check_group_id(g) for g in member.group_ids))
    return Member(member.instance_id, str(address), groups)


def describe_rule(rule: Rule) -> str:
    """Words for a rule in messages: 'ingress tcp 80-80 from 0.0.0.0/0'."""
    peer = rule.cidr or rule.group_id
    ports = "" if rule.protocol == ALL or rule.from_port == -1 else f" {rule.from_port}-{rule.to_port}"
    proto = "all traffic" if rule.protocol == ALL else rule.protocol
    return f"{rule.direction} {proto}{ports} {'from' if rule.direction == INGRESS else 'to'} {peer}"
