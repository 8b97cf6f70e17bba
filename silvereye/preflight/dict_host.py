"""A host described by a dictionary of facts, optionally in front of a real one.

Tests hand checks a ``DictHost`` to stand for any machine: one with 1 GiB of
memory, no /dev/kvm, a hostname that resolves to 127.0.1.1. With a
``fallback`` host, the facts override only what they name and everything else
is read from the real machine; ``silvereye preflight --facts FILE`` uses this
to replay a host's facts (and the end-to-end test to make this machine look
sick while its ports stay real).

The facts format (also the JSON of ``--facts``)::

    {
      "files":    {"/proc/meminfo": "MemTotal: 1048576 kB\\n", "/dev/kvm": null},
      "stats":    {"/dev/kvm": {"kind": "chr", "mode": "0660", "uid": 0, "gid": 107}},
      "commands": {"getent ahostsv4 node1": {"rc": 0, "stdout": "127.0.1.1 STREAM node1\\n"}},
      "env":      {"http_proxy": "http://proxy:3128"}
    }

A file's parent directories exist implicitly, and ``listdir`` lists the
children named by file keys. ``null`` means "absent" even when a fallback has
it. A command not in the facts runs on the fallback, or gives rc 127.
"""

from __future__ import annotations

import json
import shlex
import stat as stat_mod
from pathlib import Path
from typing import Any, Sequence

from silvereye.errors import SilvereyeError
from silvereye.preflight.host import RC_NOT_FOUND, CommandResult, Host, PathStat

_KINDS = {
    "file": stat_mod.S_IFREG,
    "dir": stat_mod.S_IFDIR,
    "chr": stat_mod.S_IFCHR,
    "sock": stat_mod.S_IFSOCK,
    "link": stat_mod.S_IFLNK,
}
_ABSENT = object()


def _stat_from_spec(spec: dict[str, Any]) -> PathStat:
    kind = _KINDS[spec.get("kind", "file")]
    mode = spec.get("mode", "0644")
    perm = int(mode, 8) if isinstance(mode, str) else int(mode)
    return PathStat(kind | perm, int(spec.get("uid", 0)), int(spec.get("gid", 0)), int(spec.get("size", 0)))


class DictHost(Host):
    def __init__(self, facts: dict[str, Any] | None = None, *, fallback: Host | None = None, name: str | None = None):
        facts = facts or {}
        self.files: dict[str, str | None] = dict(facts.get("files", {}))
        self.stats: dict[str, dict[str, Any] | None] = dict(facts.get("stats", {}))
        self.commands: dict[str, Any] = dict(facts.get("commands", {}))
        self.env: dict[str, str] | None = facts.get("env")
        self.fallback = fallback
        self.name = name or (fallback.name if fallback else "facts")
        #: What ``--fix`` did to this host, for tests to assert on.
        self.ran: list[list[str]] = []
        self.written: dict[str, str] = {}

    # -- lookups ------------------------------------------------------------

    def _file(self, path: str) -> Any:
        return self.files.get(path, _ABSENT)

    def _implied_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(k.startswith(prefix) and v is not None for k, v in self.files.items()) or any(
            k.startswith(prefix) and v is not None for k, v in self.stats.items()
        )

    # -- Host ---------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        self.ran.append(list(argv))
        spec = self.commands.get(shlex.join(argv), _ABSENT)
        if spec is _ABSENT:
            if self.fallback is not None:
                return self.fallback.run(argv, timeout=timeout)
            return CommandResult(RC_NOT_FOUND, "", f"{argv[0]}: not found")
        if spec is None:
            return CommandResult(RC_NOT_FOUND, "", f"{argv[0]}: not found")
        if isinstance(spec, str):
            return CommandResult(0, spec, "")
        return CommandResult(int(spec.get("rc", 0)), spec.get("stdout", ""), spec.get("stderr", ""))

    def read_file(self, path: str) -> str | None:
        v = self._file(path)
        if v is _ABSENT:
            if self.stats.get(path, 0) is None:
                return None
            return self.fallback.read_file(path) if self.fallback else None
        return v

    def stat(self, path: str) -> PathStat | None:
        if path in self.stats:
            spec = self.stats[path]
            return None if spec is None else _stat_from_spec(spec)
        v = self._file(path)
        if v is None:
            return None
        if v is not _ABSENT:
            return PathStat(stat_mod.S_IFREG | 0o644, size=len(v))
        if self._implied_dir(path):
            return PathStat(stat_mod.S_IFDIR | 0o755)
        return self.fallback.stat(path) if self.fallback else None

    def listdir(self, path: str) -> list[str] | None:
        prefix = path.rstrip("/") + "/"
        names = {
            k[len(prefix):].split("/", 1)[0]
            for k, v in list(self.files.items()) + list(self.stats.items())
            if k.startswith(prefix) and v is not None
        }
        if self.fallback is not None:
            names |= set(self.fallback.listdir(path) or [])
            names = {n for n in names if self.stat(prefix + n) is not None}
        elif not names and not (self.stats.get(path) or {}).get("kind") == "dir":
            return None
        return sorted(names)

    def environ(self) -> dict[str, str]:
        if self.env is not None:
            return dict(self.env)
        return self.fallback.environ() if self.fallback else {}

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        if self.fallback is not None:
            raise SilvereyeError("--fix cannot change a host whose facts are replayed from a file; leave out --facts")
        self.written[path] = text
        self.files[path] = text

    def put_file(self, local: Path, path: str) -> None:
        if self.fallback is not None:
            self.fallback.put_file(local, path)
        else:
            self.files[path] = f"(copy of {local})"

    def close(self) -> None:
        if self.fallback is not None:
            self.fallback.close()


def load_facts(path: Path) -> dict[str, Any]:
    """Read a ``--facts`` file; one line naming the problem when it is not valid."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SilvereyeError(f"--facts {path}: file not found") from None
    except (OSError, ValueError) as e:
        raise SilvereyeError(f"--facts {path}: not a JSON document ({e})") from None
    if not isinstance(data, dict) or not set(data) <= {"files", "stats", "commands", "env"}:
        raise SilvereyeError(f"--facts {path}: expected an object with 'files', 'stats', 'commands' and/or 'env'")
    return data
