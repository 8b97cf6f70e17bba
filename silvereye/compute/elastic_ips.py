"""Elastic IPs: public addresses of the configured range, DNAT'd to instances and SNAT'd from them.

An association is three things, all owned by silvereye and all removed by
:meth:`ElasticIPs.teardown`:

- rules in an nftables table of its own (``<network>_eip``), replaced
  atomically on every change like the security groups' table: DNAT of the
  public address to the private one in prerouting (traffic from outside)
  and in output (traffic from this host), SNAT of the instance's outbound
  traffic to its public address in postrouting, ahead of libvirt's
  masquerade (the first NAT binding of a connection wins);
- the public address as a /32 on the public interface (``network.interface``,
  else the default route's), so that the host answers ARP for it like any
  address it owns, with no proxy-ARP sysctl to get right per interface, and
  routes replies symmetrically. Added after the DNAT rule exists and removed
  before the rule goes, so the host's own services never answer on it;
- once per network, an iptables chain ``SE_EIP_<bridge>`` jumped to first
  from FORWARD, accepting DNAT'd connections into the bridge: libvirt's NAT
  network rejects every new inbound connection to its bridge (its
  LIBVIRT_FWI chain) and an nftables ``accept`` cannot overrule another
  table's reject. This is the way libvirt documents for forwarding incoming
  connections to NAT guests. Security groups still decide what gets in
  (their forward chain sees the private address after DNAT).

An instance reaching another instance's public address is hairpinned: DNAT
to the private address, SNAT to the gateway, so the reply comes back the
same way. Established connections through an address that is disassociated
finish under their conntrack entries, as NAT does; new ones fail at once.
The tables live on this host (the local node), like the metadata redirect.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from silvereye.compute import ids
from silvereye.compute.errors import ComputeError, InvalidArgument, NetworkError
from silvereye.compute.metadata_nat import run_nft, table_name_for

_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class AddressInUse(ComputeError):
    """The public address is associated and reassociation was not allowed (EC2: Resource.AlreadyAssociated)."""

    def __init__(self, public_ip: str, instance_id: str):
        super().__init__(f"elastic IP {public_ip} is associated with {instance_id}")
        self.public_ip, self.instance_id = public_ip, instance_id


@dataclass(frozen=True)
class Association:
    public_ip: str
    instance_id: str
    private_ip: str


def default_route_interface(prefix: tuple[str, ...] = ()) -> str | None:
    out = subprocess.run([*prefix, "ip", "-4", "route", "show", "default"], capture_output=True, text=True,
                         timeout=30).stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else None


def render(associations: Iterable[Association], table: str, bridge: str, subnet: ipaddress.IPv4Network) -> str:
    """The whole NAT table as one nft script that replaces any previous version."""
    assocs = sorted(associations, key=lambda a: ipaddress.IPv4Address(a.public_ip))
    dnat = [f"    ip daddr {a.public_ip} dnat to {a.private_ip}" for a in assocs]
    gateway = subnet.network_address + 1
    # Priorities dstnat - 5 and srcnat - 5: ahead of libvirt's NAT (the first binding wins).
    return "\n".join([
        f"add table ip {table}",
        f"delete table ip {table}",
        f"table ip {table} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority -105; policy accept;",
        *dnat,
        "  }",
        "  chain output {",
        "    type nat hook output priority -105; policy accept;",
        *dnat,
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority 95; policy accept;",
        f'    oifname "{bridge}" ip saddr {subnet} ct status dnat snat to {gateway}',
        *[f'    oifname != "{bridge}" ip saddr {a.private_ip} snat to {a.public_ip}' for a in assocs],
        "  }",
        "}",
    ]) + "\n"


class ElasticIPs:
    """The public range of one instance network and its associations.

    As with security groups, the EC2 layer keeps the records (which account allocated
    which address) and tells this class what is associated: :meth:`load` at start, then
    :meth:`associate` / :meth:`disassociate`. Until :meth:`setup`, nothing reaches the host.
    """

    def __init__(self, *, network_name: str, bridge: str, subnet: str, public_range: list, interface: str = "",
                 netns: str | None = None):
        if not _IFNAME.fullmatch(bridge):
            raise NetworkError(f"{bridge!r} is not an interface name")
        if interface and not _IFNAME.fullmatch(interface):
            raise NetworkError(f"{interface!r} is not an interface name")
        self.table = f"{table_name_for(network_name)}_eip"
        self.chain = f"SE_EIP_{bridge}"
        self.bridge = bridge
        self.subnet = ipaddress.IPv4Network(subnet, strict=True)
        self.range = [ipaddress.IPv4Address(a) for a in public_range]
        self._range_set = set(self.range)
        clash = [str(a) for a in self.range if a in self.subnet]
        if clash:
            raise NetworkError(f"the public range overlaps the instance subnet {self.subnet} ({clash[0]}); "
                               "choose network.public_range outside it")
        self._interface = interface
        self._prefix: tuple[str, ...] = ("ip", "netns", "exec", netns) if netns else ()
        self._assocs: dict[str, Association] = {}
        self._active = False
        self._lock = threading.RLock()

    @classmethod
    def for_driver(cls, driver) -> ElasticIPs:
        """The elastic IPs of the driver's network (``network.public_range``); terminate drops
        an instance's association, teardown removes everything."""
        from silvereye.config import parse_ip_range

        cfg = driver.cfg.network
        if not cfg.public_range:
            raise NetworkError("no elastic IP range is configured; set network.public_range")
        eips = cls(network_name=driver.network.name, bridge=driver.network.bridge, subnet=str(driver.network.subnet),
                   public_range=parse_ip_range(cfg.public_range), interface=cfg.interface)
        driver.enable_anti_spoofing()  # rules keyed by address need addresses that cannot be forged
        driver.on_terminate(eips.forget_instance)
        driver.on_teardown(eips.teardown)
        return eips

    # -- reading ------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        return [str(a) for a in self.range]

    @property
    def interface(self) -> str:
        """The interface public addresses go on: the configured one, else the default route's."""
        if not self._interface:
            found = default_route_interface(self._prefix)
            if not found:
                raise NetworkError("this host has no default route to put elastic IPs on; set network.interface")
            self._interface = found
        return self._interface

    def associations(self) -> dict[str, Association]:
        with self._lock:
            return dict(self._assocs)

    def association_of(self, instance_id: str) -> Association | None:
        with self._lock:
            return next((a for a in self._assocs.values() if a.instance_id == instance_id), None)

    def ruleset(self) -> str:
        with self._lock:
            return render(self._assocs.values(), self.table, self.bridge, self.subnet)

    def installed(self) -> bool:
        r = subprocess.run([*self._prefix, "nft", "list", "table", "ip", self.table], capture_output=True, timeout=30)
        return r.returncode == 0

    def _interface_networks(self) -> list[ipaddress.IPv4Interface]:
        out = self._run(["ip", "-4", "-o", "addr", "show", "dev", self.interface], "list the public addresses")
        found = []
        for word in out.split():
            if "/" in word:
                try:
                    found.append(ipaddress.IPv4Interface(word))
                except ValueError:
                    continue
        return found

    def interface_addresses(self) -> set[str]:
        """Addresses of the public range now on the interface."""
        return {str(a.ip) for a in self._interface_networks() if a.ip in self._range_set}

    # -- changing -------------------------------------------------------------

    def _check(self, a: Association) -> Association:
        ids.check_instance_id(a.instance_id)
        try:
            public, private = ipaddress.IPv4Address(a.public_ip), ipaddress.IPv4Address(a.private_ip)
        except ValueError:
            raise InvalidArgument(f"{a.public_ip!r} / {a.private_ip!r} are not IPv4 addresses") from None
        if public not in self._range_set:
            raise InvalidArgument(f"{public} is not an address of the elastic IP range")
        if private not in self.subnet or private in (self.subnet.network_address, self.subnet.broadcast_address):
            raise InvalidArgument(f"{private} is not an instance address of subnet {self.subnet}")
        return Association(str(public), a.instance_id, str(private))

    def _commit(self, assocs: dict[str, Association]) -> None:
        """Rules first, then addresses on; addresses off first, then rules (never an address
        without its DNAT). Addresses are brought to the wanted set whatever was there."""
        if self._active:
            try:
                present: set[str] | None = self.interface_addresses()
            except NetworkError:
                if set(assocs) - set(self._assocs):
                    raise
                present = None  # the interface is gone: nothing to take off it, nothing to put on
            for public in (present or set()) - set(assocs):
                self._address("del", public)
            run_nft(render(assocs.values(), self.table, self.bridge, self.subnet),
                    f"update the elastic IPs in nftables table {self.table}", self._prefix)
            for public in set(assocs) - present if present is not None else ():
                self._address("add", public)
        self._assocs = assocs

    def setup(self) -> None:
        """Install the NAT table, the forward acceptance and the current addresses (idempotent)."""
        with self._lock:
            for address in self._interface_networks():
                if address.ip in self._range_set and address.network.prefixlen != 32:
                    raise NetworkError(f"{address} on {self.interface} is in the elastic IP range; "
                                       "take it out of network.public_range")
            self._accept_forwarded()
            self._active = True
            self._commit(dict(self._assocs))

    def teardown(self) -> None:
        """Remove addresses, the NAT table and the forward acceptance (idempotent)."""
        with self._lock:
            self._active = False
            try:
                on_interface = self.interface_addresses()
            except NetworkError:
                on_interface = set()  # no interface (no default route): no address can be on it
            for public in on_interface:
                self._address("del", public)
            run_nft(f"add table ip {self.table}\ndelete table ip {self.table}\n",
                    f"remove nftables table {self.table}", self._prefix)
            self._iptables_quiet(["-D", "FORWARD", "-j", self.chain], repeat=True)
            self._iptables_quiet(["-F", self.chain])
            self._iptables_quiet(["-X", self.chain])

    def load(self, associations: Iterable[Association]) -> None:
        """Replace every association with the EC2 layer's records (at service start)."""
        assocs: dict[str, Association] = {}
        for a in associations:
            a = self._check(a)
            if a.public_ip in assocs:
                raise InvalidArgument(f"{a.public_ip} is associated twice")
            assocs[a.public_ip] = a
        with self._lock:
            self._commit(assocs)

    def associate(self, public_ip: str, instance_id: str, private_ip: str, *,
                  allow_reassociation: bool = True) -> list[Association]:
        """Point ``public_ip`` at an instance; returns the associations this displaced (the
        address's previous instance, the instance's previous address)."""
        new = self._check(Association(public_ip, instance_id, private_ip))
        with self._lock:
            current = self._assocs.get(new.public_ip)
            if current == new:
                return []
            if current is not None and not allow_reassociation:
                raise AddressInUse(new.public_ip, current.instance_id)
            displaced = [a for a in self._assocs.values()
                         if a.public_ip == new.public_ip or a.instance_id == instance_id or a.private_ip == new.private_ip]
            assocs = {k: a for k, a in self._assocs.items() if a not in displaced}
            assocs[new.public_ip] = new
            self._commit(assocs)
            return displaced

    def disassociate(self, public_ip: str) -> Association | None:
        """Unpoint ``public_ip``; the association it had, or None."""
        with self._lock:
            current = self._assocs.get(str(ipaddress.IPv4Address(public_ip)))
            if current is None:
                return None
            self._commit({k: a for k, a in self._assocs.items() if a != current})
            return current

    def forget_instance(self, instance_id: str) -> Association | None:
        """Drop an instance's association (it terminated)."""
        with self._lock:
            current = self.association_of(instance_id)
            if current is not None:
                self._commit({k: a for k, a in self._assocs.items() if a != current})
            return current

    # -- host plumbing ----------------------------------------------------------

    def _run(self, argv: list[str], what: str) -> str:
        try:
            r = subprocess.run([*self._prefix, *argv], capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            raise NetworkError(f"cannot {what}: '{argv[0]}' is not installed") from None
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise NetworkError(f"cannot {what}: {tail}")
        return r.stdout

    def _address(self, op: str, public_ip: str) -> None:
        verb = "put" if op == "add" else "take"
        self._run(["ip", "-4", "addr", op, f"{public_ip}/32", "dev", self.interface],
                  f"{verb} elastic IP {public_ip} {'on' if op == 'add' else 'off'} {self.interface}")

    def _iptables_quiet(self, args: list[str], repeat: bool = False) -> None:
        for _ in range(16 if repeat else 1):
            r = subprocess.run([*self._prefix, "iptables", "-w", *args], capture_output=True, timeout=30)
            if r.returncode != 0:
                return

    def _accept_forwarded(self) -> None:
        """The FORWARD acceptance of DNAT'd connections into the bridge, first in FORWARD."""
        self._iptables_quiet(["-N", self.chain])
        steps = [
            (["-F", self.chain], "empty"),
            (["-A", self.chain, "-o", self.bridge, "-d", str(self.subnet), "-m", "conntrack", "--ctstate", "DNAT",
              "-j", "ACCEPT"], "fill"),
        ]
        for args, verb in steps:
            self._run(["iptables", "-w", *args], f"{verb} iptables chain {self.chain}")
        self._iptables_quiet(["-D", "FORWARD", "-j", self.chain], repeat=True)
        self._run(["iptables", "-w", "-I", "FORWARD", "1", "-j", self.chain], f"jump to {self.chain} from FORWARD")
