"""What a check is, what it answers, and what it is given.

A :class:`Check` is a small value: an id (kebab-case, the name ``--ignore``
takes), a title that reads after "Checking for", the roles it applies to and a
function from a :class:`Context` to a :class:`Result`. The runner stamps the
id and title onto the result to make a :class:`Finding`. Checks only read;
``--fix`` lives in :mod:`silvereye.preflight.fixes`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

from silvereye.config import Config
from silvereye.preflight.facts import HostFacts
from silvereye.preflight.host import Host
from silvereye.preflight.kvm_probe import KvmProbe, probe_kvm
from silvereye.preflight.roles import Role


ALL_ROLES = frozenset(Role)
VIRT_ROLES = frozenset({Role.ciab, Role.node})
API_ROLES = frozenset({Role.ciab, Role.frontend})


class Status(str, enum.Enum):
    ok = "ok"
    note = "note"  # informational: nothing is wrong, but worth knowing
    warn = "warn"
    fail = "fail"

    @property
    def label(self) -> str:
        return {"ok": "PASS", "note": "NOTE", "warn": "WARN", "fail": "FAIL"}[self.value]


@dataclass(frozen=True)
class Result:
    status: Status
    detail: str
    remedy: str = ""
    fixable: bool = False


def ok(detail: str, *, fixable: bool = False, remedy: str = "") -> Result:
    return Result(Status.ok, detail, remedy, fixable)


def note(detail: str, remedy: str = "", *, fixable: bool = False) -> Result:
    return Result(Status.note, detail, remedy, fixable)


def warn(detail: str, remedy: str, *, fixable: bool = False) -> Result:
    return Result(Status.warn, detail, remedy, fixable)


def fail(detail: str, remedy: str, *, fixable: bool = False) -> Result:
    return Result(Status.fail, detail, remedy, fixable)


@dataclass
class Finding:
    id: str
    title: str
    status: Status
    detail: str
    remedy: str = ""
    fixable: bool = False
    ignored: bool = False  # a failure turned into a warning by --ignore

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "detail": self.detail,
            "remedy": self.remedy,
            "fixable": self.fixable,
            "ignored": self.ignored,
        }


@dataclass
class Context:
    """Everything a check may look at: the host (through its facts) and the configuration."""

    host: Host
    cfg: Config
    role: Role = Role.ciab
    interface: str | None = None
    kvm_prober: Callable[[Host], KvmProbe] = probe_kvm
    facts: HostFacts = field(init=False)

    def __post_init__(self) -> None:
        self.facts = HostFacts(self.host, self.interface or self.cfg.network.interface or None)

    @property
    def remote(self) -> bool:
        return self.host.name != "localhost"

    def install_command(self, packages_: list[str]) -> str:
        """The package manager line for this host's family."""
        tool = "dnf install -y" if self.facts.family == "el" else "apt-get install -y"
        return f"{tool} {' '.join(packages_)}"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    roles: frozenset[Role]
    run: Callable[[Context], Result]

    def __call__(self, ctx: Context) -> Finding:
        r = self.run(ctx)
        return Finding(self.id, self.title, r.status, r.detail, r.remedy, r.fixable)


REGISTRY: list[Check] = []


def check(id: str, title: str, roles: frozenset[Role] = ALL_ROLES) -> Callable[[Callable[[Context], Result]], Check]:
    """Declare a check; the order of declaration is the order of the report."""

    def register(fn: Callable[[Context], Result]) -> Check:
        if any(c.id == id for c in REGISTRY):
            raise ValueError(f"duplicate check id {id}")
        c = Check(id, title, frozenset(roles), fn)
        REGISTRY.append(c)
        return c

    return register
