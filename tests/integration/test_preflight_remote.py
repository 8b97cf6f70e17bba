"""`silvereye preflight --host` against a real sshd on 127.0.0.1 (tests/fixtures/sshd.py).

The "remote" host is this machine seen through SSH, so its findings must be
the local run's, check for check. Then the ways SSH goes wrong: a refused
key, a changed host key, a port where nothing listens — each one line for
that host, while the other hosts are still checked.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.fixtures.sshd import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture
def home(tmp_path) -> Path:
    """A HOME of our own, so known_hosts is the test's, not root's."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def cfg_file(tmp_path) -> Path:
    path = tmp_path / "silvereye.yaml"
    path.write_text(yaml.safe_dump({"api": {"port": free_port()}, "network": {"metadata_port": free_port()}}))
    return path


def preflight(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS and k != "SILVEREYE_CONFIG"}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "silvereye", "preflight", *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )  # fmt: skip


def id_status(stdout: str) -> list[list[tuple[str, str]]]:
    return [[(f["id"], f["status"]) for f in h["findings"]] for h in json.loads(stdout)["hosts"]]


def test_the_remote_run_finds_what_the_local_run_finds(sshd, home, cfg_file):
    local = preflight(home, "--config", str(cfg_file), "--json")
    remote = preflight(home, "--config", str(cfg_file), "--json", "--host", sshd.target, "--ssh-key", str(sshd.client_key))
    assert remote.returncode == local.returncode == 0, remote.stdout + remote.stderr
    (host,) = json.loads(remote.stdout)["hosts"]
    assert host["host"] == sshd.target and host["error"] is None
    assert id_status(remote.stdout) == id_status(local.stdout)
    # A host seen for the first time is remembered, as ssh's accept-new does.
    assert (home / ".ssh" / "known_hosts").read_text() == sshd.known_hosts_line


def test_a_refused_key_is_one_line_for_that_host(sshd, home, cfg_file):
    wrong = sshd.new_key("not-authorised")
    r = preflight(home, "--config", str(cfg_file), "--host", sshd.target, "--ssh-key", str(wrong))
    assert r.returncode == 1
    assert r.stdout.strip() == (
        f"error: {sshd.target}: the server refused the key {wrong}; add the public key to "
        "~root/.ssh/authorized_keys there, or pass the right one with --ssh-key"
    )
    assert "Traceback" not in r.stderr


def test_a_changed_host_key_is_refused_and_the_other_host_is_still_checked(sshd, home, cfg_file, tmp_path):
    impostor = sshd.new_key("impostor-host-key")
    kind, key = impostor.with_suffix(".pub").read_text().split()[:2]
    (home / ".ssh").mkdir()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    dead = f"root@127.0.0.1:{free_port()}"
    r = preflight(home, "--config", str(cfg_file), "--json", "--host", sshd.target, "--host", dead,
                  "--ssh-key", str(sshd.client_key))  # fmt: skip
    assert r.returncode == 1
    changed, refused = json.loads(r.stdout)["hosts"]
    assert changed["error"].startswith(f"{sshd.target}: the host key has CHANGED")
    assert f"ssh-keygen -f {home}/.ssh/known_hosts -R '[127.0.0.1]:{sshd.port}'" in changed["error"]
    assert refused["error"] == f"{dead}: cannot connect (Connection refused); is sshd running and the port right?"
    assert changed["findings"] == refused["findings"] == []


def test_one_bad_host_does_not_stop_a_good_one(sshd, home, cfg_file):
    dead = f"root@127.0.0.1:{free_port()}"
    r = preflight(home, "--config", str(cfg_file), "--host", dead, "--host", sshd.target, "--ssh-key", str(sshd.client_key))
    assert r.returncode == 1
    out = r.stdout
    assert out.startswith(f"error: {dead}: cannot connect (Connection refused); is sshd running and the port right?\n")
    assert f"== {dead} ==" not in out
    good = out[out.index(f"== {sshd.target} =="):]
    assert "Checking for a usable KVM (boots a probe guest)" in good
    assert re.search(rf"^{re.escape(sshd.target)}: \d+ checks: \d+ passed, .*, 0 failures$", good, re.M)
    assert "2 hosts checked: 1 ready, 1 not." in out


def test_a_port_that_does_not_speak_ssh_is_one_line_without_traceback(home, cfg_file):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]

        def answer_http():
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        t = threading.Thread(target=answer_http, daemon=True)
        t.start()
        r = preflight(home, "--config", str(cfg_file), "--host", f"root@127.0.0.1:{port}")
        t.join(5)
    assert r.returncode == 1
    assert f"error: root@127.0.0.1:{port}: SSH failed (" in r.stdout and "is this an SSH server?" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
