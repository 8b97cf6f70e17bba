"""The safe remedies ``silvereye preflight --fix`` applies, one per check id.

Checks only read; this module is the one place preflight changes a host. Each
fix is small and idempotent, goes through the same :class:`Host` (so it works
over SSH too), and returns a line for every change it made so the user sees
exactly what happened. A fix that cannot do its job raises :class:`FixFailed`
with the reason; the runner reports it and carries on with the others.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Callable

from silvereye.errors import SilvereyeError
from silvereye.preflight.checks.interface import first_address
from silvereye.preflight.checks.virt import kvm_module_name
from silvereye.preflight.model import Context

MODULES_FILE = "/etc/modules-load.d/silvereye.conf"
SYSCTL_FILE = "/etc/sysctl.d/60-silvereye.conf"


class FixFailed(SilvereyeError):
    pass


def _run(ctx: Context, argv: list[str], timeout: float = 60) -> str:
    r = ctx.host.run(argv, timeout=timeout)
    if not r.ok:
        raise FixFailed(f"{' '.join(argv)} failed: {r.last_error_line()}")
    return r.stdout


def load_module(ctx: Context, module: str) -> list[str]:
    """modprobe now, and list it in modules-load.d so it is loaded at every boot."""
    _run(ctx, ["modprobe", module])
    changes = [f"loaded the kernel module {module}"]
    current = ctx.host.read_file(MODULES_FILE) or ""
    if module not in current.split():
        header = "" if current else "# Kernel modules silvereye needs (written by silvereye preflight --fix).\n"
        ctx.host.run(["mkdir", "-p", "/etc/modules-load.d"])
        ctx.host.write_file(MODULES_FILE, current + header + module + "\n")
        changes.append(f"added {module} to {MODULES_FILE} so it loads at boot")
    return changes


def fix_kvm_modules(ctx: Context) -> list[str]:
    module = kvm_module_name(ctx)
    if module is None:
        raise FixFailed("the CPU shows no vmx/svm, so there is no KVM module to load")
    return load_module(ctx, module)


def fix_ip_forwarding(ctx: Context) -> list[str]:
    text = "# Written by silvereye preflight --fix: instances reach the outside through this host.\nnet.ipv4.ip_forward = 1\n"
    ctx.host.run(["mkdir", "-p", "/etc/sysctl.d"])
    ctx.host.write_file(SYSCTL_FILE, text)
    _run(ctx, ["sysctl", "-w", "net.ipv4.ip_forward=1"])
    return [f"wrote net.ipv4.ip_forward = 1 to {SYSCTL_FILE}", "set net.ipv4.ip_forward=1 now"]


def hosts_with_name(text: str, name: str, addr: ipaddress.IPv4Address) -> str:
    """/etc/hosts with the host's names (short and fully qualified) moved off loopback lines onto ``addr``."""
    short = name.split(".")[0]

    def ours(token: str) -> bool:
        return token in (name, short) or token.startswith(short + ".")

    moved: list[str] = [name] if "." in name else []
    out = []
    for line in text.splitlines():
        body = line.split("#", 1)[0].split()
        try:
            loopback = bool(body) and ipaddress.ip_address(body[0]).is_loopback
        except ValueError:
            loopback = False
        if loopback and any(ours(t) for t in body[1:]):
            moved += [t for t in body[1:] if ours(t) and t not in moved]
            kept = [t for t in body[1:] if not ours(t)]
            if not kept:
                continue
            line = "\t".join([body[0]] + kept)
        out.append(line)
    names = sorted(set(moved) | {short}, key=lambda t: (-t.count("."), t))  # canonical (longest) name first
    if not any(ln.split("#", 1)[0].split()[:1] == [str(addr)] and name in ln.split() for ln in out):
        out.append("\t".join([str(addr), " ".join(names)]))
    return "\n".join(out) + "\n"


def fix_hostname(ctx: Context) -> list[str]:
    name = ctx.facts.hostname
    addr = first_address(ctx)
    if not name or addr is None:
        raise FixFailed("no hostname or no address on the primary interface to map it to")
    before = ctx.host.read_file("/etc/hosts") or ""
    after = hosts_with_name(before, name, addr.ip)
    if after == before:
        return []
    ctx.host.write_file("/etc/hosts", after)
    return [f"/etc/hosts now maps {name} to {addr.ip} (and no longer to a loopback address)"]


def _start(ctx: Context, daemon: str) -> str:
    if ctx.facts.systemd:
        _run(ctx, ["systemctl", "start", daemon])
        return f"started {daemon} (systemctl start {daemon})"
    _run(ctx, [daemon, "-d"])
    return f"started {daemon} ({daemon} -d)"


def fix_virtlogd(ctx: Context) -> list[str]:
    return [_start(ctx, "virtlogd")]


def fix_libvirt(ctx: Context) -> list[str]:
    changes = []
    if "virtlogd" not in ctx.facts.processes and not ctx.facts.systemd:
        changes.append(_start(ctx, "virtlogd"))
    daemon = "libvirtd" if ctx.facts.which("libvirtd") else "virtqemud"
    changes.append(_start(ctx, daemon))
    uri = ctx.cfg.compute.libvirt_uri
    deadline = time.monotonic() + 10
    while not ctx.host.run(["virsh", "-c", uri, "version"]).ok:
        if time.monotonic() > deadline:
            raise FixFailed(f"{daemon} started but {uri} still does not answer after 10 s")
        time.sleep(0.2)
    return changes


def fix_default_network(ctx: Context) -> list[str]:
    _run(ctx, ["virsh", "-c", ctx.cfg.compute.libvirt_uri, "net-autostart", "--disable", "default"])
    return ["libvirt's 'default' network no longer starts at boot (virsh net-autostart --disable default)"]


FIXES: dict[str, Callable[[Context], list[str]]] = {
    "kvm-modules": fix_kvm_modules,
    "tun-device": lambda ctx: load_module(ctx, "tun"),
    "vhost-net": lambda ctx: load_module(ctx, "vhost_net"),
    "bridge-support": lambda ctx: load_module(ctx, "bridge"),
    "ip-forwarding": fix_ip_forwarding,
    "hostname-resolves": fix_hostname,
    "virtlogd": fix_virtlogd,
    "libvirt-reachable": fix_libvirt,
    "libvirt-default-network": fix_default_network,
}
