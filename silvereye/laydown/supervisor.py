"""A small supervisor for `silvereye serve` on hosts where systemd is not PID 1.

Containers and these build machines have no systemd, so install runs the
service the way an init would: this process holds a lock on the pid file
(so there is only ever one), starts ``silvereye serve`` with its output in
the service log, and starts it again when it dies, waiting longer after
each quick death (1 s doubling to 30 s; a run that lasted a minute resets
the wait). SIGTERM or SIGINT stops the service and the supervisor; SIGHUP
restarts the service (``node add`` uses it to make the scheduler see a new
node).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

STOP_TIMEOUT = 30.0
HEALTHY_RUN = 60.0
MAX_BACKOFF = 30.0


class Supervisor:
    def __init__(self, argv: list[str], pid_file: Path, log_file: Path):
        self.argv = argv
        self.pid_file = Path(pid_file)
        self.log_file = Path(log_file)
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.restart_requested = False
        self._stop_deadline = 0.0
        self._log: IO[str] | None = None

    def say(self, text: str) -> None:
        if self._log is not None:
            stamp = dt.datetime.now().isoformat(timespec="seconds")
            self._log.write(f"{stamp} supervisor[{os.getpid()}]: {text}\n")
            self._log.flush()

    def _on_stop(self, signum: int, _frame: object) -> None:
        self.stopping = True
        self._stop_deadline = time.monotonic() + STOP_TIMEOUT
        self._signal_child(signal.SIGTERM)

    def _on_hup(self, _signum: int, _frame: object) -> None:
        self.restart_requested = True
        self._signal_child(signal.SIGTERM)

    def _signal_child(self, sig: int) -> None:
        if self.child is not None and self.child.poll() is None:
            try:
                self.child.send_signal(sig)
            except ProcessLookupError:
                pass  # it exited meanwhile: nothing to signal

    def _wait_child(self) -> int:
        assert self.child is not None
        while True:
            try:
                return self.child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                if self.stopping and time.monotonic() > self._stop_deadline:
                    self.say(f"serve (pid {self.child.pid}) did not stop within {STOP_TIMEOUT:.0f} s; killing it")
                    self.child.kill()

    def run(self) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.pid_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return 3  # another supervisor holds the lock: the service is already running
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._log = os.fdopen(log_fd, "a")
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        backoff = 1.0
        try:
            while not self.stopping:
                started = time.monotonic()
                self.child = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
                self.say(f"started silvereye serve (pid {self.child.pid})")
                rc = self._wait_child()
                if self.stopping:
                    self.say(f"serve stopped (exit status {rc}); supervisor exits")
                    break
                if self.restart_requested:
                    self.restart_requested = False
                    backoff = 1.0
                    self.say("restarting serve on request (SIGHUP)")
                    continue
                if time.monotonic() - started >= HEALTHY_RUN:
                    backoff = 1.0
                self.say(f"serve exited with status {rc}; starting it again in {backoff:.0f} s")
                deadline = time.monotonic() + backoff
                while not self.stopping and not self.restart_requested and time.monotonic() < deadline:
                    time.sleep(0.2)
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            try:
                self.pid_file.unlink()
            except FileNotFoundError:
                pass  # already removed (a stop raced us): nothing to clean
            os.close(fd)
        return 0


def main(argv: list[str], pid_file: Path, log_file: Path) -> int:
    return Supervisor(argv, pid_file, log_file).run()
