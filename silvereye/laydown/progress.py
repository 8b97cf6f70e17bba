"""Step-by-step progress for people (rich) and the same story, with timestamps, in a log file.

Each step prints one line when it ends: a mark, its title, what it did (or
that it found everything in place) and how long it took; the changes it made
follow, one per line. While a step runs on a terminal, a spinner says which.
Everything printed also goes to the log (install.log), with the details a
terminal does not need (the full preflight report, command output).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from rich.console import Console
from rich.markup import escape


@dataclass
class StepRecord:
    title: str
    seconds: float = 0.0
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detail: str = ""
    failed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class Step:
    """What a running step tells the user: each change it made, notes, a closing detail."""

    def __init__(self, progress: "Progress", record: StepRecord):
        self._progress = progress
        self.record = record

    def changed(self, *lines: str) -> None:
        for line in lines:
            self.record.changes.append(line)
            self._progress.log(f"  changed: {line}")

    def note(self, line: str) -> None:
        self.record.notes.append(line)
        self._progress.log(f"  note: {line}")

    def detail(self, text: str) -> None:
        self.record.detail = text

    def log(self, text: str) -> None:
        self._progress.log(text)


class Progress:
    def __init__(self, console: Console | None = None):
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.steps: list[StepRecord] = []
        self._log: IO[str] | None = None
        self.log_path: Path | None = None

    # -- the log file -------------------------------------------------------------
    def open_log(self, path: Path, header: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._log = os.fdopen(fd, "a", buffering=1)
        self.log_path = path
        self.log(f"==== {header}")

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self, text: str) -> None:
        if self._log is None:
            return
        stamp = dt.datetime.now().isoformat(timespec="seconds")
        for line in (text.splitlines() or [""]):
            self._log.write(f"{stamp} {line}\n")

    # -- output ---------------------------------------------------------------------
    def say(self, text: str, style: str | None = None) -> None:
        """A line for the user (plain text; escaped for rich) and the log."""
        self.console.print(escape(text), style=style)
        self.log(text)

    @contextmanager
    def step(self, title: str) -> Iterator[Step]:
        record = StepRecord(title)
        self.steps.append(record)
        handle = Step(self, record)
        self.log(f"-- {title}")
        started = time.monotonic()
        try:
            if self.console.is_terminal:
                with self.console.status(escape(title) + " ..."):
                    yield handle
            else:
                yield handle
        except BaseException:
            record.seconds = time.monotonic() - started
            record.failed = True
            self.console.print(f"[bold red]✗[/bold red] {escape(title)} [dim]({record.seconds:.1f} s)[/dim]")
            self.log(f"   failed after {record.seconds:.1f} s")
            raise
        record.seconds = time.monotonic() - started
        self._finish(record)

    def _finish(self, r: StepRecord) -> None:
        detail = r.detail or ("done" if r.changed else "already in place")
        mark = "[bold green]✓[/bold green]" if r.changed else "[green]·[/green]"
        self.console.print(f"{mark} {escape(r.title)}: {escape(detail)} [dim]({r.seconds:.1f} s)[/dim]")
        for line in r.changes:
            self.console.print(f"    [dim]+[/dim] {escape(line)}")
        for line in r.notes:
            self.console.print(f"    [yellow]![/yellow] {escape(line)}")
        self.log(f"   {detail} ({r.seconds:.1f} s)")

    @property
    def anything_changed(self) -> bool:
        return any(r.changed for r in self.steps)

    def timings(self) -> list[tuple[str, float]]:
        return [(r.title, r.seconds) for r in self.steps]
