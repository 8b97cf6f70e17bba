"""Domain lifecycle events from libvirt, delivered as instance events.

libvirt reports a domain starting, stopping, crashing or being undefined
through callbacks that only fire while an event loop runs. We register
libvirt's default loop once per process, before the first connection opens
(connections opened earlier never deliver events, and remote connections
need the loop for their keepalives), and run it in one daemon thread.

The EC2 layer subscribes with a function taking an :class:`InstanceEvent`;
it moves its instance records (pending -> running, stopping -> stopped,
shutting-down -> terminated) from them. Callbacks run on the event thread:
they must be quick and must not call back into libvirt synchronously for
long; an exception in one is logged and does not stop the others.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from silvereye.compute import ids

log = logging.getLogger(__name__)

_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None


def ensure_event_loop() -> None:
    """Register libvirt's default event loop and run it in a daemon thread (once per process)."""
    global _loop_thread
    import libvirt

    with _loop_lock:
        if _loop_thread is not None:
            return
        libvirt.virEventRegisterDefaultImpl()
        # libvirt prints every error to stderr by default; ours are raised as typed exceptions.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # a failing iteration must not end event delivery
                    log.exception("libvirt event loop iteration failed")

        _loop_thread = threading.Thread(target=run, name="libvirt-events", daemon=True)
        _loop_thread.start()


@dataclass(frozen=True)
class InstanceEvent:
    """Something happened to an instance's domain: ``event`` is started, stopped, shutdown,
    crashed, suspended, resumed, defined, undefined or pmsuspended; ``detail`` refines it
    (stopped: shutdown, destroyed, crashed, failed, saved, migrated...)."""

    instance_id: str
    node: str
    event: str
    detail: str


_EVENTS = ("defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed")


@functools.lru_cache(maxsize=None)
def _names(prefix: str, allowed: tuple[str, ...] | None = None) -> dict[int, str]:
    """libvirt's integer constants named ``<prefix><NAME>``, by value (only ``allowed`` names if given)."""
    import libvirt

    out: dict[int, str] = {}
    for attr in dir(libvirt):
        if not attr.startswith(prefix):
            continue
        name = attr[len(prefix):].lower()
        if name == "last" or (allowed is not None and name not in allowed):
            continue
        out[getattr(libvirt, attr)] = name
    return out


def describe(event: int, detail: int) -> tuple[str, str]:
    """Names for libvirt's (event, detail) integers."""
    name = _names("VIR_DOMAIN_EVENT_", _EVENTS).get(event, f"event-{event}")
    return name, _names(f"VIR_DOMAIN_EVENT_{name.upper()}_").get(detail, str(detail))


Listener = Callable[[InstanceEvent], None]


class Subscription:
    def __init__(self, hub: EventHub, listener: Listener):
        self._hub, self.listener = hub, listener

    def cancel(self) -> None:
        self._hub._remove(self)


class EventHub:
    """Fans lifecycle callbacks of every node out to subscribers, for silvereye domains only."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Subscription:
        sub = Subscription(self, listener)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def register(self, node_name: str, conn) -> int:
        """Ask ``conn`` for lifecycle callbacks (called for every new connection of a node)."""
        import libvirt

        def callback(_conn, dom, event, detail, _opaque) -> None:
            instance_id = ids.instance_id_of(dom.name())
            if instance_id is None:
                return
            name, detail_name = describe(event, detail)
            self.publish(InstanceEvent(instance_id, node_name, name, detail_name))

        return conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, None)

    def publish(self, event: InstanceEvent) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.listener(event)
            except Exception:
                log.exception("instance event listener failed on %s", event)
