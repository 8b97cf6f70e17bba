"""The supervisor that keeps `silvereye serve` running where there is no systemd, with a stand-in service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CHILD = "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(600)"


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture
def supervised(tmp_path):
    starts = tmp_path / "starts"
    pid_file, log_file = tmp_path / "run" / "se.pid", tmp_path / "log" / "se.log"
    argv = [sys.executable, "-c", CHILD, str(starts)]
    code = ("import sys; from silvereye.laydown.supervisor import main; "
            f"sys.exit(main({argv!r}, __import__('pathlib').Path({str(pid_file)!r}), __import__('pathlib').Path({str(log_file)!r})))")

    def start():
        return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})

    proc = start()
    children = lambda: [int(x) for x in starts.read_text().split()] if starts.exists() else []  # noqa: E731
    wait_for(lambda: pid_file.exists() and children())
    yield proc, pid_file, log_file, children, start
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in children():
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_it_restarts_a_service_that_dies_and_stops_it_on_term(supervised):
    proc, pid_file, log_file, children, _ = supervised
    assert int(pid_file.read_text()) == proc.pid
    first = children()[0]
    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: len(children()) == 2 and children()[1])
    assert second != first and alive(second)
    assert "serve exited with status -9; starting it again in 1 s" in log_file.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert not pid_file.exists()
    wait_for(lambda: not alive(second))


def test_hup_restarts_the_service_at_once(supervised):
    proc, _, log_file, children, _ = supervised
    first = children()[0]
    proc.send_signal(signal.SIGHUP)
    started = time.monotonic()
    wait_for(lambda: len(children()) == 2)
    assert time.monotonic() - started < 1.0  # no back-off on request
    assert not alive(first) and "restarting serve on request (SIGHUP)" in log_file.read_text()


def test_a_second_supervisor_leaves_the_first_alone(supervised):
    proc, pid_file, _, _, start = supervised
    second = start()
    assert second.wait(timeout=10) == 3
    assert int(pid_file.read_text()) == proc.pid and proc.poll() is None
