"""What the cloud's own network needs: free ports, an open firewall, no rival DHCP, a free subnet, forwarding, elastic IPs."""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
import xml.etree.ElementTree as ET
from typing import Any, Iterator

from silvereye.config import parse_ip_range
from silvereye.preflight.facts import Listener
from silvereye.preflight.model import API_ROLES, VIRT_ROLES, Context, Result, check, fail, note, ok, warn


def _port_keys(ctx: Context) -> dict[int, str]:
    return {ctx.cfg.api.port: "api.port", ctx.cfg.network.metadata_port: "network.metadata_port"}


def _conflicts(listen: ipaddress.IPv4Address | ipaddress.IPv6Address, listener: Listener) -> bool:
    """Whether binding ``listen`` would collide with an existing listener on the same port."""
    return listen.is_unspecified or listener.wildcard or listener.address == listen


@check("api-ports-free", "free API ports", API_ROLES)
def api_ports_free(ctx: Context) -> Result:
    listen = ipaddress.ip_address(ctx.cfg.api.listen)
    ports = _port_keys(ctx)
    taken = []
    for port, key in ports.items():
        for lst in ctx.facts.listeners:
            if lst.proto == "tcp" and lst.port == port and _conflicts(listen, lst):
                owner = ctx.facts.listener_owner(lst)
                taken.append((port, key, f"port {port}/tcp ({key}) is taken{' by ' + owner if owner else ''}, listening on {lst.address}"))
                break
    if taken:
        keys = " / ".join(key for _, key, _ in taken)
        where = ctx.cfg.source if ctx.cfg.source and not ctx.cfg.source.startswith("(") else "/etc/silvereye/silvereye.yaml"
        return fail("; ".join(t for *_, t in taken), f"stop that program, or choose free ports: {keys} in {where}")
    return ok(f"{', '.join(f'{p}/tcp' for p in ports)} are free on {listen}")


# -- firewall ---------------------------------------------------------------


def _nft_dports(node: Any) -> Iterator[int | tuple[int, int]]:
    """Every destination port (or range) a rule expression matches on."""
    if isinstance(node, dict):
        m = node.get("match")
        if isinstance(m, dict) and isinstance(m.get("left"), dict) and m["left"].get("payload", {}).get("field") == "dport":
            yield from _nft_values(m.get("right"))
        for v in node.values():
            yield from _nft_dports(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nft_dports(v)


def _nft_values(right: Any) -> Iterator[int | tuple[int, int]]:
    if isinstance(right, int):
        yield right
    elif isinstance(right, dict) and "set" in right:
        for v in right["set"]:
            yield from _nft_values(v)
    elif isinstance(right, dict) and "range" in right:
        lo, hi = right["range"]
        if isinstance(lo, int) and isinstance(hi, int):
            yield (lo, hi)
    elif isinstance(right, list):
        for v in right:
            yield from _nft_values(v)


def _nft_blocked(ctx: Context, ports: list[int]) -> tuple[str, list[int]] | None:
    """(chain, ports it drops) for the first input chain that drops by default and accepts none of our ports."""
    r = ctx.host.run(["nft", "-j", "list", "ruleset"])
    if not r.ok:
        return None
    try:
        items = json.loads(r.stdout).get("nftables", [])
    except ValueError:
        return None
    chains = [i["chain"] for i in items if "chain" in i and i["chain"].get("hook") == "input" and i["chain"].get("policy") == "drop"]
    for chain in chains:
        table_rules = [i["rule"] for i in items if "rule" in i and i["rule"].get("table") == chain.get("table") and i["rule"].get("family") == chain.get("family")]
        opened: set[int] = set()
        for rule in table_rules:
            if not any("accept" in e for e in rule.get("expr", []) if isinstance(e, dict)):
                continue
            for v in _nft_dports(rule.get("expr", [])):
                opened |= set(range(v[0], v[1] + 1)) & set(ports) if isinstance(v, tuple) else {v}
        closed = [p for p in ports if p not in opened]
        if closed:
            return f"{chain.get('family')} {chain.get('table')} {chain.get('name')}", closed
    return None


@check("firewall", "a firewall blocking API ports", API_ROLES)
def firewall(ctx: Context) -> Result:
    ports = list(_port_keys(ctx))
    plist = ", ".join(f"{p}/tcp" for p in ports)
    if "firewalld" in ctx.facts.processes:
        r = ctx.host.run(["firewall-cmd", "--list-ports"])
        opened = set(r.stdout.split()) if r.ok else set()
        closed = [p for p in ports if f"{p}/tcp" not in opened]
        if closed:
            adds = " ".join(f"--add-port={p}/tcp" for p in closed)
            return warn(f"firewalld is running and does not open {', '.join(f'{p}/tcp' for p in closed)}: clients and instances cannot reach the API", f"firewall-cmd --permanent {adds} && firewall-cmd --reload")
        return ok(f"firewalld opens {plist}")
    ufw = ctx.host.run(["ufw", "status"])
    if ufw.ok and "Status: active" in ufw.stdout:
        allowed = {ln.split()[0] for ln in ufw.stdout.splitlines() if "ALLOW" in ln and ln.split()}
        closed = [p for p in ports if f"{p}/tcp" not in allowed and str(p) not in allowed]
        if closed:
            return warn(f"ufw is active and does not allow {', '.join(f'{p}/tcp' for p in closed)}: clients and instances cannot reach the API", " && ".join(f"ufw allow {p}/tcp" for p in closed))
        return ok(f"ufw allows {plist}")
    if ctx.facts.which("nft"):
        blocked = _nft_blocked(ctx, ports)
        if blocked:
            chain, closed = blocked
            return warn(
                f"nftables chain '{chain}' drops by default and accepts none of {', '.join(f'{p}/tcp' for p in closed)}",
                f"nft add rule {chain} tcp dport {{ {', '.join(map(str, closed))} }} accept",
            )
        return ok(f"no input chain drops {plist} (nftables)")
    r = ctx.host.run(["iptables", "-S", "INPUT"])
    if r.ok and "-P INPUT DROP" in r.stdout:
        closed = [p for p in ports if f"--dport {p} " not in r.stdout + " "]
        if closed:
            return warn(f"iptables' INPUT policy is DROP and no rule accepts {', '.join(f'{p}/tcp' for p in closed)}", " && ".join(f"iptables -I INPUT -p tcp --dport {p} -j ACCEPT" for p in closed))
    return ok(f"no firewall blocks {plist}")


# -- DHCP and libvirt's default network ------------------------------------


def _dhcp_sockets(ctx: Context) -> list[tuple[str, str, str]] | None:
    """(address, device, owner) of every udp/67 socket as ss shows it, or None when ss cannot tell.

    ss shows what /proc/net/udp cannot: a DHCP server must bind the wildcard
    address to hear broadcasts, and dnsmasq (libvirt's included) then pins the
    socket to its own bridge with SO_BINDTODEVICE, shown as ``0.0.0.0%virbr0``.
    """
    r = ctx.host.run(["ss", "-Hlunp", "sport = :67"])
    if not r.ok:
        return None
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        addr = parts[3].rpartition(":")[0]
        addr, _, dev = addr.partition("%")
        owner = re.search(r'users:\(\("([^"]+)",pid=(\d+)', line)
        out.append((addr, dev, f"{owner.group(1)} (pid {owner.group(2)})" if owner else "a program"))
    return out


@check("dhcp-server", "a competing DHCP server", VIRT_ROLES)
def dhcp_server(ctx: Context) -> Result:
    if not any(lst.proto == "udp" and lst.port == 67 for lst in ctx.facts.listeners):
        return ok("nothing listens on udp/67")
    remedy = "stop it, or make it listen only on its own interface"
    sockets = _dhcp_sockets(ctx)
    if sockets is None:
        wild = next((lst for lst in ctx.facts.listeners if lst.proto == "udp" and lst.port == 67 and lst.wildcard), None)
        if wild is not None:
            return warn(f"a DHCP server listens on {wild} and ss cannot tell which interfaces it serves: it may answer the instances' requests", remedy)
        return ok("DHCP servers are bound to their own addresses only")
    for addr, dev, owner in sockets:
        if addr in ("0.0.0.0", "*", "[::]") and not dev:
            return warn(f"{owner} serves DHCP on every interface (udp/67 on {addr}): it may answer the instances' requests, or keep libvirt's dnsmasq from starting", remedy)
    return ok("DHCP servers are pinned to their own interfaces: " + ", ".join(f"{owner} on {dev or addr}" for addr, dev, owner in sockets))


def default_network(ctx: Context) -> tuple[ipaddress.IPv4Network | None, str, bool, bool] | None:
    """(subnet, bridge, active, autostart) of libvirt's 'default' network, or None when there is none."""
    uri = ctx.cfg.compute.libvirt_uri
    r = ctx.host.run(["virsh", "-c", uri, "net-dumpxml", "default"], timeout=20)
    if not r.ok:
        return None
    try:
        root = ET.fromstring(r.stdout)
    except ET.ParseError:
        return None
    net = None
    for ip in root.findall("ip"):
        if ip.get("family", "ipv4") != "ipv4" or not ip.get("address"):
            continue
        mask = ip.get("netmask") or ip.get("prefix") or "24"
        net = ipaddress.IPv4Network(f"{ip.get('address')}/{mask}", strict=False)
        break
    bridge = (root.find("bridge").get("name", "") if root.find("bridge") is not None else "")
    info = ctx.host.run(["virsh", "-c", uri, "net-info", "default"], timeout=20).stdout
    fields = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in info.splitlines() if ":" in ln)}
    return net, bridge, fields.get("Active") == "yes", fields.get("Autostart") == "yes"


@check("libvirt-default-network", "the libvirt default network", VIRT_ROLES)
def libvirt_default_network(ctx: Context) -> Result:
    cfg = ctx.cfg
    if not ctx.host.run(["virsh", "-c", cfg.compute.libvirt_uri, "uri"], timeout=20).ok:
        return note(f"not checked: libvirt does not answer on {cfg.compute.libvirt_uri} (see libvirt-reachable)")
    found = default_network(ctx)
    if found is None:
        return ok("there is no libvirt 'default' network")
    net, bridge, active, autostart = found
    ours = ipaddress.IPv4Network(cfg.network.subnet)
    clash = []
    if net is not None and net.overlaps(ours):
        clash.append(f"its subnet {net} overlaps network.subnet {ours}")
    if bridge and bridge == cfg.network.bridge:
        clash.append(f"it uses the bridge {bridge}, which network.bridge names too")
    state = f"{'running' if active else 'stopped'}, autostart {'on' if autostart else 'off'}"
    if not clash:
        return ok(f"'default' ({net} on {bridge}, {state}) does not overlap silvereye's {ours} on {cfg.network.bridge}")
    what = f"libvirt's 'default' network ({state}): {' and '.join(clash)}, so its DHCP competes with silvereye's"
    if active:
        return fail(what, f"virsh net-destroy default{'; virsh net-autostart --disable default' if autostart else ''}; or change network.subnet", fixable=autostart)
    if autostart:
        return warn(what, "virsh net-autostart --disable default", fixable=True)
    return ok("'default' overlaps silvereye's network but is stopped and does not autostart")


@check("subnet-free", "a free instance subnet", VIRT_ROLES)
def subnet_free(ctx: Context) -> Result:
    ours = ipaddress.IPv4Network(ctx.cfg.network.subnet)
    for route in ctx.facts.routes:
        if route.network.prefixlen and route.dev != ctx.cfg.network.bridge and route.network.overlaps(ours):
            return fail(
                f"network.subnet {ours} overlaps {route.network} on {route.dev}: instances could not reach that network",
                "set network.subnet in the config to a private range this host does not use",
            )
    return ok(f"{ours} is not used on this host")


# -- forwarding -------------------------------------------------------------

SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
FORWARD_KEYS = ("net.ipv4.ip_forward", "net/ipv4/ip_forward")


def persistent_sysctl(ctx: Context, keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(value, file) a boot would set for a sysctl, read the way sysctl --system orders its files."""
    chosen: dict[str, str] = {}
    for d in SYSCTL_DIRS:
        for name in ctx.host.listdir(d) or []:
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = posixpath.join(d, name)
    files = [chosen[n] for n in sorted(chosen)] + ["/etc/sysctl.conf"]
    found = None
    for path in files:
        for line in (ctx.host.read_file(path) or "").splitlines():
            line = line.strip().lstrip("-")
            if "=" in line and not line.startswith(("#", ";")):
                k, v = (p.strip() for p in line.split("=", 1))
                if k in keys:
                    found = (v, path)
    return found


@check("ip-forwarding", "IP forwarding", VIRT_ROLES)
def ip_forwarding(ctx: Context) -> Result:
    now = ctx.facts.first_line("/proc/sys/net/ipv4/ip_forward")
    boot = persistent_sysctl(ctx, FORWARD_KEYS)
    persistent = boot is not None and boot[0] == "1"
    remedy = "echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/60-silvereye.conf && sysctl -w net.ipv4.ip_forward=1"
    if now != "1":
        return warn("net.ipv4.ip_forward is 0: instances cannot reach beyond the host until libvirt starts a NAT network", remedy, fixable=True)
    if not persistent:
        where = f" ({boot[1]} sets {boot[0]})" if boot else ""
        return note(f"on now, but no sysctl file keeps it on after a reboot{where}", remedy, fixable=True)
    return ok(f"on, and kept on by {boot[1]}")


# -- elastic IPs ------------------------------------------------------------


@check("public-range", "a usable elastic IP range", API_ROLES)
def public_range(ctx: Context) -> Result:
    text = ctx.cfg.network.public_range
    dev = ctx.facts.primary_interface
    if not text:
        return note("network.public_range is empty: elastic IPs are disabled", f"set network.public_range to unused addresses on {dev or 'the outside interface'}'s subnet to offer them")
    addresses = parse_ip_range(text)
    addrs = ctx.facts.addresses(dev) if dev else None
    if not addrs:
        return fail(f"cannot place network.public_range {text}: {dev or 'no interface'} has no IPv4 address", "configure the outside interface first")
    home = next((a for a in addrs if addresses[0] in a.interface.network), None)
    if home is None or any(ip not in home.interface.network for ip in addresses):
        nets = ", ".join(str(a.interface.network) for a in addrs)
        return fail(f"network.public_range {text} is not inside {dev}'s subnet ({nets}): nobody would route those addresses here", f"choose unused addresses from {nets}")
    net = home.interface.network
    gateway = ctx.facts.default_route.gateway if ctx.facts.default_route else None
    reserved = {net.network_address: "the network address", net.broadcast_address: "the broadcast address"}
    reserved.update({a.ip: f"an address of {dev}" for a in addrs})
    if gateway is not None:
        reserved[gateway] = "the gateway"
    taken = set(addresses) & set(reserved)
    if taken:
        ip = min(taken)
        return fail(f"network.public_range {text} includes {ip} ({reserved[ip]})", f"choose addresses in {net} that exclude {ip}")
    ours = ipaddress.IPv4Network(ctx.cfg.network.subnet)
    if any(ip in ours for ip in addresses):
        return fail(f"network.public_range {text} overlaps the instances' network.subnet {ours}", "keep elastic IPs on the outside subnet")
    return ok(f"{text}: {len(addresses)} addresses on {dev}'s {net}")
