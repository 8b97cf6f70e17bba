"""``silvereye status``: is each part of this cloud up, and how much room is left on each node.

Components, each with a state (ok, down, absent) and a detail naming the
concrete thing: the service (systemd unit or supervised daemon), the API
listener (an HTTP request answered), the store (a query answered), libvirt
on each node, the instance network on each node, the metadata listener and
its nftables redirect, HAProxy. Capacity follows Eucalyptus'
``euca-describe-availability-zones verbose``: for each node and instance
type, how many more instances fit now (free) and on the empty node (max),
as the scheduler counts them.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from silvereye import config as config_mod
from silvereye.config import Config
from silvereye.errors import SilvereyeError
from silvereye.laydown import service as service_mod
from silvereye.laydown.layout import Layout
from silvereye.laydown.manifest import Manifest
from silvereye.net import endpoint_url

OK, DOWN, ABSENT = "ok", "down", "absent"
GIB = 1 << 30


@dataclass
class Component:
    name: str
    state: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class TypeRoom:
    instance_type: str
    free: int
    max: int
    vcpus: int
    memory_mib: int
    disk_gib: int


@dataclass
class NodeRoom:
    node: str
    uri: str
    types: list[TypeRoom] = field(default_factory=list)


@dataclass
class StatusReport:
    role: str
    zone: str
    endpoint: str
    components: list[Component] = field(default_factory=list)
    capacity: list[NodeRoom] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(c.state in (OK, ABSENT) for c in self.components) and any(c.state == OK for c in self.components)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role, "zone": self.zone, "endpoint": self.endpoint, "healthy": self.healthy,
            "components": [c.to_dict() for c in self.components],
            "capacity": [dataclasses.asdict(n) for n in self.capacity],
        }


# ---------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------


def probe_service(layout: Layout, manifest: Manifest | None) -> Component:
    kinds = manifest.of_kind("service") if manifest else []
    if not kinds:
        return Component("service", ABSENT, "not installed here (silvereye install)")
    svc = service_mod.for_layout(layout, kinds[0].get("manager"))
    pid = svc.serve_pid()
    if svc.running():
        return Component("service", OK, f"running (pid {pid or '?'}): {svc.description}")
    return Component("service", DOWN, f"not running: {svc.description}")


def probe_api(cfg: Config) -> Component:
    url = endpoint_url(cfg)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5):
            pass  # any answer will do: the listener is up
    except urllib.error.HTTPError:
        pass  # an unsigned request is refused: the listener answered
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return Component("API listener", DOWN, f"{url}: {reason}")
    return Component("API listener", OK, f"{url} answers ({(time.monotonic() - started) * 1000:.0f} ms)")


def probe_store(cfg: Config) -> Component:
    from silvereye.store import open_store

    try:
        import sqlalchemy as sa

        store = open_store(cfg.store_url)
        try:
            with store.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            store.close()
    except Exception as e:  # any failure to open or query is the store being down
        return Component("store", DOWN, f"{_redact(cfg.store_url)}: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    return Component("store", OK, f"{_redact(cfg.store_url)} answers")


def _redact(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def probe_haproxy() -> Component:
    exe = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/sbin/haproxy") if Path(p).exists()), None)
    if exe is None:
        return Component("HAProxy", ABSENT, "not installed: Elastic Load Balancing needs it (apt-get/dnf install haproxy)")
    r = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10)
    version = (r.stdout.split() or ["", "", "?"])[2] if r.returncode == 0 else "?"
    running = subprocess.run(["pgrep", "-c", "-x", "haproxy"], capture_output=True, text=True).stdout.strip() or "0"
    return Component("HAProxy", OK, f"{exe} {version} installed; {running} haproxy processes running (one per load balancer)")


def probe_metadata_listener(target_ip: str, port: int, redirect_ok: bool, table: str) -> Component:
    where = f"{target_ip}:{port}"
    try:
        with socket.create_connection((target_ip, port), timeout=2):
            listening = True
    except OSError:
        listening = False
    if listening and redirect_ok:
        return Component("metadata listener", OK, f"{where} listens; 169.254.169.254:80 is redirected to it (nft table ip {table})")
    if listening:
        return Component("metadata listener", DOWN, f"{where} listens, but nft table ip {table} with the redirect is missing")
    return Component("metadata listener", DOWN, f"nothing listens on {where}" + ("" if redirect_ok else f"; nft table ip {table} is missing"))


def node_components_and_capacity(cfg: Config, report: StatusReport) -> None:
    """libvirt and the network on every node, the metadata listener, and the capacity table."""
    try:
        from silvereye.compute import ComputeDriver
        from silvereye.compute.instance_types import all_types
        from silvereye.compute.scheduler import Scheduler
    except ImportError:
        report.components.append(Component("libvirt", ABSENT, "this build of silvereye has no compute driver"))
        return
    driver = ComputeDriver(cfg)
    scheduler = Scheduler()
    try:
        for node in driver.nodes:
            label = f"libvirt on {node.name}"
            try:
                conn = node.connection()
            except SilvereyeError as e:
                if report.role == "frontend" and node.name == "local":
                    report.components.append(Component(label, ABSENT, "a frontend runs no instances itself; its nodes do"))
                else:
                    report.components.append(Component(label, DOWN, str(e)))
                continue
            report.components.append(Component(label, OK, f"{node.uri} answers"))
            report.components.append(probe_network(driver, node, conn))
            try:
                cap = node.capacity(driver.instances_path)
            except SilvereyeError as e:
                report.components.append(Component(f"capacity of {node.name}", DOWN, str(e)))
                continue
            report.capacity.append(NodeRoom(node.name, node.uri, room_per_type(scheduler, cap, all_types())))
        redirect = driver.metadata_redirect
        report.components.append(probe_metadata_listener(redirect.target_ip, redirect.target_port, redirect.installed(), redirect.table))
    finally:
        driver.close()


def probe_network(driver: Any, node: Any, conn: Any) -> Component:
    net, name = driver.network, f"network on {node.name}"
    if net.lookup(conn) is None:
        return Component(name, DOWN, f"libvirt network {net.name} is not defined (silvereye install defines it)")
    if not node.host.exists(Path("/sys/class/net") / net.bridge):
        return Component(name, DOWN, f"libvirt network {net.name} is defined but not running (no bridge {net.bridge})")
    return Component(name, OK, f"{net.name}: {net.subnet} on bridge {net.bridge}")


def room_per_type(scheduler: Any, cap: Any, types: list[Any]) -> list[TypeRoom]:
    """Free and max instances of each type on one node, counted as the scheduler counts room."""
    free = scheduler.free_room(cap)
    empty = scheduler.free_room(dataclasses.replace(cap, vcpus_used=0, memory_used_mib=0, disk_free=cap.disk_total,
                                                    domains_running=0))
    rows = []
    for t in types:
        disk = t.root_gib * GIB
        rows.append(TypeRoom(t.name, _fits(free, t.vcpus, t.memory_mib, disk), _fits(empty, t.vcpus, t.memory_mib, disk),
                             t.vcpus, t.memory_mib, t.root_gib))
    return rows


def _fits(room: Any, vcpus: int, memory_mib: int, disk: int) -> int:
    counts = [int(room.vcpus // vcpus), int(room.memory_mib // memory_mib)]
    if disk:
        counts.append(int(room.disk_bytes // disk))
    return max(0, min(counts))


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def collect(config: Path | None) -> StatusReport:
    cfg = config_mod.load(config)
    layout_now = Layout.for_host(cfg)
    manifest = Manifest.load(layout_now.manifest_path)
    layout = Layout.from_dict(manifest.layout) if manifest and manifest.layout else layout_now
    role = manifest.role if manifest else "not installed"
    report = StatusReport(role, cfg.availability_zones[0], endpoint_url(cfg))
    if role == "node":
        report.components.append(Component("service", ABSENT, "a node runs no API; its frontend drives its libvirt"))
    else:
        report.components += [probe_service(layout, manifest), probe_api(cfg), probe_store(cfg)]
    node_components_and_capacity(cfg, report)
    if role != "node":
        report.components.append(probe_haproxy())
    return report


STATE_STYLE = {OK: "green", DOWN: "bold red", ABSENT: "yellow"}


def show(report: StatusReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]silvereye {escape(report.role)}[/bold], zone {escape(report.zone)}, endpoint {escape(report.endpoint)}")
    width = max((len(c.name) for c in report.components), default=10)
    for c in report.components:
        style = STATE_STYLE.get(c.state, "")
        console.print(f"  {escape(c.name.ljust(width))}  [{style}]{c.state.upper():<6}[/{style}] {escape(c.detail)}")
    for node in report.capacity:
        console.print(f"\nAVAILABILITYZONE  {escape(report.zone)}  node {escape(node.node)} ({escape(node.uri)})")
        console.print(f"AVAILABILITYZONE  |- {'vm types':<12} free / max   cpu   ram  disk")
        for t in node.types:
            console.print(f"AVAILABILITYZONE  |- {t.instance_type:<12} {t.free:04d} / {t.max:04d}  {t.vcpus:>4} {t.memory_mib:>5} {t.disk_gib:>5}")
    verdict = "[green]all components are up[/green]" if report.healthy else "[bold red]some components are down[/bold red]"
    console.print("\n" + verdict)
