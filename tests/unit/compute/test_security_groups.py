"""Security groups: rules as a user writes them, the firewall's bookkeeping, and real packets.

The packet tests run the real kernel in two network namespaces the test makes
(a "host" with the gateway address on a veth that stands in for the bridge,
and a "guest" with an instance address): the output and input hooks see the
same traffic there as on a real bridge, without booting anything.
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest

from silvereye.compute.errors import InvalidArgument
from silvereye.compute.security_groups import (
    ALLOW_ALL_EGRESS,
    DuplicateRule,
    GroupExists,
    GroupInUse,
    GroupNotFound,
    Member,
    Rule,
    RuleNotFound,
    SecurityGroup,
    SecurityGroupFirewall,
    default_rules,
    rule_statement,
)

WEB, ADMIN, OTHER = "sg-0000000a", "sg-0000000b", "sg-0000000c"
I1, I2 = "i-0000000000000000a", "i-0000000000000000b"
SUBNET = "10.77.0.0/24"


def tcp(port, peer="0.0.0.0/0", direction="ingress", to=None, description=""):
    key = "group_id" if peer.startswith("sg-") else "cidr"
    return Rule(direction, "tcp", port, port if to is None else to, description=description, **{key: peer})


# -- rules --------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    (dict(protocol="6", from_port=22, to_port=22), ("tcp", 22, 22)),
    (dict(protocol="UDP", from_port="53", to_port="53"), ("udp", 53, 53)),
    (dict(protocol="tcp", from_port=-1, to_port=-1), ("tcp", 0, 65535)),
    (dict(protocol="-1", from_port=80, to_port=90), ("-1", -1, -1)),
    (dict(protocol="all"), ("-1", -1, -1)),
    (dict(protocol="1", from_port=8, to_port=-1), ("icmp", 8, -1)),
    (dict(protocol="50", from_port=1, to_port=2), ("50", -1, -1)),
])
def test_rules_are_normalised_the_way_ec2_reads_them(given, expected):
    rule = Rule("ingress", cidr="10.0.0.0/8", **given)
    assert (rule.protocol, rule.from_port, rule.to_port) == expected


@pytest.mark.parametrize("given, message", [
    (dict(direction="sideways", cidr="0.0.0.0/0"), "direction"),
    (dict(direction="ingress", protocol="tcp", from_port=90, to_port=80, cidr="0.0.0.0/0"), "port range"),
    (dict(direction="ingress", protocol="tcp", from_port=0, to_port=70000, cidr="0.0.0.0/0"), "port range"),
    (dict(direction="ingress", protocol="icmp", from_port=-1, to_port=3, cidr="0.0.0.0/0"), "ICMP code needs"),
    (dict(direction="ingress", protocol="gre", cidr="0.0.0.0/0"), "protocol"),
    (dict(direction="ingress", protocol="300", cidr="0.0.0.0/0"), "0 to 255"),
    (dict(direction="ingress", protocol="icmpv6", cidr="0.0.0.0/0"), "IPv6"),
    (dict(direction="ingress", cidr="10.0.0.5/8"), "malformed"),
    (dict(direction="ingress", cidr="10.0.0.0/8", group_id=WEB), "exactly one peer"),
    (dict(direction="ingress"), "exactly one peer"),
    (dict(direction="ingress", group_id="sg-nothex!"), "security group id"),
    (dict(direction="ingress", protocol="tcp", from_port="eighty", to_port=80, cidr="0.0.0.0/0"), "not a number"),
])
def test_bad_rules_are_refused_with_the_reason(given, message):
    with pytest.raises(InvalidArgument, match=message):
        Rule(**given)


def test_each_rule_becomes_one_accept_statement():
    assert rule_statement(tcp(80)) == "tcp dport 80 accept"
    assert rule_statement(tcp(8000, "10.1.0.0/16", to=8080)) == "ip saddr 10.1.0.0/16 tcp dport 8000-8080 accept"
    assert rule_statement(tcp(5432, ADMIN)) == "ip saddr @members_0000000b tcp dport 5432 accept"
    assert rule_statement(Rule("ingress", "icmp", 8, 0, cidr="0.0.0.0/0")) == "icmp type 8 icmp code 0 accept"
    assert rule_statement(Rule("ingress", "icmp", cidr="0.0.0.0/0")) == "meta l4proto icmp accept"
    assert rule_statement(Rule("egress", "udp", 0, 65535, cidr="10.0.0.0/8")) == \
        "ip daddr 10.0.0.0/8 meta l4proto udp accept"
    assert rule_statement(ALLOW_ALL_EGRESS) == "accept"
    assert rule_statement(Rule("egress", "47", cidr="192.0.2.0/24")) == "ip daddr 192.0.2.0/24 ip protocol 47 accept"
    assert default_rules(WEB)[0] == Rule("ingress", "-1", group_id=WEB)


# -- bookkeeping ------------------------------------------------------------------


@pytest.fixture
def firewall():
    """A firewall never set up: it keeps the books without touching the host."""
    fw = SecurityGroupFirewall(network_name="unit", bridge="sebr-unit", subnet=SUBNET)
    fw.create_group(WEB, [ALLOW_ALL_EGRESS])
    fw.create_group(ADMIN, [ALLOW_ALL_EGRESS])
    return fw


def test_authorize_and_revoke_change_only_what_they_name(firewall):
    firewall.authorize(WEB, [tcp(80), tcp(443, description="https")])
    firewall.revoke(WEB, [tcp(80, description="the description does not matter")])
    assert [r.from_port for r in firewall.group(WEB).rules if r.protocol == "tcp"] == [443]


def test_a_duplicate_rule_is_refused_and_nothing_changes(firewall):
    firewall.authorize(WEB, [tcp(80)])
    before = firewall.group(WEB)
    with pytest.raises(DuplicateRule, match="ingress tcp 80-80 from 0.0.0.0/0 already exists"):
        firewall.authorize(WEB, [tcp(22), tcp(80)])
    with pytest.raises(DuplicateRule, match="given twice"):
        firewall.authorize(WEB, [tcp(25), tcp(25)])
    assert firewall.group(WEB) == before


def test_revoking_a_rule_that_is_not_there_changes_nothing(firewall):
    firewall.authorize(WEB, [tcp(80)])
    with pytest.raises(RuleNotFound, match="ingress tcp 81-81"):
        firewall.revoke(WEB, [tcp(80), tcp(81)])
    assert tcp(80).key in {r.key for r in firewall.group(WEB).rules}


def test_groups_in_use_cannot_be_deleted(firewall):
    firewall.authorize(WEB, [tcp(22, ADMIN)])
    with pytest.raises(GroupInUse, match="rules of groups sg-0000000a") as referenced:
        firewall.delete_group(ADMIN)
    assert referenced.value.kind == "referenced"
    firewall.set_instance_groups(I1, "10.77.0.5", [WEB])
    with pytest.raises(GroupInUse, match=f"instances {I1}"):
        firewall.delete_group(WEB)
    firewall.forget_instance(I1)
    firewall.delete_group(WEB)
    firewall.delete_group(ADMIN)
    assert firewall.groups() == {}


def test_unknown_groups_and_bad_members_are_refused(firewall):
    with pytest.raises(GroupExists):
        firewall.create_group(WEB)
    with pytest.raises(GroupNotFound):
        firewall.authorize(OTHER, [tcp(80)])
    with pytest.raises(GroupNotFound, match=OTHER):
        firewall.authorize(WEB, [tcp(80, OTHER)])
    with pytest.raises(GroupNotFound, match=OTHER):
        firewall.set_instance_groups(I1, "10.77.0.5", [WEB, OTHER])
    for address in ("10.78.0.5", "10.77.0.1", "10.77.0.255", "not-an-address"):
        with pytest.raises(InvalidArgument):
            firewall.set_instance_groups(I1, address, [WEB])
    assert firewall.members() == {}


def test_an_address_reused_by_a_new_instance_drops_the_old_member(firewall):
    firewall.set_instance_groups(I1, "10.77.0.5", [WEB, ADMIN])
    firewall.set_instance_groups(I2, "10.77.0.5", [WEB])
    assert list(firewall.members()) == [I2]
    assert firewall.forget_instance(I1) is False


def test_members_fill_the_sets_source_group_rules_match(firewall):
    firewall.authorize(WEB, [tcp(5432, ADMIN)])
    firewall.set_instance_groups(I1, "10.77.0.9", [ADMIN])
    firewall.set_instance_groups(I2, "10.77.0.10", [WEB])
    text = firewall.ruleset()
    assert "set members_0000000b { type ipv4_addr; elements = { 10.77.0.9 }; }" in text
    assert "10.77.0.10 : jump i_0000000000000000b_in" in text
    assert subprocess.run(["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True).returncode == 0


# -- real packets in network namespaces ----------------------------------------------


@dataclass
class Lab:
    host: str  # namespace with the gateway address; the veth stands in for the bridge
    guest: str  # namespace with the instance address
    bridge: str
    gateway: str = "10.77.0.1"
    address: str = "10.77.0.5"
    subnet: str = SUBNET
    processes: list = field(default_factory=list)

    def sh(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} in {ns}: {r.stderr}")
        return r

    def listen(self, ns: str, address: str, port: int) -> subprocess.Popen:
        """A TCP listener (answering each connection with its peer's address) inside ``ns``."""
        code = ("import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                "s.bind((sys.argv[1],int(sys.argv[2])));s.listen(16);print('up',flush=True)\n"
                "while True:\n c,a=s.accept();c.sendall(a[0].encode());c.close()\n")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code, address, str(port)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "up"
        self.processes.append(proc)
        return proc

    def connect(self, ns: str, address: str, port: int, timeout: float = 0.5) -> str | None:
        """The peer address the listener saw, or None when the connection did not get through."""
        code = ("import socket,sys\ntry:\n s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=float(sys.argv[3]))\n"
                " print(s.recv(64).decode())\nexcept OSError:\n sys.exit(1)\n")
        r = self.sh(ns, sys.executable, "-c", code, address, str(port), str(timeout), check=False)
        return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture
def lab():
    tag = secrets.token_hex(3)
    lab = Lab(host=f"netstore-h{tag}", guest=f"netstore-g{tag}", bridge=f"nsv{tag}")
    for ns in (lab.host, lab.guest):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", lab.bridge, "netns", lab.host, "type", "veth", "peer", "name", "eth0",
                        "netns", lab.guest], check=True)
        prefix = ipaddress.IPv4Network(lab.subnet).prefixlen
        for ns, dev, address in ((lab.host, lab.bridge, lab.gateway), (lab.guest, "eth0", lab.address)):
            lab.sh(ns, "ip", "link", "set", "lo", "up")
            lab.sh(ns, "ip", "addr", "add", f"{address}/{prefix}", "dev", dev)
            lab.sh(ns, "ip", "link", "set", dev, "up")
        lab.sh(lab.guest, "ip", "route", "add", "default", "via", lab.gateway)
        yield lab
    finally:
        for proc in lab.processes:
            proc.kill()
            proc.wait()
        for ns in (lab.host, lab.guest):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def wait_until(predicate, timeout: float = 2.0) -> float:
    """Seconds until ``predicate()`` held (AssertionError after ``timeout``)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_rule_opens_a_port_live_and_revoking_it_closes_it(lab):
    fw = SecurityGroupFirewall(network_name=lab.host, bridge=lab.bridge, subnet=lab.subnet, netns=lab.host)
    lab.listen(lab.guest, "0.0.0.0", 80)
    assert lab.connect(lab.host, lab.address, 80) == lab.gateway  # nothing installed: open
    fw.create_group(WEB, [ALLOW_ALL_EGRESS])
    fw.setup()
    try:
        assert fw.installed()
        assert lab.connect(lab.host, lab.address, 80) is None  # an address with no member: closed
        fw.set_instance_groups(I1, lab.address, [WEB])
        assert lab.connect(lab.host, lab.address, 80) is None  # a member without the rule: closed
        fw.authorize(WEB, [tcp(80)])
        assert wait_until(lambda: lab.connect(lab.host, lab.address, 80) == lab.gateway) < 1.0
        fw.revoke(WEB, [tcp(80)])
        assert lab.connect(lab.host, lab.address, 80) is None
        fw.authorize(WEB, [tcp(80, f"{lab.gateway}/32")])
        assert lab.connect(lab.host, lab.address, 80) == lab.gateway
    finally:
        fw.teardown()
    assert not fw.installed()
    assert lab.connect(lab.host, lab.address, 80) == lab.gateway


def test_egress_rules_hold_back_an_instance_but_never_dns_dhcp_or_metadata(lab):
    fw = SecurityGroupFirewall(network_name=lab.host, bridge=lab.bridge, subnet=lab.subnet, netns=lab.host)
    lab.listen(lab.host, lab.gateway, 8080)
    lab.listen(lab.host, lab.gateway, 53)
    fw.create_group(WEB, [ALLOW_ALL_EGRESS])
    fw.set_instance_groups(I1, lab.address, [WEB])
    fw.setup()
    try:
        assert lab.connect(lab.guest, lab.gateway, 8080) == lab.address
        fw.revoke(WEB, [ALLOW_ALL_EGRESS])
        assert lab.connect(lab.guest, lab.gateway, 8080) is None
        assert lab.connect(lab.guest, lab.gateway, 53) == lab.address  # DNS to the gateway always passes
        fw.authorize(WEB, [tcp(8080, f"{lab.gateway}/32", direction="egress")])
        assert lab.connect(lab.guest, lab.gateway, 8080) == lab.address
    finally:
        fw.teardown()


def test_changing_an_instances_groups_takes_effect_live(lab):
    fw = SecurityGroupFirewall(network_name=lab.host, bridge=lab.bridge, subnet=lab.subnet, netns=lab.host)
    lab.listen(lab.guest, "0.0.0.0", 80)
    fw.load([SecurityGroup(WEB, (tcp(80), ALLOW_ALL_EGRESS)), SecurityGroup(ADMIN, (ALLOW_ALL_EGRESS,))],
            [Member(I1, lab.address, (ADMIN,))])
    fw.setup()
    try:
        assert lab.connect(lab.host, lab.address, 80) is None
        fw.set_instance_groups(I1, lab.address, [ADMIN, WEB])
        assert lab.connect(lab.host, lab.address, 80) == lab.gateway
        assert fw.forget_instance(I1)
        assert lab.connect(lab.host, lab.address, 80) is None
    finally:
        fw.teardown()


# -- the driver's side ----------------------------------------------------------------


def test_the_firewall_of_a_driver_pins_instances_to_their_addresses_and_forgets_them(driver, launch):
    fw = SecurityGroupFirewall.for_driver(driver)
    assert driver.anti_spoofing
    info = launch()
    conn = driver.nodes[0].connection()
    iface = ET.fromstring(conn.lookupByName(info.domain_name).XMLDesc(0)).find("devices/interface")
    assert iface.find("filterref").get("filter") == "clean-traffic"
    assert iface.find("filterref/parameter").attrib == {"name": "IP", "value": info.private_ip}
    fw.create_group(WEB)
    fw.set_instance_groups(info.instance_id, info.private_ip, [WEB])
    driver.terminate(info.instance_id)
    assert fw.members() == {}
