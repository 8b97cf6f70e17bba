"""The command line as a user meets it: version, help, one-line errors."""

import subprocess
import sys


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "silvereye", *args], capture_output=True, text=True, **kw)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("silvereye ")


def test_bad_config_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("api:\n  port: eighty\n")
    r = run("config", "check", "--config", str(bad))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert "api.port" in r.stderr


def test_unknown_command_is_a_usage_error():
    r = run("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
