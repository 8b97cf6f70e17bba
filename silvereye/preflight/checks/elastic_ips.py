"""The elastic IP range must belong to nobody on this host: not its addresses, its routes, its gateway, its instances.

``public-range`` (in :mod:`.network`) checks that the range sits on the
outside interface's subnet, where the LAN would send its packets. This
check looks the other way: at everything the host already uses that an
elastic IP would shadow once silvereye puts it on the interface and DNATs
it -- an address of any interface (a VPN, a container bridge), a route to
another device, the default gateway, the instances' own subnet. Any one of
them would have traffic for that thing go to an instance instead.

Addresses of the range held as /32 are not counted: that is how a running
silvereye holds the elastic IPs it has associated.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from silvereye.config import parse_ip_range
from silvereye.preflight.facts import Address, Route
from silvereye.preflight.model import API_ROLES, Context, Result, check, fail, ok


def collisions(wanted: list[ipaddress.IPv4Address], *, addresses: Iterable[Address], routes: Iterable[Route],
               outside: str | None, subnet: ipaddress.IPv4Network,
               gateway: ipaddress.IPv4Address | None) -> list[tuple[ipaddress.IPv4Address, str]]:
    """(address of the range, what it collides with), lowest address first; empty when the range is free."""
    found: dict[ipaddress.IPv4Address, str] = {}
    members = set(wanted)
    for ip in members:
        if ip in subnet:
            found[ip] = f"the instance subnet {subnet} (network.subnet)"
    if gateway is not None and gateway in members:
        found.setdefault(gateway, "the host's default gateway")
    for a in addresses:
        if a.ip in members and a.interface.network.prefixlen != 32:
            found.setdefault(a.ip, f"an address of {a.dev or 'this host'} ({a.interface})")
    for r in routes:
        if r.network.prefixlen == 0 or r.dev == outside:
            continue
        for ip in members:
            if ip in r.network:
                found.setdefault(ip, f"the route to {r.network} via {r.dev}")
    return sorted(found.items())


@check("public-range-free", "an elastic IP range nothing on the host uses", API_ROLES)
def public_range_free(ctx: Context) -> Result:
    text = ctx.cfg.network.public_range
    if not text:
        return ok("network.public_range is empty: no elastic IPs to collide with")
    wanted = parse_ip_range(text)
    default = ctx.facts.default_route
    clashes = collisions(
        wanted, addresses=ctx.facts.addresses() or [], routes=ctx.facts.routes, outside=ctx.facts.primary_interface,
        subnet=ipaddress.IPv4Network(ctx.cfg.network.subnet), gateway=default.gateway if default else None)
    if clashes:
        ip, what = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        return fail(f"network.public_range {text} includes {ip}, {what}{more}: its traffic would go to an instance",
                    f"set network.public_range to addresses that exclude {ip}")
    return ok(f"{text}: no address, route, gateway or instance subnet of this host among its {len(wanted)} addresses")
