"""Placing an instance on a node by free vCPUs, memory and disk.

Each node's free room is its size (times an overcommit ratio) minus what
running domains take and minus claims: launches placed but not yet running,
so that ten simultaneous launches do not all pick the last free slot. A
launch takes the node with the most free memory, then the most free vCPUs
(spreading load, like Eucalyptus' ROUNDROBIN rather than its GREEDY policy), name as tie-break.

vCPUs are overcommitted (16 per core by default, as OpenStack does: a tiny
guest idles), memory and disk are not. When nothing fits,
:class:`InsufficientCapacity` says what the best node lacked; the EC2 layer
answers ``InsufficientInstanceCapacity``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from silvereye.compute.errors import InsufficientCapacity
from silvereye.compute.nodes import NodeCapacity

MIB = 1 << 20


@dataclass(frozen=True)
class Demand:
    vcpus: int
    memory_mib: int
    disk_bytes: int


@dataclass(frozen=True)
class FreeRoom:
    node: str
    vcpus: float
    memory_mib: float
    disk_bytes: int

    def fits(self, d: Demand) -> bool:
        return self.vcpus >= d.vcpus and self.memory_mib >= d.memory_mib and self.disk_bytes >= d.disk_bytes

    def shortfall(self, d: Demand) -> str:
        lacks = []
        if self.vcpus < d.vcpus:
            lacks.append(f"{max(self.vcpus, 0):g} vCPUs free")
        if self.memory_mib < d.memory_mib:
            lacks.append(f"{max(self.memory_mib, 0):.0f} MiB memory free")
        if self.disk_bytes < d.disk_bytes:
            lacks.append(f"{max(self.disk_bytes, 0) // MIB} MiB disk free")
        return f"{self.node}: " + ", ".join(lacks)


@dataclass(frozen=True)
class Claim:
    id: int
    node: str
    demand: Demand


class Scheduler:
    def __init__(
        self,
        cpu_ratio: float = 16.0,
        memory_ratio: float = 1.0,
        reserved_memory_mib: int = 512,
        reserved_disk_bytes: int = 1 << 30,
    ):
        self.cpu_ratio = cpu_ratio
        self.memory_ratio = memory_ratio
        self.reserved_memory_mib = reserved_memory_mib
        self.reserved_disk_bytes = reserved_disk_bytes
        self._claims: dict[int, Claim] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def free_room(self, cap: NodeCapacity) -> FreeRoom:
        claimed = [c.demand for c in self._claims.values() if c.node == cap.node]
        return FreeRoom(
            node=cap.node,
            vcpus=cap.cpus * self.cpu_ratio - cap.vcpus_used - sum(d.vcpus for d in claimed),
            memory_mib=cap.memory_mib * self.memory_ratio - self.reserved_memory_mib - cap.memory_used_mib
            - sum(d.memory_mib for d in claimed),
            disk_bytes=cap.disk_free - self.reserved_disk_bytes - sum(d.disk_bytes for d in claimed),
        )

    def place(self, capacities: list[NodeCapacity], demand: Demand, what: str = "the instance") -> Claim:
        """Claim room on the best node for ``demand``; release the claim once the domain runs or fails."""
        with self._lock:
            rooms = [self.free_room(c) for c in capacities]
            fitting = [r for r in rooms if r.fits(demand)]
            if not fitting:
                detail = "; ".join(r.shortfall(demand) for r in rooms) or "no node is configured"
                raise InsufficientCapacity(
                    f"no node has room for {what} ({demand.vcpus} vCPUs, {demand.memory_mib} MiB memory, "
                    f"{demand.disk_bytes // MIB} MiB disk): {detail}",
                    instance_type=what,
                )
            best = min(fitting, key=lambda r: (-r.memory_mib, -r.vcpus, r.node))
            claim = Claim(next(self._ids), best.node, demand)
            self._claims[claim.id] = claim
            return claim

    def release(self, claim: Claim) -> None:
        with self._lock:
            self._claims.pop(claim.id, None)

    def claims(self) -> list[Claim]:
        with self._lock:
            return list(self._claims.values())
