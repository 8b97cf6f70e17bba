"""The compute driver: instances as libvirt domains, across the configured nodes.

The EC2 layer calls this and nothing below it. A launch places the instance
(scheduler), reserves its MAC and address (network), lays down its disk
overlay (disks), defines and starts its domain; any failure on the way
undoes what was done, so a failed launch leaves nothing behind. Every other
operation finds the instance's domain by name on the nodes, because libvirt,
not a record of ours, says where an instance is and what state it is in.
An instance may instead boot from an EBS volume (``BootSource.root_volume``):
its root disk is then the volume's file, not an overlay, and terminate
releases the volume without deleting it (``volumes.py`` says how EC2 uses it).

Blocking calls (stop waits for a clean shutdown) are meant to run on a
worker thread of the caller; every method is safe to call from several
threads, and operations on one instance are serialised.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime
import threading
import time
from collections.abc import Callable
from pathlib import Path

from silvereye.compute import ids, instance_types
from silvereye.compute.disks import ImageCache, copy_to_node, create_overlay
from silvereye.compute.domain_xml import DomainSpec, build_domain, find_ovmf, read_metadata
from silvereye.compute.errors import (
    ComputeError,
    InstanceExists,
    InstanceNotFound,
    InsufficientCapacity,
    InvalidArgument,
    NodeUnavailable,
    libvirt_call,
)
from silvereye.compute.events import EventHub, Listener, Subscription
from silvereye.compute.metadata_nat import MetadataRedirect, table_name_for
from silvereye.compute.model import ABSENT, STATE_NAMES, DomainState, InstanceInfo, LaunchRequest, Orphans, Termination
from silvereye.compute.network import InstanceNetwork, Reservation, SubnetInfo
from silvereye.compute.nodes import Node, NodeCapacity, nodes_from_config, surviving
from silvereye.compute.scheduler import Demand, Scheduler
from silvereye.compute.volumes import ROOT_TARGET, Volumes, check_root_device, held_volumes, volumes_in

CONSOLE_FILE = "console.log"
ROOT_DISK = "root.qcow2"
UEFI_VARS = "uefi-vars.fd"
CONSOLE_OUTPUT_BYTES = 64 * 1024  # what GetConsoleOutput returns: the latest 64 KiB
# libvirt's stock nwfilter against MAC, IP and ARP spoofing (package libvirt-daemon-config-nwfilter):
# it pins each instance to its own address, which security groups and elastic IPs rely on.
ANTI_SPOOFING_FILTER = "clean-traffic"

DomainTypeResolver = Callable[[Node], str]
_background = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="compute")


class ComputeDriver:
    def __init__(
        self,
        cfg,
        *,
        domain_type: str | None = None,
        resolve_domain_type: DomainTypeResolver | None = None,
        nodes: list[Node] | None = None,
        network: InstanceNetwork | None = None,
        scheduler: Scheduler | None = None,
        metadata_redirect: bool = True,
        anti_spoofing: bool = False,
    ):
        """``domain_type`` is kvm, qemu or auto (default: the configuration's); auto asks
        ``resolve_domain_type(node)`` once per node (the preflight KVM probe, which boots).
        ``anti_spoofing`` puts libvirt's ``clean-traffic`` nwfilter on every new instance's interface
        (:meth:`enable_anti_spoofing`; security groups and elastic IPs turn it on, as they rely on it;
        it adds 1 to 1.5 s to a launch here, libvirt instantiating the filter)."""
        self.cfg = cfg
        self.domain_type = domain_type or cfg.compute.domain_type
        if self.domain_type not in ("auto", "kvm", "qemu"):
            raise ComputeError(f"domain type {self.domain_type!r} is not one of auto, kvm, qemu")
        self._resolver = resolve_domain_type
        self._resolved: dict[str, str] = {}
        self.nodes = nodes if nodes is not None else nodes_from_config(cfg)
        self.network = network or InstanceNetwork.from_config(cfg)
        self.scheduler = scheduler or Scheduler()
        self.images = ImageCache(cfg.images_path)
        self.instances_path = Path(cfg.instances_path)
        self.events = EventHub()
        self._with_redirect = metadata_redirect
        self.anti_spoofing = anti_spoofing
        self._terminate_hooks: list[Callable[[str], object]] = []
        self._teardown_hooks: list[Callable[[], object]] = []
        self._locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._where: dict[str, str] = {}  # instance id -> node name, a cache of lookups
        self.volumes = Volumes(self)  # root volumes; the EC2 layer's Volumes(driver) shares its locks
        for node in self.nodes:
            node.on_connect(self._on_connect)

    # -- setup ------------------------------------------------------------

    def _on_connect(self, node: Node, conn) -> None:
        try:
            self.events.register(node.name, conn)
        except Exception:
            pass  # a driver without event support (rare) still works, only without events

    @property
    def metadata_redirect(self) -> MetadataRedirect:
        return MetadataRedirect(
            table=table_name_for(self.network.name),
            bridge=self.network.bridge,
            target_ip=str(self.network.gateway),
            target_port=self.cfg.network.metadata_port,
        )

    def setup(self) -> None:
        """Bring up the instance network on every node and the metadata redirect here (idempotent)."""
        for node in self.nodes:
            self.network.ensure(node.connection())
            if self.anti_spoofing:
                _check_nwfilter(node, ANTI_SPOOFING_FILTER)
        if self._with_redirect:
            self.metadata_redirect.apply()

    def enable_anti_spoofing(self) -> None:
        """From now on, launch instances with the anti-spoofing nwfilter (checked on every node first)."""
        for node in self.reachable_nodes():
            _check_nwfilter(node, ANTI_SPOOFING_FILTER)
        self.anti_spoofing = True

    def on_terminate(self, hook: Callable[[str], object]) -> None:
        """Call ``hook(instance_id)`` at the end of every terminate (security groups and elastic
        IPs drop the instance's rules there, so a reused address inherits nothing)."""
        self._terminate_hooks.append(hook)

    def on_teardown(self, hook: Callable[[], object]) -> None:
        """Call ``hook()`` first thing in :meth:`teardown` (tables the hook's owner installed)."""
        self._teardown_hooks.append(hook)

    def teardown(self) -> None:
        """Remove the metadata redirect and the network from every node (instances must be gone)."""
        for hook in reversed(self._teardown_hooks):
            hook()
        if self._with_redirect:
            self.metadata_redirect.remove()
        for node in self.nodes:
            self.network.remove(node.connection())

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def subscribe(self, listener: Listener) -> Subscription:
        """Receive an InstanceEvent for every lifecycle change of a silvereye domain on any node."""
        for node in self.nodes:
            try:
                node.connection()  # events flow only over an open connection
            except NodeUnavailable:
                pass
        return self.events.subscribe(listener)

    def domain_type_for(self, node: Node) -> str:
        if self.domain_type != "auto":
            return self.domain_type
        if node.name not in self._resolved:
            if self._resolver is None:
                raise ComputeError(
                    "compute.domain_type is 'auto' but nothing probed KVM; set compute.domain_type to kvm or qemu"
                )
            kind = self._resolver(node)
            if kind not in ("kvm", "qemu"):
                raise ComputeError(f"the KVM probe answered {kind!r} for node {node.name}; expected kvm or qemu")
            self._resolved[node.name] = kind
        return self._resolved[node.name]

    # -- queries ------------------------------------------------------------

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ComputeError(f"there is no node named {name!r}")

    def reachable_nodes(self) -> list[Node]:
        out = []
        for node in self.nodes:
            try:
                node.connection()
                out.append(node)
            except NodeUnavailable:
                continue
        return out

    def capacity(self) -> list[NodeCapacity]:
        """Size and use of every reachable node."""
        return [node.capacity(self.instances_path) for node in self.reachable_nodes()]

    def subnet_info(self) -> SubnetInfo:
        return self.network.subnet_info({r.ip for r in self._all_reservations()})

    def _all_reservations(self) -> list[Reservation]:
        out: list[Reservation] = []
        for node in self.reachable_nodes():
            out.extend(self.network.reservations(node.connection()))
        return out

    def _all_leases(self) -> set[str]:
        out: set[str] = set()
        for node in self.reachable_nodes():
            out |= self.network.leased_addresses(node.connection())
        return out

    def _lock_for(self, instance_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[instance_id]

    def _find(self, instance_id: str):
        """(node, domain) of an instance; InstanceNotFound when no node has it."""
        import libvirt

        name = ids.domain_name(instance_id)
        cached = self._where.get(instance_id)
        nodes = sorted(self.reachable_nodes(), key=lambda n: n.name != cached)
        for node in nodes:
            try:
                dom = node.connection().lookupByName(name)
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    continue
                raise
            self._where[instance_id] = node.name
            return node, dom
        self._where.pop(instance_id, None)
        raise InstanceNotFound(instance_id)

    def _info(self, node: Node, dom) -> InstanceInfo:
        # InstanceNotFound when the domain is undefined while being read (a terminate at that moment).
        with libvirt_call(f"read domain {dom.name()}", instance_id=ids.instance_id_of(dom.name())):
            state, reason = dom.state()
            xml = dom.XMLDesc(0)
        meta = read_metadata(xml)
        instance_id = ids.instance_id_of(dom.name()) or ""
        st = DomainState(STATE_NAMES.get(state, "nostate"), reason)
        if meta is None or meta.instance_id != instance_id:
            return InstanceInfo(instance_id, node.name, dom.name(), st, recognised=False)
        return InstanceInfo(
            instance_id=instance_id,
            node=node.name,
            domain_name=dom.name(),
            state=st,
            owner=meta.owner or "",
            instance_type=meta.instance_type or "",
            image_id=meta.image_id or "",
            mac=meta.mac or "",
            private_ip=meta.private_ip or "",
            launched_at=meta.launched_at or "",
            network=meta.network or "",
            root_volume=next((v for v, target in volumes_in(xml) if target == ROOT_TARGET), ""),
            root_device=meta.root_device or "",
        )

    def describe(self, instance_id: str) -> InstanceInfo:
        node, dom = self._find(ids.check_instance_id(instance_id))
        return self._info(node, dom)

    def state(self, instance_id: str) -> DomainState:
        """The domain's state; ``absent`` when no node has the instance (it was terminated)."""
        try:
            _, dom = self._find(ids.check_instance_id(instance_id))
        except InstanceNotFound:
            return DomainState(ABSENT)
        with libvirt_call(f"read the state of {instance_id}", instance_id=instance_id):
            state, reason = dom.state()
        return DomainState(STATE_NAMES.get(state, "nostate"), reason)

    def list_instances(self) -> list[InstanceInfo]:
        """Every silvereye domain on every reachable node: the ground truth to reconcile records with."""
        out = []
        for node in self.reachable_nodes():
            with libvirt_call(f"list domains on node {node.name}"):
                domains = node.connection().listAllDomains(0)
            mine = [d for d in domains if ids.instance_id_of(d.name()) is not None]
            out += surviving(mine, lambda dom, node=node: self._info(node, dom))
        return sorted(out, key=lambda i: (i.node, i.instance_id))

    # -- launch ---------------------------------------------------------------

    def instance_dir(self, instance_id: str) -> Path:
        return self.instances_path / ids.check_instance_id(instance_id)

    def launch(self, req: LaunchRequest) -> InstanceInfo:
        """Create and start an instance; on any failure, undo everything and raise.

        A root volume is held (its lock) from the check that nothing else uses it (VolumeInUse,
        before anything is made) until its instance's domain is defined, so two launches, or a
        launch and an attach, cannot both take it."""
        ids.check_instance_id(req.instance_id)
        ids.check_account_id(req.owner)
        ids.check_image_id(req.image_id)
        itype = instance_types.get(req.instance_type)
        volume_id = req.boot.root_volume
        if volume_id is None:
            return self._launch(req, itype, None)
        if req.boot.root is not None:
            raise InvalidArgument("an instance boots from a root image or a root volume, not both")
        check_root_device(req.boot.root_device_name)
        with self.volumes.lock(volume_id):
            return self._launch(req, itype, volume_id)

    def _launch(self, req: LaunchRequest, itype, volume_id: str | None) -> InstanceInfo:
        with self._lock_for(req.instance_id):
            try:
                node, _ = self._find(req.instance_id)
                raise InstanceExists(req.instance_id, node.name)
            except InstanceNotFound:
                pass
            nodes = [self.node(req.node)] if req.node else self.reachable_nodes()
            root_volume = None
            if volume_id is not None:
                root_volume = self.volumes.root_disk(volume_id, req.instance_id)
                if req.node and req.node != self.volumes.node.name:
                    raise ComputeError(f"volume {volume_id} lives on node {self.volumes.node.name}; "
                                       f"{req.instance_id} cannot boot from it on node {req.node}")
                nodes = [self.volumes.node]
            if not nodes:
                names = ", ".join(n.name for n in self.nodes)
                raise InsufficientCapacity(f"no node is reachable (libvirt on {names} does not answer)",
                                           instance_type=req.instance_type)
            demand = Demand(itype.vcpus, itype.memory_mib, req.boot.root_virtual_size())
            claim = self.scheduler.place([n.capacity(self.instances_path) for n in nodes], demand, req.instance_type)
            node = self.node(claim.node)
            undo: list[Callable[[], None]] = []
            try:
                info = self._create(node, req, itype, root_volume, undo)
            except BaseException:
                for step in reversed(undo):
                    try:
                        step()
                    except Exception:
                        pass
                raise
            finally:
                self.scheduler.release(claim)
            self._where[req.instance_id] = node.name
            return info

    def _create(self, node: Node, req: LaunchRequest, itype, root_volume, undo: list) -> InstanceInfo:
        conn = node.connection()
        domain_type = self.domain_type_for(node)
        self.network.ensure(conn)
        reservation = self.network.choose(req.instance_id, self._all_reservations(), self._all_leases())
        # The DHCP reservation (a dnsmasq reload, ~0.4 s) proceeds while the disk is laid
        # down and QEMU starts; the guest asks for its address seconds later anyway.
        reserving = _background.submit(self.network.reserve, conn, reservation)
        undo.append(lambda: self.network.release(conn, reservation.mac))
        reserved = False
        try:
            info = self._lay_down_and_start(node, req, itype, domain_type, reservation, root_volume, undo)
        finally:
            try:
                reserving.result()
                reserved = True
            finally:
                self.network.settle(req.instance_id, reserved=reserved)
        return info

    def _lay_down_and_start(self, node: Node, req: LaunchRequest, itype, domain_type: str,
                            reservation: Reservation, root_volume, undo: list) -> InstanceInfo:
        conn = node.connection()
        directory = self.instance_dir(req.instance_id)
        node.host.makedirs(self.instances_path, 0o755)
        node.host.makedirs(directory, 0o755)
        undo.append(lambda: node.host.remove_tree(directory))

        boot = req.boot
        root = kernel = ramdisk = None
        if boot.root is not None:
            base = copy_to_node(node.host, boot.root, self.images.root)
            root = directory / ROOT_DISK
            create_overlay(node.host, dataclasses.replace(boot.root, path=base), root, boot.root_virtual_size())
        if boot.kernel is not None:
            kernel = copy_to_node(node.host, boot.kernel, self.images.root)
        if boot.ramdisk is not None:
            ramdisk = copy_to_node(node.host, boot.ramdisk, self.images.root)

        spec = DomainSpec(
            instance_id=req.instance_id,
            owner=req.owner,
            instance_type=itype,
            domain_type=domain_type,
            network=self.network.name,
            mac=reservation.mac,
            private_ip=reservation.ip,
            console_log=directory / CONSOLE_FILE,
            root_disk=root,
            root_volume=root_volume,
            root_device=req.boot.root_device_name if root_volume is not None else "",
            kernel=kernel,
            ramdisk=ramdisk,
            kernel_cmdline=boot.kernel_cmdline,
            firmware=boot.firmware,
            uefi=find_ovmf() if boot.firmware == "uefi" else None,
            uefi_vars=directory / UEFI_VARS if boot.firmware == "uefi" else None,
            image_id=req.image_id,
            launched_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            nwfilter=ANTI_SPOOFING_FILTER if self.anti_spoofing else None,
        )
        xml = build_domain(spec).to_xml()
        with libvirt_call(f"define the domain of {req.instance_id} on node {node.name}"):
            dom = conn.defineXML(xml)
        undo.append(lambda: self._undefine(dom))
        with libvirt_call(f"start {req.instance_id} on node {node.name}"):
            _start_domain(dom)
        undo.append(lambda: dom.destroy())
        return self._info(node, dom)

    @staticmethod
    def _undefine(dom) -> None:
        import libvirt

        flags = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError:
            dom.undefine()  # drivers without NVRAM support (test:///default)

    # -- lifecycle --------------------------------------------------------------

    def start(self, instance_id: str) -> DomainState:
        """Start a stopped instance (nothing to do if it runs); InsufficientCapacity if its node is full."""
        with self._lock_for(instance_id):
            node, dom = self._find(ids.check_instance_id(instance_id))
            if dom.isActive():
                return self.state(instance_id)
            info = self._info(node, dom)
            itype = instance_types.get(info.instance_type) if info.recognised else None
            if itype is not None:
                claim = self.scheduler.place(
                    [node.capacity(self.instances_path)], Demand(itype.vcpus, itype.memory_mib, 0), itype.name
                )
                self.scheduler.release(claim)
            with libvirt_call(f"start {instance_id}", instance_id=instance_id):
                _start_domain(dom)
            return self.state(instance_id)

    def change_type(self, instance_id: str, instance_type: str) -> InstanceInfo:
        """Give a stopped instance another instance type (vCPUs, memory): its domain is redefined,
        everything else in its document (UUID, devices, addresses) kept as libvirt wrote it."""
        import xml.etree.ElementTree as ET

        from silvereye.compute.domain_xml import METADATA_NS
        from silvereye.compute.errors import InvalidState

        itype = instance_types.get(instance_type)
        with self._lock_for(instance_id):
            node, dom = self._find(ids.check_instance_id(instance_id))
            if dom.isActive():
                raise InvalidState(f"{instance_id} must be stopped to change its instance type")
            with libvirt_call(f"read domain {dom.name()}", instance_id=instance_id):
                root = ET.fromstring(dom.XMLDesc(0))
            for tag in ("memory", "currentMemory"):
                element = root.find(tag)
                if element is not None:
                    element.set("unit", "KiB")
                    element.text = str(itype.memory_mib * 1024)
            vcpu = root.find("vcpu")
            if vcpu is not None:
                vcpu.text = str(itype.vcpus)
            recorded = root.find(f"metadata/{{{METADATA_NS}}}instance/{{{METADATA_NS}}}instance-type")
            if recorded is not None:
                recorded.text = itype.name
            with libvirt_call(f"redefine the domain of {instance_id}", instance_id=instance_id):
                dom = node.connection().defineXML(ET.tostring(root, encoding="unicode"))
            return self._info(node, dom)

    def stop(self, instance_id: str, *, timeout: float = 60.0, force: bool = False) -> DomainState:
        """Power off: ACPI shutdown, then destroy after ``timeout`` seconds (at once with ``force``)."""
        with self._lock_for(instance_id):
            _, dom = self._find(ids.check_instance_id(instance_id))
            self._power_off(instance_id, dom, timeout, force)
            return self.state(instance_id)

    def _power_off(self, instance_id: str, dom, timeout: float, force: bool) -> None:
        import libvirt

        if not dom.isActive():
            return
        if not force:
            try:
                dom.shutdown()
            except libvirt.libvirtError:
                pass  # no ACPI or the guest is already going down: fall through to waiting/destroying
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not dom.isActive():
                    return
                time.sleep(0.2)
        try:
            with libvirt_call(f"power off {instance_id}", instance_id=instance_id):
                dom.destroy()
        except ComputeError:
            if dom.isActive():
                raise

    def reboot(self, instance_id: str, *, timeout: float = 60.0) -> DomainState:
        """A clean shutdown (forced after ``timeout``) followed by a fresh boot, on the same disk."""
        with self._lock_for(instance_id):
            _, dom = self._find(ids.check_instance_id(instance_id))
            self._power_off(instance_id, dom, timeout, False)
            with libvirt_call(f"start {instance_id} again", instance_id=instance_id):
                _start_domain(dom)
            return self.state(instance_id)

    def terminate(self, instance_id: str) -> bool:
        """Destroy and undefine the domain, release its address, delete its files.

        Idempotent: what is already gone is skipped, so it also cleans up after a
        crash half-way through a launch. False when nothing at all was found.
        """
        return self.terminate_with_report(instance_id).found

    def terminate_with_report(self, instance_id: str) -> Termination:
        """:meth:`terminate`, saying which volumes (root included) the instance held: they are
        detached with its domain, never deleted (DeleteOnTermination is the EC2 layer's to honour)."""
        import libvirt

        ids.check_instance_id(instance_id)
        held = []
        with self._lock_for(instance_id):
            found = False
            try:
                node, dom = self._find(instance_id)
            except InstanceNotFound:
                node = dom = None
            if dom is not None:
                found = True
                info = self._info(node, dom)
                with libvirt_call(f"read domain {dom.name()}", instance_id=instance_id):
                    documents = [dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)]
                    if dom.isActive():
                        documents.append(dom.XMLDesc(0))
                held = held_volumes(documents, info.root_device)
                if dom.isActive():
                    with libvirt_call(f"power off {instance_id}", instance_id=instance_id):
                        dom.destroy()
                with libvirt_call(f"undefine {instance_id}", instance_id=instance_id):
                    self._undefine(dom)
                if info.mac:
                    self.network.release(node.connection(), info.mac)
                    if info.private_ip:
                        self.network.forget_lease(node.host, info.private_ip, info.mac)
            for other in self.reachable_nodes():
                conn = other.connection()
                for r in self.network.reservations(conn):
                    if r.name == instance_id:
                        found = self.network.release(conn, r.mac) or found
                directory = self.instance_dir(instance_id)
                if other.host.exists(directory):
                    other.host.remove_tree(directory)
                    found = True
            self._where.pop(instance_id, None)
        with self._locks_guard:
            self._locks.pop(instance_id, None)
        for hook in self._terminate_hooks:
            hook(instance_id)
        return Termination(found, tuple(held))

    def wait_for_state(self, instance_id: str, states: tuple[str, ...], timeout: float) -> DomainState:
        """Poll until the domain is in one of ``states``; ComputeError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(instance_id)
            if st.state in states:
                return st
            if time.monotonic() >= deadline:
                raise ComputeError(f"{instance_id} is {st.state}, not {'/'.join(states)}, after {timeout:.0f} s")
            time.sleep(0.2)

    # -- console ------------------------------------------------------------------

    def _console(self, instance_id: str) -> tuple[Node, Path]:
        node, _ = self._find(ids.check_instance_id(instance_id))
        return node, self.instance_dir(instance_id) / CONSOLE_FILE

    def console_size(self, instance_id: str) -> int:
        node, path = self._console(instance_id)
        return node.host.size(path) or 0

    def console_read(self, instance_id: str, offset: int = 0, limit: int = 1 << 20) -> bytes:
        """Console bytes from ``offset`` (a waiter keeps its offset across calls)."""
        node, path = self._console(instance_id)
        return node.host.read_range(path, offset, limit)

    def console_output(self, instance_id: str, max_bytes: int = CONSOLE_OUTPUT_BYTES) -> bytes:
        """The latest ``max_bytes`` of the serial console, across reboots (GetConsoleOutput)."""
        node, path = self._console(instance_id)
        size = node.host.size(path) or 0
        start = max(0, size - max_bytes)
        return node.host.read_range(path, start, size - start)

    def wait_for_console(self, instance_id: str, marker: bytes, *, timeout: float, offset: int = 0) -> bytes:
        """Console text from ``offset`` up to the first line holding ``marker``; ComputeError on timeout."""
        deadline = time.monotonic() + timeout
        seen = b""
        while True:
            seen += self.console_read(instance_id, offset + len(seen))
            at = seen.find(marker)
            if at >= 0:
                end = seen.find(b"\n", at)
                if end >= 0:
                    return seen[: end + 1]
            if time.monotonic() >= deadline:
                tail = seen[-300:].decode(errors="replace")
                raise ComputeError(f"{instance_id} did not print {marker!r} within {timeout:.0f} s; console ends: {tail!r}")
            time.sleep(0.05)

    # -- reconciliation -------------------------------------------------------------

    def orphans(self) -> Orphans:
        """Reservations and instance directories with no domain, and silvereye-named domains
        without silvereye's metadata: what a crash can leave behind."""
        out = Orphans()
        for node in self.reachable_nodes():
            conn = node.connection()
            with libvirt_call(f"list domains on node {node.name}"):
                domains = conn.listAllDomains(0)
            mine = [d for d in domains if ids.instance_id_of(d.name()) is not None]
            present = {i.instance_id: i for i in surviving(mine, lambda dom, node=node: self._info(node, dom))}
            out.unrecognised_domains += [i for i in present.values() if not i.recognised]
            known_macs = {i.mac for i in present.values() if i.mac}
            out.reservations[node.name] = [
                r for r in self.network.reservations(conn) if r.name not in present and r.mac not in known_macs
            ]
            out.instance_dirs[node.name] = [
                d for d in node.host.list_dir(self.instances_path)
                if ids.instance_id_of(ids.DOMAIN_PREFIX + d) is not None and d not in present
            ]
        return out

    def clean(self, orphans: Orphans) -> None:
        """Remove what :meth:`orphans` found (unrecognised domains are terminated too)."""
        for info in orphans.unrecognised_domains:
            self.terminate(info.instance_id)
        for node_name, reservations in orphans.reservations.items():
            conn = self.node(node_name).connection()
            for r in reservations:
                self.network.release(conn, r.mac)
        for node_name, dirs in orphans.instance_dirs.items():
            host = self.node(node_name).host
            for d in dirs:
                host.remove_tree(self.instance_dir(d))


FIREWALL_RACE = "Failed to apply firewall rules"
FIREWALL_RETRIES = 3


def _start_domain(dom) -> None:
    """Start a domain, again when libvirt's nwfilter lost a race with ebtables.

    With the anti-spoofing filter, starting a domain makes libvirt run ebtables for its
    interface; ebtables-nft fails (``RULE_DELETE failed``) when another start changes the
    bridge table at the same moment, as parallel launches do (seen here once in a run of
    two launches at once). Nothing has started then, so trying again is safe; any other
    error is raised at once.
    """
    import libvirt

    for attempt in range(FIREWALL_RETRIES):
        try:
            dom.create()
            return
        except libvirt.libvirtError as e:
            if FIREWALL_RACE not in str(e) or attempt == FIREWALL_RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _check_nwfilter(node: Node, name: str) -> None:
    """Refuse to go on without the nwfilter instances will reference (their start would fail)."""
    import libvirt

    try:
        node.connection().nwfilterLookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return  # drivers without nwfilters (test:///default) ignore filter references
        raise ComputeError(
            f"node {node.name} has no libvirt nwfilter {name!r}; install libvirt-daemon-config-nwfilter "
            f"(or create the driver with anti_spoofing=False)"
        ) from None
