"""silvereye's instance network: one libvirt NAT network, DHCP by reservation.

The network's ``<dhcp><host mac ip name/>`` entries are the allocation
table: an instance's address is reserved live (``virNetworkUpdate``, no
restart of other guests' networking) before its domain starts, and released
when it terminates. Addresses come from the configured subnet; like AWS,
the first four addresses (network, gateway, DNS, future use) and the
broadcast address are never handed out.

The EC2 layer presents this network as the default VPC and its subnet;
:meth:`InstanceNetwork.subnet_info` gives it what that needs.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

from silvereye.compute import ids
from silvereye.compute.errors import AddressSpaceExhausted, NetworkError, libvirt_call
from silvereye.compute.network_xml import ANCHOR_MAC, DhcpHost, Network, anchor_host, build_network

log = logging.getLogger(__name__)

RESERVED_LOW = 4  # network, gateway, DNS, reserved for future use (as AWS does)
RECENT_SECONDS = 60.0


@dataclass(frozen=True)
class Reservation:
    mac: str
    ip: str
    name: str  # the instance id (also the guest's DNS name on the network)


@dataclass(frozen=True)
class SubnetInfo:
    """What the EC2 layer needs to present the network as a VPC subnet."""

    cidr: str
    gateway: str
    dns: str
    netmask: str
    first_usable: str
    last_usable: str
    usable: int
    available: int


def _libvirt():
    import libvirt

    return libvirt


def host_routes() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks this host has routes for (any table), default routes left out."""
    import subprocess

    try:
        out = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    nets = []
    for line in out.splitlines():
        for word in line.split()[:2]:  # "10.0.0.0/8 dev ..." or "local 10.0.0.1 dev ..."
            try:
                nets.append(ipaddress.IPv4Network(word, strict=False))
                break
            except ValueError:
                continue
    return [n for n in nets if n.prefixlen > 0]


def free_subnet(pool: str = "10.200.0.0/13", prefix: int = 24, rng=None) -> str:
    """A random /``prefix`` of ``pool`` that overlaps no route of this host (tests, benchmarks,
    and an installer choosing a subnet for a host whose LAN already uses 172.31.0.0/20)."""
    import random

    rng = rng or random.SystemRandom()
    used = host_routes()
    candidates = list(ipaddress.IPv4Network(pool).subnets(new_prefix=prefix))
    rng.shuffle(candidates)
    for candidate in candidates:
        if not any(candidate.overlaps(n) for n in used):
            return str(candidate)
    raise NetworkError(f"every /{prefix} of {pool} overlaps a route of this host; set network.subnet by hand")


class InstanceNetwork:
    """The libvirt network named ``name`` on bridge ``bridge`` over ``subnet``."""

    def __init__(self, name: str, bridge: str, subnet: str, dns_domain: str = ""):
        self.name = name
        self.bridge = bridge
        self.subnet = ipaddress.IPv4Network(subnet, strict=True)
        if self.subnet.num_addresses < 16:
            raise NetworkError(f"subnet {subnet} is too small for instances; use a /28 or larger")
        self.dns_domain = dns_domain
        self._lock = threading.Lock()
        self._pending: dict[str, Reservation] = {}
        # Choices settled in the last RECENT_SECONDS: a launch that read the reservations just before
        # another's landed must not pick the same address (libvirt refuses the second reservation).
        self._recent: dict[str, tuple[Reservation, float]] = {}

    @classmethod
    def from_config(cls, cfg) -> InstanceNetwork:
        return cls(cfg.network.name, cfg.network.bridge, cfg.network.subnet, cfg.dns_domain)

    # -- addresses --------------------------------------------------------

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    def _usable_range(self) -> tuple[int, int]:
        first = int(self.subnet.network_address) + RESERVED_LOW
        last = int(self.subnet.broadcast_address) - 1
        return first, last

    def choose(self, instance_id: str, taken: list[Reservation], leased: set[str] = frozenset()) -> Reservation:
        """A fresh MAC and the lowest free address for an instance, avoiding ``taken``, choices
        handed out but not yet reserved, and, while others are free, addresses dnsmasq still
        has leased (to a MAC that is gone: it would not hand them to a new MAC before the lease
        expires) and addresses reserved moments ago (``taken`` may have been read before they
        landed). Call :meth:`settle` once the choice is reserved (or failed)."""
        with self._lock:
            now = time.monotonic()
            self._recent = {k: v for k, v in self._recent.items() if now - v[1] < RECENT_SECONDS}
            busy = taken + list(self._pending.values())
            macs = {r.mac for r in busy} | {r.mac for r, _ in self._recent.values()}
            mac = ids.random_mac()
            while mac in macs:
                mac = ids.random_mac()
            hard = {r.ip for r in busy}
            address = None
            for avoid in (hard | set(leased) | {r.ip for r, _ in self._recent.values()}, hard | set(leased), hard):
                try:
                    address = self.pick_address(avoid)
                    break
                except AddressSpaceExhausted:
                    continue
            if address is None:
                address = self.pick_address(hard)  # raises: every address is reserved
            choice = Reservation(mac, address, instance_id)
            self._pending[instance_id] = choice
            return choice

    def settle(self, instance_id: str, reserved: bool = False) -> None:
        """The choice is no longer in flight; ``reserved`` when its reservation landed."""
        with self._lock:
            choice = self._pending.pop(instance_id, None)
            if choice is not None and reserved:
                self._recent[instance_id] = (choice, time.monotonic())

    def pick_address(self, taken: set[str]) -> str:
        """The lowest usable address not in ``taken``."""
        first, last = self._usable_range()
        used = {int(ipaddress.IPv4Address(a)) for a in taken}
        for candidate in range(first, last + 1):
            if candidate not in used:
                return str(ipaddress.IPv4Address(candidate))
        raise AddressSpaceExhausted(f"every address of subnet {self.subnet} is in use; terminate instances or widen network.subnet")

    def subnet_info(self, taken: set[str]) -> SubnetInfo:
        first, last = self._usable_range()
        in_use = sum(1 for a in taken if first <= int(ipaddress.IPv4Address(a)) <= last)
        return SubnetInfo(
            cidr=str(self.subnet),
            gateway=str(self.gateway),
            dns=str(self.gateway),
            netmask=str(self.subnet.netmask),
            first_usable=str(ipaddress.IPv4Address(first)),
            last_usable=str(ipaddress.IPv4Address(last)),
            usable=last - first + 1,
            available=last - first + 1 - in_use,
        )

    # -- the libvirt network ----------------------------------------------

    def document(self) -> Network:
        return build_network(self.name, self.bridge, self.subnet, self.dns_domain)

    def lookup(self, conn):
        libvirt = _libvirt()
        try:
            return conn.networkLookupByName(self.name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
                return None
            raise NetworkError(f"cannot look up network {self.name}: {e.get_error_message()}") from None

    def ensure(self, conn) -> None:
        """Define, start and autostart the network; refuse one of that name with other settings."""
        net = self.lookup(conn)
        if net is None:
            with libvirt_call(f"define network {self.name}"):
                net = conn.networkDefineXML(self.document().to_xml())
        else:
            found = Network.from_xml(net.XMLDesc(0))
            self._check_matches(found)
            if not any(h.mac == ANCHOR_MAC for h in found.dhcp_hosts()):
                self._update(conn, _libvirt().VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST, anchor_host(self.subnet),
                             f"add the anchor reservation to network {self.name}")
        if not net.isActive():
            try:
                with libvirt_call(f"start network {self.name}"):
                    net.create()
            except Exception as e:
                raise NetworkError(f"{e}; is subnet {self.subnet} or bridge {self.bridge} already used on this host?") from None
        with libvirt_call(f"autostart network {self.name}"):
            net.setAutostart(1)

    def _check_matches(self, found: Network) -> None:
        ip = found.ipv4()
        found_subnet = ipaddress.IPv4Interface(f"{ip.address}/{ip.netmask}").network if ip is not None else None
        if found.bridge_name != self.bridge or found_subnet != self.subnet or found.forward_mode != "nat":
            raise NetworkError(
                f"libvirt network {self.name} exists with bridge {found.bridge_name}, subnet {found_subnet}, "
                f"forward {found.forward_mode}; remove it (virsh net-destroy/net-undefine {self.name}) "
                f"or set network.name to another name"
            )

    def remove(self, conn) -> None:
        """Stop and undefine the network (teardown; instances must be gone)."""
        net = self.lookup(conn)
        if net is None:
            return
        if net.isActive():
            with libvirt_call(f"stop network {self.name}"):
                net.destroy()
        with libvirt_call(f"undefine network {self.name}"):
            net.undefine()

    def reservations(self, conn) -> list[Reservation]:
        net = self.lookup(conn)
        if net is None:
            return []
        doc = Network.from_xml(net.XMLDesc(0))
        return [Reservation(h.mac, h.ip, h.name or "") for h in doc.dhcp_hosts() if h.mac != ANCHOR_MAC]

    def _update(self, conn, command: int, host: DhcpHost, what: str) -> None:
        libvirt = _libvirt()
        net = self.lookup(conn)
        if net is None:
            raise NetworkError(f"network {self.name} is not defined; run 'silvereye install' or start the service")
        flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        if net.isActive():
            flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
        xml = host.to_xml()
        with libvirt_call(what):
            net.update(command, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, xml, flags)

    def reserve(self, conn, reservation: Reservation) -> None:
        """Add a DHCP reservation (live and persistent)."""
        ids.check_mac(reservation.mac)
        if ipaddress.IPv4Address(reservation.ip) not in self.subnet:
            raise NetworkError(f"address {reservation.ip} is outside subnet {self.subnet}")
        host = DhcpHost(mac=reservation.mac, name=reservation.name or None, ip=reservation.ip)
        self._update(conn, _libvirt().VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, host,
                     f"reserve {reservation.ip} for {reservation.mac} on network {self.name}")

    def leased_addresses(self, conn) -> set[str]:
        """Addresses dnsmasq has leased (libvirt's lease status), whoever holds them."""
        net = self.lookup(conn)
        if net is None:
            return set()
        try:
            return {lease["ipaddr"] for lease in net.DHCPLeases() if lease.get("ipaddr")}
        except _libvirt().libvirtError:
            return set()  # drivers without lease tracking (test:///default)

    def forget_lease(self, host, ip: str, mac: str) -> None:
        """Tell dnsmasq the lease of a terminated instance is over (``dhcp_release``, as nova did),
        so its address can go to the next instance at once rather than after the lease expires."""
        ids.check_mac(mac)
        ipaddress.IPv4Address(ip)
        try:
            host.run(["dhcp_release", self.bridge, ip, mac], timeout=30)
        except Exception as e:  # a stale lease only delays reuse of this address; never fail a terminate
            log.warning("could not release the DHCP lease of %s (%s): %s", ip, mac, e)

    def release(self, conn, mac: str) -> bool:
        """Remove the reservation of ``mac``; False if there was none."""
        ids.check_mac(mac)
        for r in self.reservations(conn):
            if r.mac == mac:
                host = DhcpHost(mac=r.mac, name=r.name or None, ip=r.ip)
                self._update(conn, _libvirt().VIR_NETWORK_UPDATE_COMMAND_DELETE, host,
                             f"release {r.ip} of {mac} on network {self.name}")
                return True
        return False
