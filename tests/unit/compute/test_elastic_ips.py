"""Elastic IPs: checks, reassociation, and real packets through DNAT/SNAT in network namespaces.

Besides the lab's host and guest namespaces, an "outside" namespace sits on
the public side: it reaches the guest through the elastic address (prerouting
DNAT and the forward acceptance), the host reaches it too (output DNAT), and
the guest's own connections to the outside leave with the elastic address
(postrouting SNAT).
"""

from __future__ import annotations

import subprocess

import pytest

from silvereye.compute.elastic_ips import AddressInUse, Association, ElasticIPs, render
from silvereye.compute.errors import InvalidArgument, NetworkError
from tests.unit.compute.test_security_groups import I1, I2, lab, wait_until  # noqa: F401  (the namespace lab)

PUBLIC = [f"198.18.7.{n}" for n in range(16, 20)]


def book(**kw) -> ElasticIPs:
    """An ElasticIPs never set up: bookkeeping only."""
    args = dict(network_name="unit", bridge="sebr-unit", subnet="10.77.0.0/24", public_range=PUBLIC, interface="lo")
    return ElasticIPs(**{**args, **kw})


def test_an_association_is_a_dnat_both_ways_and_an_snat():
    text = render([Association("198.18.7.16", I1, "10.77.0.5")], "t_eip", "br0",
                  __import__("ipaddress").IPv4Network("10.77.0.0/24"))
    assert text.count("ip daddr 198.18.7.16 dnat to 10.77.0.5") == 2  # prerouting and output
    assert 'oifname != "br0" ip saddr 10.77.0.5 snat to 198.18.7.16' in text
    assert 'oifname "br0" ip saddr 10.77.0.0/24 ct status dnat snat to 10.77.0.1' in text
    assert subprocess.run(["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True).returncode == 0


def test_addresses_outside_the_range_or_subnet_are_refused():
    eips = book()
    with pytest.raises(InvalidArgument, match="not an address of the elastic IP range"):
        eips.associate("198.18.7.99", I1, "10.77.0.5")
    with pytest.raises(InvalidArgument, match="not an instance address"):
        eips.associate("198.18.7.16", I1, "10.78.0.5")
    with pytest.raises(InvalidArgument):
        eips.associate("198.18.7.16", "i-bad", "10.77.0.5")
    with pytest.raises(NetworkError, match="overlaps the instance subnet"):
        book(public_range=["10.77.0.200"])
    assert eips.associations() == {}


def test_reassociation_moves_an_address_and_an_instance_keeps_one_address():
    eips = book()
    assert eips.associate("198.18.7.16", I1, "10.77.0.5") == []
    assert eips.associate("198.18.7.16", I1, "10.77.0.5") == []  # the same again: nothing to do
    moved = eips.associate("198.18.7.16", I2, "10.77.0.6")
    assert moved == [Association("198.18.7.16", I1, "10.77.0.5")]
    with pytest.raises(AddressInUse, match=I2):
        eips.associate("198.18.7.16", I1, "10.77.0.5", allow_reassociation=False)
    replaced = eips.associate("198.18.7.17", I2, "10.77.0.6")
    assert replaced == [Association("198.18.7.16", I2, "10.77.0.6")]
    assert list(eips.associations()) == ["198.18.7.17"]
    assert eips.forget_instance(I2) == Association("198.18.7.17", I2, "10.77.0.6")
    assert eips.disassociate("198.18.7.17") is None


@pytest.fixture
def outside(lab):  # noqa: F811
    """A third namespace at 198.18.7.2 on a veth whose host end (198.18.7.1) carries the public range."""
    ns = lab.guest.replace("netstore-g", "netstore-o")
    dev = lab.bridge.replace("nsv", "nsp")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", dev, "netns", lab.host, "type", "veth", "peer", "name", "eth0",
                        "netns", ns], check=True)
        lab.sh(lab.host, "ip", "addr", "add", "198.18.7.1/24", "dev", dev)
        lab.sh(lab.host, "ip", "link", "set", dev, "up")
        lab.sh(lab.host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        lab.sh(ns, "ip", "link", "set", "lo", "up")
        lab.sh(ns, "ip", "addr", "add", "198.18.7.2/24", "dev", "eth0")
        lab.sh(ns, "ip", "link", "set", "eth0", "up")
        yield ns, dev
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_the_elastic_address_reaches_the_instance_from_outside_and_from_the_host(lab, outside):  # noqa: F811
    ns, dev = outside
    eips = ElasticIPs(network_name=lab.host, bridge=lab.bridge, subnet=lab.subnet, public_range=PUBLIC,
                      interface=dev, netns=lab.host)
    lab.listen(lab.guest, "0.0.0.0", 80)
    lab.listen(ns, "198.18.7.2", 8080)
    public = PUBLIC[1]
    assert lab.connect(ns, public, 80) is None
    assert lab.connect(lab.guest, "198.18.7.2", 8080) is None  # no SNAT: the outside has no route back
    eips.setup()
    try:
        assert eips.installed()
        assert lab.sh(lab.host, "iptables", "-S", "FORWARD").stdout.splitlines()[1] == f"-A FORWARD -j {eips.chain}"
        eips.associate(public, I1, lab.address)
        assert eips.interface_addresses() == {public}
        # from outside: DNAT, forwarded (the first try waits out the neighbour entry that failed above)
        wait_until(lambda: lab.connect(ns, public, 80) == "198.18.7.2", timeout=5)
        assert lab.connect(lab.host, public, 80) is not None  # from the host itself: output DNAT
        assert lab.connect(lab.guest, "198.18.7.2", 8080) == public  # the instance goes out as its elastic IP
        assert eips.disassociate(public) == Association(public, I1, lab.address)
        assert eips.interface_addresses() == set()
        assert lab.connect(ns, public, 80) is None
        assert lab.connect(lab.host, public, 80) is None
        assert lab.connect(lab.guest, "198.18.7.2", 8080) is None
        eips.associate(public, I1, lab.address)
    finally:
        eips.teardown()
    assert not eips.installed()
    assert eips.interface_addresses() == set()
    assert eips.chain not in lab.sh(lab.host, "iptables", "-S").stdout
    assert lab.connect(ns, public, 80) is None


def test_a_range_the_host_already_uses_is_refused_at_setup(lab):  # noqa: F811
    lab.sh(lab.host, "ip", "addr", "add", f"{PUBLIC[2]}/28", "dev", lab.bridge)
    eips = ElasticIPs(network_name=lab.host, bridge=lab.bridge, subnet=lab.subnet, public_range=PUBLIC,
                      interface=lab.bridge, netns=lab.host)
    with pytest.raises(NetworkError, match=f"{PUBLIC[2]}/28 on {lab.bridge} is in the elastic IP range"):
        eips.setup()
    assert not eips.installed()
