"""The machine silvereye runs on, read directly."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from silvereye.preflight.host import RC_NOT_FOUND, RC_TIMEOUT, CommandResult, Host, PathStat, SEARCH_PATH


def _command_env() -> dict[str, str]:
    env = dict(os.environ)
    # Parse-stable output (dates, decimal points, messages) whatever the user's locale.
    env["LC_ALL"] = "C"
    path = env.get("PATH", "")
    extra = [d for d in SEARCH_PATH.split(":") if d not in path.split(":")]
    env["PATH"] = ":".join([p for p in [path] if p] + extra)
    return env


class LocalHost(Host):
    name = "localhost"

    def run(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        try:
            r = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                env=_command_env(),
            )
        except FileNotFoundError:
            return CommandResult(RC_NOT_FOUND, "", f"{argv[0]}: not found")
        except PermissionError as e:
            return CommandResult(126, "", f"{argv[0]}: {e.strerror}")
        except subprocess.TimeoutExpired:
            return CommandResult(RC_TIMEOUT, "", f"{argv[0]}: timed out after {timeout:g} s")
        return CommandResult(r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))

    def read_file(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return None

    def stat(self, path: str) -> PathStat | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return PathStat(st.st_mode, st.st_uid, st.st_gid, st.st_size)

    def listdir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def environ(self) -> dict[str, str]:
        return dict(os.environ)

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".silvereye-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, mode)
            try:
                os.replace(tmp, path)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                # A bind-mounted file (/etc/hosts in a container) cannot be renamed over: write it in place.
                with open(path, "w") as f:
                    f.write(text)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_file(self, local: Path, path: str) -> None:
        shutil.copyfile(local, path)
