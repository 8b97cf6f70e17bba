"""Nodes: the hosts instances run on, each a libvirt connection and its files.

The local node (``compute.libvirt_uri``) is always there; the configured
extra nodes (``compute.nodes``, ``qemu+ssh://`` URIs) join it. A node keeps
one libvirt connection, reopened when it dies; whoever needs to know about
a new connection (the event hub, to ask for lifecycle callbacks again)
registers with :meth:`Node.on_connect`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from silvereye.compute import events
from silvereye.compute.errors import ComputeError, InstanceNotFound, NodeUnavailable, libvirt_call
from silvereye.compute.hostfiles import Host, host_for_uri

log = logging.getLogger(__name__)

LOCAL_NODE = "local"


@dataclass(frozen=True)
class NodeCapacity:
    """A node's size and what running domains take of it (any domain, not only ours)."""

    node: str
    cpus: int
    memory_mib: int
    disk_total: int
    disk_free: int
    vcpus_used: int
    memory_used_mib: int
    domains_running: int


class Node:
    def __init__(self, name: str, uri: str, host: Host | None = None):
        self.name = name
        self.uri = uri
        self.host = host or host_for_uri(uri)
        self._conn = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Node, object], None]] = []

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.uri!r})"

    def on_connect(self, listener: Callable[[Node, object], None]) -> None:
        """Call ``listener(node, conn)`` for the current connection (if any) and every new one."""
        with self._lock:
            self._listeners.append(listener)
            conn = self._conn
        if conn is not None:
            listener(self, conn)

    def connection(self):
        """The open libvirt connection, (re)opened as needed; NodeUnavailable if it cannot be."""
        import libvirt

        with self._lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except libvirt.libvirtError:
                    pass
                self._conn = None
            events.ensure_event_loop()
            try:
                with libvirt_call(f"connect to node {self.name} ({self.uri})"):
                    conn = libvirt.open(self.uri)
            except NodeUnavailable:
                raise
            except ComputeError as e:
                raise NodeUnavailable(str(e)) from None
            self._conn = conn
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(self, conn)
            except Exception:
                log.exception("node %s: connection listener failed", self.name)
        return conn

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def capacity(self, instances_path: Path) -> NodeCapacity:
        import libvirt

        conn = self.connection()
        with libvirt_call(f"read the capacity of node {self.name}"):
            info = conn.getInfo()
            running = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            vcpus = memory_kib = 0
            for state_info in surviving(running, lambda dom: dom.info()):
                memory_kib += state_info[1]
                vcpus += state_info[3]
        space = self.host.disk_space(instances_path)
        return NodeCapacity(
            node=self.name,
            cpus=int(info[2]),
            memory_mib=int(info[1]),
            disk_total=space.total,
            disk_free=space.free,
            vcpus_used=vcpus,
            memory_used_mib=memory_kib // 1024,
            domains_running=len(running),
        )


def surviving(domains, read):
    """``read(dom)`` for each domain still there when we ask.

    A listing is a snapshot: another process (or our own terminate) may
    undefine a domain between listAllDomains and the next call on it. Such a
    domain is simply gone, not an error of the whole listing.
    """
    import libvirt

    out = []
    for dom in domains:
        try:
            out.append(read(dom))
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
        except InstanceNotFound:  # libvirt_call's translation when it knew the instance
            continue
        except ComputeError as e:  # libvirt_call's translation of the same error
            if getattr(e, "code", None) != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return out


def nodes_from_config(cfg) -> list[Node]:
    """The local node, then each configured extra node, in configuration order."""
    out = [Node(LOCAL_NODE, cfg.compute.libvirt_uri)]
    for n in cfg.compute.nodes:
        if n.name == LOCAL_NODE:
            raise ComputeError(f"compute.nodes: the name '{LOCAL_NODE}' is kept for this host's node; rename that node")
        out.append(Node(n.name, n.uri))
    return out
