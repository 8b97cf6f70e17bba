"""The host on its network: the outside interface, its addresses, the hostname, proxies."""

from __future__ import annotations

import ipaddress
import re

from silvereye.config import parse_ip_range
from silvereye.preflight.facts import Address, parse_key_values
from silvereye.preflight.model import API_ROLES, Context, Result, Role, check, fail, note, ok, warn

IFF_UP = 0x1
PICK_ANOTHER = "pick another interface with --interface (or network.interface in the config)"


@check("default-route", "a default route")
def default_route(ctx: Context) -> Result:
    route = ctx.facts.default_route
    if route is not None:
        via = f"via {route.gateway} " if route.gateway else ""
        return ok(f"default {via}dev {route.dev}")
    remedy = "configure a default gateway: ip route add default via GATEWAY"
    if ctx.facts.primary_interface:
        return warn(f"no default route: instances cannot reach beyond {ctx.facts.primary_interface}'s subnet", remedy)
    return fail("no default route, so there is no outside interface: instances cannot reach the outside", f"{remedy}, or {PICK_ANOTHER}")


def first_address(ctx: Context, dev: str | None = None) -> Address | None:
    """The first IPv4 address of ``dev`` (default: the primary interface), the one the cloud announces."""
    dev = dev or ctx.facts.primary_interface
    addrs = ctx.facts.addresses(dev) if dev else None
    return addrs[0] if addrs else None


@check("primary-interface", "a healthy primary interface")
def primary_interface(ctx: Context) -> Result:
    dev = ctx.facts.primary_interface
    if dev is None:
        return fail("no interface to use: there is no default route", f"configure a default route, or {PICK_ANOTHER}")
    if dev not in ctx.facts.interfaces:
        have = ", ".join(i for i in ctx.facts.interfaces if i != "lo") or "none but lo"
        return fail(f"{dev} does not exist (this host has: {have})", PICK_ANOTHER)
    flags = ctx.facts.first_line(f"/sys/class/net/{dev}/flags")
    if flags and not int(flags, 16) & IFF_UP:
        return fail(f"{dev} is administratively down", f"ip link set {dev} up")
    if ctx.facts.first_line(f"/sys/class/net/{dev}/carrier") == "0":
        return fail(
            f"{dev} appears to be in septic shock: no carrier. I recommend against resuscitation",
            f"plug in a cable, or {PICK_ANOTHER}",
        )
    addr = first_address(ctx, dev)
    if addr is None:
        return fail(f"{dev} is up but has no IPv4 address", f"give {dev} an address (static or DHCP), or {PICK_ANOTHER}")
    return ok(f"{dev} is up with carrier, {addr.interface}")


@check("interface-wired", "a wired primary interface")
def interface_wired(ctx: Context) -> Result:
    dev = ctx.facts.primary_interface
    if dev is None:
        return note("not checked: no primary interface")
    if ctx.facts.exists(f"/sys/class/net/{dev}/wireless") or ctx.facts.exists(f"/sys/class/net/{dev}/phy80211"):
        return warn(
            f"{dev} is wireless: access points drop frames from MAC addresses they did not associate, so elastic IPs will not work",
            f"use a wired interface: {PICK_ANOTHER}",
        )
    return ok(f"{dev} is not wireless")


@check("networkmanager", "NetworkManager on the primary interface")
def networkmanager(ctx: Context) -> Result:
    dev = ctx.facts.primary_interface
    if "NetworkManager" not in ctx.facts.processes:
        return ok("NetworkManager is not running")
    if dev is None:
        return note("not checked: no primary interface")
    r = ctx.host.run(["nmcli", "-t", "-f", "DEVICE,STATE", "device"])
    states = dict(ln.split(":", 1) for ln in r.stdout.splitlines() if ":" in ln) if r.ok else {}
    state = states.get(dev)
    if state is None:
        return note(f"NetworkManager is running; nmcli does not say whether it manages {dev}")
    if state == "unmanaged":
        return ok(f"NetworkManager leaves {dev} alone (unmanaged)")
    if ctx.cfg.network.public_range:
        return warn(
            f"NetworkManager manages {dev} and may drop the elastic IP addresses silvereye adds to it when it re-applies the connection",
            f"nmcli device set {dev} managed no (and configure {dev} another way), or leave network.public_range empty",
        )
    return note(f"NetworkManager manages {dev} ({state}); harmless while network.public_range is empty")


@check("address-static", "a static address", API_ROLES)
def address_static(ctx: Context) -> Result:
    addr = first_address(ctx)
    if addr is None:
        return note("not checked: the primary interface has no IPv4 address")
    where = f"{addr.interface} on {addr.dev}"
    if not addr.dynamic:
        return ok(f"{where} is static")
    return warn(
        f"{where} came from DHCP: when the lease changes, clients and nodes lose the cloud's address",
        f"give {addr.dev} a static address, or a DHCP reservation for its MAC address",
    )


@check("single-address", "a single IPv4 address", API_ROLES)
def single_address(ctx: Context) -> Result:
    dev = ctx.facts.primary_interface
    addrs = ctx.facts.addresses(dev) if dev else None
    if not addrs:
        return note("not checked: the primary interface has no IPv4 address")
    public = ctx.cfg.network.public_range
    elastic = set(parse_ip_range(public)) if public else set()
    own = [a for a in addrs if a.ip not in elastic]
    if len(own) <= 1:
        return ok(f"{dev} has one address, {own[0].interface if own else addrs[0].interface}")
    listed = ", ".join(str(a.interface) for a in own)
    if ctx.cfg.api.public_host:
        return ok(f"{dev} has {listed}; clients are told api.public_host = {ctx.cfg.api.public_host}")
    return warn(
        f"{dev} has {listed}: the API will announce the first, which may not be the one clients reach",
        "set api.public_host in the config to the address clients should use",
    )


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@check("hostname-valid", "a valid hostname")
def hostname_valid(ctx: Context) -> Result:
    name = ctx.facts.hostname
    if not name:
        return fail("the host has no hostname", "hostnamectl set-hostname NAME (or write it to /etc/hostname and run hostname NAME)")
    bad = "is 'localhost'" if name.split(".")[0] == "localhost" else None
    if bad is None and (len(name) > 253 or not all(_LABEL.match(label) for label in name.split("."))):
        bad = "is not a valid DNS name (letters, digits and '-' only, in labels of at most 63)"
    if bad:
        return fail(f"hostname {name!r} {bad}: nodes and certificates need a real name", "hostnamectl set-hostname NAME with a real name")
    return ok(f"'{name}'")


def resolve_hostname(ctx: Context) -> list[ipaddress.IPv4Address] | None:
    """The host's name resolved as programs resolve it (NSS: /etc/hosts, DNS...), or None when it does not."""
    r = ctx.host.run(["getent", "ahostsv4", ctx.facts.hostname])
    if not r.ok:
        return None
    seen: list[ipaddress.IPv4Address] = []
    for line in r.stdout.splitlines():
        parts = line.split()
        try:
            ip = ipaddress.IPv4Address(parts[0])
        except (IndexError, ValueError):
            continue
        if ip not in seen:
            seen.append(ip)
    return seen or None


@check("hostname-resolves", "a hostname resolving to this host")
def hostname_resolves(ctx: Context) -> Result:
    name = ctx.facts.hostname
    if not name:
        return note("not checked: the host has no hostname")
    addr = first_address(ctx)
    remedy = f"add '{addr.ip} {name}' to /etc/hosts" if addr else f"make {name} resolve to the host's address in /etc/hosts or DNS"
    # A cloud-in-a-box reaches itself by address; a frontend and its nodes find each other by name.
    problem = warn if ctx.role == Role.ciab else fail
    found = resolve_hostname(ctx)
    if found is None:
        return problem(f"'{name}' does not resolve", remedy, fixable=addr is not None)
    first = found[0]
    if first.is_loopback:
        why = "libvirt and nodes would be told a loopback address" if ctx.role != Role.ciab else "anything that looks the host up by name reaches loopback, not the cloud"
        return problem(f"'{name}' resolves to {first}, a loopback address: {why}", remedy, fixable=addr is not None)
    own = {a.ip: a.dev for a in ctx.facts.addresses() or []}
    if first not in own:
        return warn(f"'{name}' resolves to {first}, which is not an address of this host", remedy, fixable=addr is not None)
    return ok(f"'{name}' resolves to {first} ({own[first]})")


PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")


def _bypassed(host: str, entries: list[str]) -> bool:
    """Whether a no_proxy list (as curl, requests and botocore read it) covers ``host``."""
    for e in entries:
        e = e.strip().lower()
        if not e:
            continue
        if e == "*" or host == e or host.endswith("." + e.lstrip(".*")):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(e, strict=False):
                return True
        except ValueError:
            pass
    return False


@check("proxy-variables", "proxy variables")
def proxy_variables(ctx: Context) -> Result:
    sources = [("the environment", ctx.host.environ()), ("/etc/environment", parse_key_values(ctx.host.read_file("/etc/environment")))]
    proxies, no_proxy = [], []
    for where, env in sources:
        lower = {k.lower(): v for k, v in env.items()}
        proxies += [f"{k} ({where})" for k in PROXY_VARS if lower.get(k)]
        no_proxy += (lower.get("no_proxy") or "").split(",")
    if not proxies:
        return ok("no proxy variables are set")
    addr = first_address(ctx)
    must = ["localhost", "127.0.0.1"] + ([str(addr.ip)] if addr else []) + [f"s3.{ctx.cfg.dns_domain}"]
    missing = [h for h in must if not _bypassed(h, no_proxy)]
    if not missing:
        return ok(f"{', '.join(proxies)} set, and no_proxy covers the cloud's addresses")
    wanted = ",".join(["localhost", "127.0.0.1"] + ([str(addr.ip)] if addr else []) + [f".{ctx.cfg.dns_domain}"])
    return warn(
        f"{', '.join(proxies)} set and no_proxy does not cover {', '.join(missing)}: aws, boto3 and curl would send the cloud's API calls to the proxy",
        f"export no_proxy={wanted} (and add it to /etc/environment)",
    )
