"""What the EC2 service holds while the server runs: the compute driver and the background workers.

Handlers answer from the store and hand slow work (launching, stopping,
terminating, making images) to :meth:`Ec2Runtime.submit`, which runs it on
a worker thread after any earlier work on the same instance: operations on
one instance never overlap, and ``busy()`` tells libvirt's event handler and
the reconciler to leave an instance alone while its own operation is
settling it.

The instance network and the metadata listener come up lazily: at start-up
when instances exist, otherwise before the first launch, so a server that
only serves IAM or S3 never touches the host's network.

``runtime_for(store)`` finds the runtime of the server (or test) that owns a
store; the service's start-up hook creates and registers it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from silvereye.compute import ComputeDriver
from silvereye.compute.nodes import LOCAL_NODE, Node
from silvereye.services.ec2 import hooks
from silvereye.services.gateway.errors import ServiceError

log = logging.getLogger("silvereye.ec2")

WORKERS = 12  # launches mostly wait on libvirt and qemu-img; ten at once must not queue


def _probe_domain_type(node: Node) -> str:
    """'kvm' when a probe guest boots under KVM on the node, else 'qemu' (TCG); cached on the node."""
    from silvereye.preflight.kvm_probe import probe_kvm

    if node.name == LOCAL_NODE:
        from silvereye.preflight.local_host import LocalHost

        host = LocalHost()
    else:
        from silvereye.preflight.ssh_host import SshHost, parse_target

        remote = node.host
        target = parse_target(f"{remote.user or 'root'}@{remote.host}:{remote.port or 22}")
        keyfile = getattr(remote, "keyfile", None)
        host = SshHost(target, key_file=Path(keyfile) if keyfile else None)
    verdict = probe_kvm(host)
    kind = "kvm" if verdict.usable else "qemu"
    log.info("node %s: instances run under %s (%s)", node.name, kind, verdict.detail or "KVM works")
    return kind


def make_driver(cfg: Any) -> ComputeDriver:
    """The driver for this configuration; test:// URIs have no bridge, so no metadata redirect."""
    redirect = not cfg.compute.libvirt_uri.startswith("test:")
    return ComputeDriver(cfg, resolve_domain_type=_probe_domain_type, metadata_redirect=redirect)


class Ec2Runtime:
    def __init__(self, cfg: Any, store: Any, driver: ComputeDriver | None = None, *, workers: int = WORKERS):
        self.cfg = cfg
        self.store = store
        self.driver = driver or make_driver(cfg)
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ec2")
        self._tails: dict[str, concurrent.futures.Future] = {}
        self._busy: collections.Counter[str] = collections.Counter()
        self._queued_once: set[tuple[str, Callable[..., Any]]] = set()
        self._lock = threading.Lock()
        self._network_lock = threading.Lock()
        self.network_ready = False
        # Called (with the runtime) once the instance network is up: the metadata listener starts there.
        self.network_listeners: list[Callable[[Ec2Runtime], None]] = []
        self.metadata: Any = None  # the MetadataService, once started by the server
        self.subscription: Any = None  # libvirt lifecycle events
        self.closed = False

    # -- per-instance work ----------------------------------------------------------------

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Run ``fn(*args)`` on a worker after earlier work submitted under ``key`` (an instance id)."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:  # the previous tail and the new one change hands atomically
            previous = self._tails.get(key)
            self._tails[key] = done
            self._busy[key] += 1

        def run() -> None:
            if previous is not None:
                concurrent.futures.wait([previous])
            result, error = None, None
            try:
                result = fn(*args)
            except BaseException as e:  # noqa: BLE001 - reported on the future and in the log
                log.exception("background work on %s failed", key)
                error = e
            finally:
                self._release(key, done)
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        try:
            self.executor.submit(run)
        except RuntimeError as e:  # shutting down: nothing more runs
            self._release(key, done)
            done.set_exception(e)
        return done

    def _release(self, key: str, done: concurrent.futures.Future) -> None:
        with self._lock:
            self._busy[key] -= 1
            if self._busy[key] <= 0:
                del self._busy[key]
            if self._tails.get(key) is done:
                del self._tails[key]

    def submit_once(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        """Like :meth:`submit`, unless ``fn`` is already queued for ``key`` and has not begun: a burst of
        libvirt events for one instance becomes one settle."""
        marker = (key, fn)
        with self._lock:
            if marker in self._queued_once:
                return
            self._queued_once.add(marker)

        def begin() -> Any:
            with self._lock:
                self._queued_once.discard(marker)
            return fn(*args)

        self.submit(key, begin)

    def busy(self, key: str) -> bool:
        with self._lock:
            return self._busy.get(key, 0) > 0

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no work is queued or running, including work queued meanwhile; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._tails.values())
            if not pending:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            concurrent.futures.wait(pending, timeout=left)

    # -- the network ------------------------------------------------------------------------

    def ensure_network(self) -> None:
        """Bring up the instance network and metadata redirect (once), then tell the listeners."""
        if self.network_ready:
            return
        with self._network_lock:
            if self.network_ready:
                return
            self.driver.setup()
            hooks.network_ready(self)  # features put their host state back before anything runs
            self.network_ready = True
        for listener in list(self.network_listeners):
            try:
                listener(self)
            except Exception:
                log.exception("a listener of the instance network failed to start")

    def network_present(self) -> bool:
        """Whether the instance network already exists and runs on this host's node (an installed
        cloud): then the service brings its metadata listener up at start, instances or not."""
        try:
            net = self.driver.network.lookup(self.driver.nodes[0].connection())
            return net is not None and bool(net.isActive())
        except Exception:  # libvirt down: nothing to bring up yet
            return False

    def close(self) -> None:
        self.closed = True
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.driver.close()


_runtimes: "weakref.WeakKeyDictionary[Any, Ec2Runtime]" = weakref.WeakKeyDictionary()
_runtimes_lock = threading.Lock()


def register(runtime: Ec2Runtime) -> Ec2Runtime:
    with _runtimes_lock:
        _runtimes[runtime.store] = runtime
    return runtime


def unregister(runtime: Ec2Runtime) -> None:
    with _runtimes_lock:
        if _runtimes.get(runtime.store) is runtime:
            del _runtimes[runtime.store]


def runtime_for(store: Any) -> Ec2Runtime:
    with _runtimes_lock:
        found = _runtimes.get(store)
    if found is None:
        raise ServiceError("ServiceUnavailable", "The compute service is starting or stopped; retry shortly.", 503,
                           sender_fault=False)
    return found
