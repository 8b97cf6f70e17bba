"""Build the list of checks for a role, run it on each host, fix what is safe to fix, and report.

Choosing checks (:func:`checks_for`) is kept apart from running them
(:func:`run_checks`), as kubeadm does: a role is only a filter over the
registry. ``--ignore`` turns the failures of the named checks (or ``all``)
into warnings; nothing else changes a status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from silvereye.config import Config
from silvereye.errors import SilvereyeError
from silvereye.preflight import checks as _checks  # noqa: F401  (registers every check)
from silvereye.preflight.dict_host import DictHost
from silvereye.preflight.fixes import FIXES
from silvereye.preflight.host import Host, HostError
from silvereye.preflight.kvm_probe import KvmProbe, probe_kvm
from silvereye.preflight.local_host import LocalHost
from silvereye.preflight.model import REGISTRY, Check, Context, Finding, Role, Status
from silvereye.preflight.ssh_host import SSHHost, parse_target

IGNORE_ALL = "all"


def checks_for(role: Role) -> list[Check]:
    return [c for c in REGISTRY if role in c.roles]


def parse_ignore(values: list[str]) -> set[str]:
    """``--ignore a,B --ignore c`` -> {'a', 'b', 'c'}; 'all' stands for every check; unknown ids are an error."""
    ids = {v.strip().lower() for value in values for v in value.split(",") if v.strip()}
    known = {c.id for c in REGISTRY}
    unknown = sorted(ids - known - {IGNORE_ALL})
    if unknown:
        raise SilvereyeError(f"--ignore: no check is called {', '.join(unknown)}; the ids are: {', '.join(sorted(known))}")
    return ids


def apply_ignore(finding: Finding, ignore: set[str]) -> Finding:
    if finding.status is Status.fail and (IGNORE_ALL in ignore or finding.id in ignore):
        finding.status = Status.warn
        finding.ignored = True
    return finding


class Reporter:
    """What the runner tells as it goes; every hook is optional (the JSON reporter only uses finish)."""

    def host_start(self, name: str) -> None:
        pass

    def check_start(self, check: Check) -> None:
        pass

    def check_done(self, finding: Finding) -> None:
        pass

    def fixes_start(self) -> None:
        pass

    def fix_done(self, check_id: str, change: str, ok: bool) -> None:
        pass

    def recheck_start(self) -> None:
        pass

    def host_done(self, report: "HostReport") -> None:
        pass

    def finish(self, reports: list["HostReport"], role: Role) -> None:
        pass


def run_checks(ctx: Context, checks: list[Check], ignore: set[str], reporter: Reporter) -> list[Finding]:
    findings = []
    for c in checks:
        reporter.check_start(c)
        finding = apply_ignore(c(ctx), ignore)
        reporter.check_done(finding)
        findings.append(finding)
    return findings


def apply_fixes(ctx: Context, findings: list[Finding], reporter: Reporter) -> tuple[list[str], list[str]]:
    """Run the fix of every fixable finding; (changes made, fixes that failed)."""
    changes, failures = [], []
    for f in findings:
        if not f.fixable or f.id not in FIXES:
            continue
        try:
            for line in FIXES[f.id](ctx):
                changes.append(line)
                reporter.fix_done(f.id, line, True)
        except (SilvereyeError, OSError) as e:
            line = f"could not fix {f.id}: {e}"
            failures.append(line)
            reporter.fix_done(f.id, line, False)
    return changes, failures


@dataclass
class HostReport:
    host: str
    findings: list[Finding] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    fix_failures: list[str] = field(default_factory=list)
    error: str | None = None

    def count(self, status: Status) -> int:
        return sum(1 for f in self.findings if f.status is status)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.count(Status.fail) > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "error": self.error,
            "failed": self.failed,
            "summary": {"checks": len(self.findings), **{s.value: self.count(s) for s in Status}},
            "findings": [f.to_dict() for f in self.findings],
            "changes": self.changes,
            "fix_failures": self.fix_failures,
        }


@dataclass
class Options:
    cfg: Config
    role: Role = Role.ciab
    ignore: set[str] = field(default_factory=set)
    fix: bool = False
    hosts: list[str] = field(default_factory=list)
    ssh_key: Path | None = None
    interface: str | None = None
    facts: dict[str, Any] | None = None
    kvm_prober: Callable[[Host], KvmProbe] = probe_kvm


def _open_host(opts: Options, target: str | None) -> Host:
    if target is None:
        local: Host = LocalHost()
        return DictHost(opts.facts, fallback=local) if opts.facts is not None else local
    ssh = SSHHost(parse_target(target), opts.ssh_key)
    ssh.connect()
    return DictHost(opts.facts, fallback=ssh) if opts.facts is not None else ssh


def check_host(
    opts: Options, target: str | None, reporter: Reporter, open_host: Callable[[Options, str | None], Host] = _open_host
) -> HostReport:
    """Run the role's checks on one host (and --fix, then again); a host that cannot be reached is one error line."""
    name = str(parse_target(target)) if target else "localhost"
    reporter.host_start(name)
    report = HostReport(name)
    try:
        with open_host(opts, target) as host:
            checks = checks_for(opts.role)
            ctx = Context(host, opts.cfg, opts.role, opts.interface, opts.kvm_prober)
            report.findings = run_checks(ctx, checks, opts.ignore, reporter)
            if opts.fix and any(f.fixable for f in report.findings):
                reporter.fixes_start()
                report.changes, report.fix_failures = apply_fixes(ctx, report.findings, reporter)
                if report.changes:
                    reporter.recheck_start()
                    ctx = Context(host, opts.cfg, opts.role, opts.interface, opts.kvm_prober)
                    report.findings = run_checks(ctx, checks, opts.ignore, reporter)
    except HostError as e:
        report.error = str(e)
    reporter.host_done(report)
    return report


def preflight(
    opts: Options, reporter: Reporter, open_host: Callable[[Options, str | None], Host] = _open_host
) -> list[HostReport]:
    """Check every host (the local one when none is named); one host's trouble never stops the others."""
    if opts.fix and opts.facts is not None:
        raise SilvereyeError("--fix changes a real host; it cannot be combined with --facts")
    for target in opts.hosts:
        parse_target(target)  # a typo is reported before any host is contacted
    targets: list[str | None] = list(opts.hosts) or [None]
    reports = [check_host(opts, t, reporter, open_host) for t in targets]
    reporter.finish(reports, opts.role)
    return reports
