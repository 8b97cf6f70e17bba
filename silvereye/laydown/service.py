"""Running `silvereye serve` as the host's service: a systemd unit, or the supervised daemon.

With systemd as PID 1, install writes ``silvereye.service`` (from its
template) and enables and starts it. Without systemd (containers, these
build machines) it starts :mod:`~silvereye.laydown.supervisor` as a daemon
in its own session instead, with a pid file under /run/silvereye and the
service's output in /var/log/silvereye/silvereye.log, and says so.

Both kinds answer the same questions (running? pid?) and take the same
orders (start, stop, restart), so status, node add and uninstall need not
know which one a host has.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from silvereye.errors import SilvereyeError
from silvereye.laydown.layout import UNIT_NAME, Layout

START_TIMEOUT = 10.0
API_TIMEOUT = 90.0  # a first start creates the store and syncs IAM's managed policies
STOP_TIMEOUT = 40.0


class ServiceError(SilvereyeError):
    pass


def silvereye_argv() -> list[str]:
    """How to run this very silvereye again: the single binary, or this Python with ``-m silvereye``."""
    if getattr(sys, "frozen", False):
        return [os.environ.get("SILVEREYE_BINARY") or sys.executable]
    return [sys.executable, "-m", "silvereye"]


def serve_argv(config_path: Path) -> list[str]:
    return silvereye_argv() + ["serve", "--config", str(config_path)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


class SupervisedService:
    """The daemon of :mod:`~silvereye.laydown.supervisor`, found through its pid file."""

    kind = "supervisor"

    def __init__(self, layout: Layout):
        self.layout = layout

    @property
    def description(self) -> str:
        return f"supervised daemon (no systemd here), pid file {self.layout.pid_file}, log {self.layout.service_log}"

    def pid(self) -> int | None:
        """The supervisor's pid when it runs (and is ours: its command line names our pid file)."""
        try:
            pid = int(self.layout.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not _pid_alive(pid) or str(self.layout.pid_file) not in _cmdline(pid):
            return None
        return pid

    def serve_pid(self) -> int | None:
        """The pid of the `silvereye serve` the supervisor runs right now."""
        sup = self.pid()
        if sup is None:
            return None
        try:
            children = Path(f"/proc/{sup}/task/{sup}/children").read_text().split()
        except OSError:
            return None
        for c in children:
            if "serve" in _cmdline(int(c)):
                return int(c)
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start the daemon; False when it was running already."""
        if self.running():
            return False
        argv = silvereye_argv() + [
            "supervise", "--config", str(self.layout.config_path),
            "--pid-file", str(self.layout.pid_file), "--log-file", str(self.layout.service_log),
        ]
        self.layout.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.layout.service_log, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True, cwd="/")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.pid() == proc.pid:
                return True
            rc = proc.poll()
            if rc is not None:
                if rc == 3 and self.running():
                    return False
                raise ServiceError(f"the service supervisor exited at once (status {rc}); see {self.layout.service_log}")
            time.sleep(0.05)
        raise ServiceError(f"the service supervisor did not write {self.layout.pid_file} within {START_TIMEOUT:.0f} s")

    def stop(self) -> bool:
        """Stop the daemon and the service; False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)  # the supervisor leads its own session: its child goes too
            _reap(pid)
        return True

    def restart(self) -> None:
        """Restart the service (not the supervisor); returns once the old one is gone and a new one runs."""
        pid = self.pid()
        if pid is None:
            self.start()
            return
        old = self.serve_pid()
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            now = self.serve_pid()
            if now is not None and now != old:
                return
            time.sleep(0.05)
        raise ServiceError(f"the service did not restart within {STOP_TIMEOUT:.0f} s; see {self.layout.service_log}")


def _reap(pid: int) -> None:
    """Collect the supervisor's exit status when this process started it (no zombie left)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by an earlier run): init reaps it


class SystemdService:
    kind = "systemd"

    def __init__(self, layout: Layout):
        self.layout = layout

    @property
    def description(self) -> str:
        return f"systemd unit {UNIT_NAME} ({self.layout.unit_file}), log {self.layout.service_log}"

    def _systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ServiceError(f"systemctl {' '.join(args)} failed: {tail}")
        return r

    def pid(self) -> int | None:
        r = self._systemctl("show", "--property=MainPID", "--value", UNIT_NAME, check=False)
        value = r.stdout.strip()
        return int(value) if value.isdigit() and int(value) > 0 else None

    def serve_pid(self) -> int | None:
        return self.pid()

    def running(self) -> bool:
        return self._systemctl("is-active", "--quiet", UNIT_NAME, check=False).returncode == 0

    def start(self) -> bool:
        self._systemctl("daemon-reload")
        enabled = self._systemctl("is-enabled", "--quiet", UNIT_NAME, check=False).returncode == 0
        if not enabled:
            self._systemctl("enable", UNIT_NAME)
        if self.running():
            return not enabled
        self._systemctl("start", UNIT_NAME)
        return True

    def stop(self) -> bool:
        was = self.running()
        self._systemctl("disable", "--now", UNIT_NAME, check=False)
        return was

    def restart(self) -> None:
        self._systemctl("restart", UNIT_NAME)


Service = SupervisedService | SystemdService


def for_layout(layout: Layout, kind: str | None = None) -> Service:
    """The service of this host: the kind recorded at install, else systemd when it is PID 1."""
    if kind is None:
        kind = "systemd" if layout.systemd_running else "supervisor"
    return SystemdService(layout) if kind == "systemd" else SupervisedService(layout)


def wait_for_api(url: str, timeout: float, service: Service, log_file: Path) -> float:
    """Seconds until ``url`` answers HTTP (any status: an unsigned request is refused, which is an answer)."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                pass  # any answer will do: the listener is up
            return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass  # not listening yet: try again until the deadline
        if not service.running():
            raise ServiceError(f"the service stopped before {url} answered: {last_error(log_file)}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{url} did not answer within {timeout:.0f} s: {last_error(log_file)}")
        time.sleep(0.1)


def last_error(log_file: Path) -> str:
    """The last line of the service log that says why it failed (for one-line errors)."""
    try:
        lines = [ln.strip() for ln in Path(log_file).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"no log at {log_file}"
    for ln in reversed(lines):
        if ln.startswith("error:") or "Error" in ln or "error" in ln:
            return f"{ln} (see {log_file})"
    return f"see {log_file}" + (f", which ends with: {lines[-1]}" if lines else "")
