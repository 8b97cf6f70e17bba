"""How a preflight run looks: virt-host-validate style lines for people, one JSON document for machines.

Each line is printed before its check runs (``Checking for ... :``) and
finished when the check returns, so a slow check (the KVM probe's first boot)
shows where the time goes. Colour only on a terminal (rich decides, and
honours NO_COLOR).
"""

from __future__ import annotations

import json
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from silvereye.preflight.model import Check, Finding, Role, Status
from silvereye.preflight.runner import IGNORE_ALL, HostReport, Reporter

LINE_WIDTH = 56
STYLE = {Status.ok: "bold green", Status.note: "bold cyan", Status.warn: "bold yellow", Status.fail: "bold red"}
ROLE_NAMES = {Role.ciab: "a cloud-in-a-box", Role.frontend: "a frontend", Role.node: "a node controller"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(report: HostReport) -> str:
    parts = [f"{report.count(Status.ok)} passed"]
    if report.count(Status.note):
        parts.append(_plural(report.count(Status.note), "note"))
    parts.append(_plural(report.count(Status.warn), "warning"))
    parts.append(_plural(report.count(Status.fail), "failure"))
    return f"{report.host}: {_plural(len(report.findings), 'check')}: {', '.join(parts)}"


class TextReporter(Reporter):
    def __init__(self, file: TextIO | None = None, *, multiple_hosts: bool = False):
        self.console = Console(file=file, highlight=False, soft_wrap=True)
        self.multiple = multiple_hosts
        self.header: str | None = None

    def _out(self, text: str, **kw) -> None:
        self.console.print(text, **kw)

    def host_start(self, name: str) -> None:
        # The header waits for the first check: a host that cannot be reached is its error line alone.
        self.header = f"\n[bold]== {escape(name)} ==[/bold]" if self.multiple or name != "localhost" else None

    def check_start(self, check: Check) -> None:
        if self.header:
            self._out(self.header)
            self.header = None
        label = f"Checking for {check.title} "
        self._out(escape(label.ljust(LINE_WIDTH, ".")) + " : ", end="")

    def check_done(self, finding: Finding) -> None:
        style = STYLE[finding.status]
        hint = escape(finding.detail + (" [ignored]" if finding.ignored else ""))
        self._out(f"[{style}]{finding.status.label}[/{style}] ({hint})")
        if finding.status in (Status.warn, Status.fail) and finding.remedy:
            fix = " (--fix does this)" if finding.fixable else ""
            self._out(f"    [dim]remedy:[/dim] {escape(finding.remedy)}{fix}")

    def fixes_start(self) -> None:
        self._out("\n[bold]Applying the safe remedies:[/bold]")

    def fix_done(self, check_id: str, change: str, ok: bool) -> None:
        self._out(f"  {'[green]changed[/green]' if ok else '[red]failed[/red]'}: {escape(change)}")

    def recheck_start(self) -> None:
        self._out("\n[bold]Checking again after those changes:[/bold]")

    def host_done(self, report: HostReport) -> None:
        if report.error:
            self._out(f"[bold red]error[/bold red]: {escape(report.error)}")
            return
        self._out("\n" + escape(summary_line(report)))
        failed = [f.id for f in report.findings if f.status is Status.fail]
        ignored = [f.id for f in report.findings if f.ignored]
        if failed:
            self._out(f"To ignore these failures, rerun with --ignore {','.join(failed)} (or --ignore {IGNORE_ALL}).")
        if ignored:
            self._out(f"Failures ignored by --ignore: {', '.join(ignored)}.")

    def finish(self, reports: list[HostReport], role: Role) -> None:
        bad = [r for r in reports if r.failed]
        what = ROLE_NAMES[role]
        if len(reports) > 1:
            self._out(f"\n{_plural(len(reports), 'host')} checked: {len(reports) - len(bad)} ready, {len(bad)} not.")
        elif not bad:
            warns = reports[0].count(Status.warn)
            self._out(f"This host can run {what}" + (f" ({_plural(warns, 'warning')} above)." if warns else "."))
        elif reports[0].error is None:
            self._out(f"This host cannot run {what} until the failures above are fixed.")


class JsonReporter(Reporter):
    """Silent while checks run; prints one document at the end."""

    def __init__(self, file: TextIO | None = None):
        self.file = file

    def finish(self, reports: list[HostReport], role: Role) -> None:
        doc = {"role": role.value, "failed": any(r.failed for r in reports), "hosts": [r.to_dict() for r in reports]}
        print(json.dumps(doc, indent=2), file=self.file, flush=True)
