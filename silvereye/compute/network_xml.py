"""The libvirt network document of silvereye's instance network.

A NAT network whose DHCP serves only reservations (no dynamic range): an
address is handed out to a MAC only after the driver reserved it, so the
reservations in the network *are* the allocation table, kept by libvirt.
"""

from __future__ import annotations

import ipaddress

from silvereye.compute.xmlbuilder import XMLChild, XMLChildList, XMLObject, XMLProperty


class DhcpHost(XMLObject):
    TAG = "host"
    mac = XMLProperty("@mac")
    name = XMLProperty("@name")
    ip = XMLProperty("@ip")


class Dhcp(XMLObject):
    TAG = "dhcp"
    hosts = XMLChildList(DhcpHost)


class IP(XMLObject):
    TAG = "ip"
    address = XMLProperty("@address")
    netmask = XMLProperty("@netmask")
    dhcp = XMLChild(Dhcp)


class Network(XMLObject):
    TAG = "network"
    name = XMLProperty("name")
    forward_mode = XMLProperty("forward/@mode")
    bridge_name = XMLProperty("bridge/@name")
    bridge_stp = XMLProperty("bridge/@stp")
    bridge_delay = XMLProperty("bridge/@delay", int)
    domain_name = XMLProperty("domain/@name")
    domain_local_only = XMLProperty("domain/@localOnly")
    ips = XMLChildList(IP)

    def ipv4(self) -> IP | None:
        for ip in self.ips:
            if ip.address and ipaddress.ip_address(ip.address).version == 4:
                return ip
        return None

    def dhcp_hosts(self) -> list[DhcpHost]:
        ip = self.ipv4()
        return list(ip.dhcp.hosts) if ip is not None and ip.dhcp is not None else []


# A reservation that is always there, for the subnet's reserved fourth address and a
# MAC no instance gets: with it, the DHCP server never goes from "no hosts" to "some
# hosts", which would make libvirt restart dnsmasq (2-3 s) instead of reloading it.
ANCHOR_MAC = "d0:0d:00:00:00:00"
ANCHOR_NAME = "silvereye-anchor"


def anchor_host(subnet: ipaddress.IPv4Network) -> DhcpHost:
    return DhcpHost(mac=ANCHOR_MAC, name=ANCHOR_NAME, ip=str(subnet.network_address + 3))


def build_network(name: str, bridge: str, subnet: ipaddress.IPv4Network, dns_domain: str = "") -> Network:
    """A NAT network on ``bridge`` whose gateway is the subnet's first address."""
    gateway = next(subnet.hosts())
    net = Network(
        name=name,
        forward_mode="nat",
        bridge_name=bridge,
        bridge_stp="on",
        bridge_delay=0,
        ips=[IP(address=str(gateway), netmask=str(subnet.netmask), dhcp=Dhcp(hosts=[anchor_host(subnet)]))],
    )
    if dns_domain:
        net.domain_name = dns_domain
        net.domain_local_only = "yes"
    return net
