"""The elastic IP range against what the host already uses, with the host's facts handed in."""

from __future__ import annotations

import ipaddress
import json

from silvereye.preflight.checks.elastic_ips import collisions
from silvereye.preflight.facts import Address, Route

IP = ipaddress.IPv4Address
SUBNET = ipaddress.IPv4Network("10.214.0.0/24")
ETH0 = Address(ipaddress.IPv4Interface("192.168.1.10/24"), dev="eth0")
ROUTES = [Route("eth0", ipaddress.IPv4Network("0.0.0.0/0"), IP("192.168.1.1")),
          Route("eth0", ipaddress.IPv4Network("192.168.1.0/24"), None)]


def clashes(first: str, last: str, *, addresses=(ETH0,), routes=ROUTES, gateway="192.168.1.1"):
    wanted = [IP(i) for i in range(int(IP(first)), int(IP(last)) + 1)]
    return collisions(wanted, addresses=addresses, routes=routes, outside="eth0", subnet=SUBNET,
                      gateway=IP(gateway) if gateway else None)


def test_a_range_of_unused_lan_addresses_is_free():
    assert clashes("192.168.1.200", "192.168.1.210") == []


def test_the_hosts_own_address_the_gateway_and_the_instance_subnet_collide():
    assert clashes("192.168.1.9", "192.168.1.11") == [(IP("192.168.1.10"), "an address of eth0 (192.168.1.10/24)")]
    assert clashes("192.168.1.1", "192.168.1.1") == [(IP("192.168.1.1"), "the host's default gateway")]
    assert clashes("10.214.0.250", "10.214.1.1")[0] == (IP("10.214.0.250"), "the instance subnet 10.214.0.0/24 (network.subnet)")
    assert len(clashes("10.214.0.250", "10.214.1.1")) == 6  # .250-.255 of the subnet; 10.214.1.x is free


def test_another_interfaces_address_or_route_collides_but_silvereyes_own_slash_32s_do_not():
    vpn = Address(ipaddress.IPv4Interface("172.16.9.5/24"), dev="wg0")
    assert clashes("172.16.9.5", "172.16.9.5", addresses=(ETH0, vpn)) == [(IP("172.16.9.5"), "an address of wg0 (172.16.9.5/24)")]
    docker = Route("docker0", ipaddress.IPv4Network("172.17.0.0/16"), None)
    assert clashes("172.17.0.1", "172.17.0.2", routes=[*ROUTES, docker]) == [
        (IP("172.17.0.1"), "the route to 172.17.0.0/16 via docker0"), (IP("172.17.0.2"), "the route to 172.17.0.0/16 via docker0")]
    associated = Address(ipaddress.IPv4Interface("192.168.1.201/32"), dev="eth0")  # put there by a running silvereye
    assert clashes("192.168.1.200", "192.168.1.210", addresses=(ETH0, associated)) == []


def test_the_check_passes_when_empty_or_disjoint_and_fails_with_a_remedy(healthy, check_on):
    assert check_on("public-range-free", healthy, cfg={}).status.value == "ok"
    assert check_on("public-range-free", healthy).status.value == "ok"  # 192.168.1.200-210 on eth0's LAN
    two = [{"ifindex": 2, "ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.1.10", "prefixlen": 24}]},
           {"ifindex": 3, "ifname": "tun0", "addr_info": [{"family": "inet", "local": "192.168.1.205", "prefixlen": 24}]}]
    healthy["commands"]["ip -j -4 addr show"] = json.dumps(two)
    f = check_on("public-range-free", healthy)
    assert f.status.value == "fail"
    assert "includes 192.168.1.205, an address of tun0 (192.168.1.205/24)" in f.detail
    assert f.remedy == "set network.public_range to addresses that exclude 192.168.1.205"
