"""The one door through which every check reads a host.

A check never touches ``os``, ``subprocess`` or ``paramiko`` itself: it asks a
:class:`Host` to run a program (an argument list, never a shell string), read
a file, stat a path or list a directory. The same check then serves the local
machine (:class:`~silvereye.preflight.local_host.LocalHost`), a node reached
over SSH (:class:`~silvereye.preflight.ssh_host.SSHHost`) and a host built
from a dictionary of facts in tests
(:class:`~silvereye.preflight.dict_host.DictHost`).

The interface is deliberately small; everything derived (memory size, the
default route, listening sockets) is parsed from these primitives once, in
:mod:`silvereye.preflight.facts`.
"""

from __future__ import annotations

import stat as stat_mod
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from silvereye.errors import SilvereyeError

# Programs live in sbin on most distributions, and a non-login SSH session
# often has no sbin in its PATH: every Host runs commands with this one.
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What ``run`` reports for a program that is not installed, and for a timeout:
# the same codes a shell and coreutils' timeout(1) use.
RC_NOT_FOUND = 127
RC_TIMEOUT = 124


class HostError(SilvereyeError):
    """The host itself cannot be reached or stopped answering (not a failed check)."""


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def last_error_line(self) -> str:
        """The line that usually says why a program failed."""
        lines = [ln.strip() for ln in (self.stderr or self.stdout).splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {self.rc}"


@dataclass(frozen=True)
class PathStat:
    mode: int
    uid: int = 0
    gid: int = 0
    size: int = 0

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat_mod.S_ISREG(self.mode)

    @property
    def is_char_device(self) -> bool:
        return stat_mod.S_ISCHR(self.mode)

    @property
    def is_socket(self) -> bool:
        return stat_mod.S_ISSOCK(self.mode)

    @property
    def permissions(self) -> str:
        """``crw-rw----`` as ls shows it."""
        return stat_mod.filemode(self.mode)


class Host(ABC):
    """A machine that checks read (and that ``--fix`` may change)."""

    #: How reports name the host: ``localhost`` or ``root@node1:22``.
    name: str = "localhost"

    @abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        """Run a program; a missing program gives rc 127, a timeout rc 124 (never an exception)."""

    @abstractmethod
    def read_file(self, path: str) -> str | None:
        """The file's text, or None when it is absent or unreadable."""

    @abstractmethod
    def stat(self, path: str) -> PathStat | None:
        """Metadata of the path (symlinks followed), or None when it does not exist."""

    @abstractmethod
    def listdir(self, path: str) -> list[str] | None:
        """Names in a directory, or None when it is not one."""

    @abstractmethod
    def environ(self) -> dict[str, str]:
        """The environment a command run on this host sees."""

    @abstractmethod
    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        """Replace a file atomically (used by ``--fix`` and the KVM probe's cache only)."""

    @abstractmethod
    def put_file(self, local: Path, path: str) -> None:
        """Copy a local file onto the host (the KVM probe's kernel)."""

    def close(self) -> None:
        """Release connections; a no-op for hosts that hold none."""

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
