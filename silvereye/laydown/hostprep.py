"""Getting a host ready for a role: the preflight gate, OS packages, the safe fixes.

The same three steps serve ``silvereye install`` on this host and ``silvereye
node add`` on a node over SSH, because they go through preflight's
:class:`~silvereye.preflight.host.Host` (local or paramiko).

Preflight runs first and stops the install on a failure, except for the
failures the install itself remedies: missing programs (the packages step
installs them), libvirt or virtlogd not running, kernel modules not loaded
(preflight's own ``--fix`` remedies, applied after the packages), IP
forwarding off. After packages and fixes the checks run again, and then
every failure stops, unless ``--ignore`` names it, exactly as in preflight.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from silvereye.config import Config
from silvereye.errors import SilvereyeError
from silvereye.laydown import packages
from silvereye.preflight.fixes import FIXES
from silvereye.preflight.host import Host
from silvereye.preflight.model import Context, Finding, Role, Status
from silvereye.preflight.report import TextReporter
from silvereye.preflight.runner import HostReport, Reporter, apply_fixes, checks_for, run_checks

# Failures the install remedies by itself: the packages bring the programs, its sysctl file turns
# forwarding on, and preflight's own safe fixes (`preflight --fix`) do the rest.
REMEDIED_BY_INSTALL = frozenset(FIXES) | {"required-programs", "optional-programs", "ip-forwarding"}
PACKAGE_TIMEOUT = 1800.0


class InstallBlocked(SilvereyeError):
    pass


@dataclass
class Checked:
    findings: list[Finding]
    report_text: str  # the whole virt-host-validate style report, for the log

    def with_status(self, *statuses: Status) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]

    @property
    def failures(self) -> list[Finding]:
        return self.with_status(Status.fail)

    def summary(self) -> str:
        counts = {s: len(self.with_status(s)) for s in Status}
        parts = [f"{counts[Status.ok]} passed"]
        if counts[Status.note]:
            parts.append(f"{counts[Status.note]} notes")
        parts += [f"{counts[Status.warn]} warnings", f"{counts[Status.fail]} failures"]
        return f"{len(self.findings)} checks: " + ", ".join(parts)


def run_preflight(host: Host, cfg: Config, role: Role, ignore: set[str]) -> Checked:
    """Every check of ``role`` on ``host``, its report rendered as preflight prints it."""
    buf = io.StringIO()
    reporter = TextReporter(buf)
    reporter.host_start(host.name)
    ctx = Context(host, cfg, role)
    findings = run_checks(ctx, checks_for(role), ignore, reporter)
    reporter.host_done(HostReport(host.name, findings))
    return Checked(findings, buf.getvalue())


def blocking(checked: Checked, remedied: frozenset[str] = frozenset()) -> list[Finding]:
    return [f for f in checked.failures if f.id not in remedied]


def blocked_error(host: Host, failures: list[Finding], role: Role) -> InstallBlocked:
    """One line: what failed (with its remedy when there is one) and how to go on anyway."""
    first = failures[0]
    more = f" (and {len(failures) - 1} more: {', '.join(f.id for f in failures[1:])})" if len(failures) > 1 else ""
    remedy = f"; {first.remedy}" if first.remedy else ""
    where = "" if host.name == "localhost" else f"{host.name}: "
    ids = ",".join(f.id for f in failures)
    return InstallBlocked(f"{where}preflight failed for role {role.value}: {first.id}: {first.detail}{remedy}{more}; "
                          f"fix it, or go on anyway with --ignore {ids}")


# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------


def package_family(ctx: Context) -> str:
    family = ctx.facts.family
    if family is None:
        name = ctx.facts.os_release.get("PRETTY_NAME", "this distribution")
        raise InstallBlocked(f"{ctx.host.name}: cannot install packages on {name}: silvereye knows apt (Debian, Ubuntu) "
                             "and dnf (the RHEL family, Fedora)")
    return family


def missing_packages(host: Host, family: str, names: list[str]) -> list[str]:
    if family == "debian":
        r = host.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n", *names], timeout=60)
        installed = {ln.split()[0] for ln in r.stdout.splitlines() if ln.endswith(" installed")}
    else:
        r = host.run(["rpm", "-q", "--qf", "%{NAME}\\n", *names], timeout=60)
        installed = {ln.strip() for ln in r.stdout.splitlines() if ln.strip() and " " not in ln.strip()}
    return [n for n in names if n not in installed]


def _apt(host: Host, args: list[str]) -> tuple[bool, str]:
    argv = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300", *args]
    r = host.run(argv, timeout=PACKAGE_TIMEOUT)
    return r.ok, r.last_error_line()


def install_packages(host: Host, family: str, names: list[str]) -> list[str]:
    """Install the missing ones of ``names`` with apt or dnf; the names installed."""
    missing = missing_packages(host, family, names)
    if not missing:
        return []
    where = "" if host.name == "localhost" else f" on {host.name}"
    if family == "debian":
        ok, err = _apt(host, ["install", "--no-install-recommends", *missing])
        if not ok:  # stale or empty package lists: refresh them once and try again
            _apt(host, ["update"])
            ok, err = _apt(host, ["install", "--no-install-recommends", *missing])
    else:
        r = host.run(["dnf", "install", "-y", "-q", *missing], timeout=PACKAGE_TIMEOUT)
        ok, err = r.ok, r.last_error_line()
        if not ok:  # busybox and dropbear come from EPEL on the RHEL family
            host.run(["dnf", "install", "-y", "-q", "epel-release"], timeout=PACKAGE_TIMEOUT)
            host.run(["dnf", "config-manager", "--set-enabled", "crb"], timeout=120)
            r = host.run(["dnf", "install", "-y", "-q", *missing], timeout=PACKAGE_TIMEOUT)
            ok, err = r.ok, r.last_error_line()
    if not ok:
        tool = "apt-get" if family == "debian" else "dnf"
        raise InstallBlocked(f"cannot install {' '.join(missing)}{where} with {tool}: {err}")
    still = missing_packages(host, family, missing)
    if still:
        raise InstallBlocked(f"{' '.join(still)} still not installed{where} after the package manager said it succeeded")
    return missing


def role_packages(role: Role, family: str) -> list[str]:
    return packages.packages(role.value, family)


# ---------------------------------------------------------------------------
# Fixes
# ---------------------------------------------------------------------------


@dataclass
class _Collect(Reporter):
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fix_done(self, check_id: str, change: str, ok: bool) -> None:
        (self.lines if ok else self.failures).append(change)


def apply_safe_fixes(host: Host, cfg: Config, role: Role, checked: Checked) -> tuple[list[str], list[str]]:
    """preflight --fix's remedies for the failures among ``checked``: (changes, fixes that failed)."""
    failing = [f for f in checked.failures if f.fixable]
    if not failing:
        return [], []
    collect = _Collect()
    apply_fixes(Context(host, cfg, role), failing, collect)
    return collect.lines, collect.failures
