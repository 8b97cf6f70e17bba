"""`silvereye iso build` with the wrong inputs: one line saying what is wrong, no traceback, no output file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from silvereye.iso import remaster

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "answers"
needs_xorriso = pytest.mark.skipif(shutil.which("xorriso") is None, reason="xorriso is not installed")


def run_cli(*args, cwd=None, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "silvereye", "iso", "build", *args],
                          capture_output=True, text=True, cwd=cwd, env=env)


def one_line_error(r, needle):
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last, r.stderr


@pytest.fixture
def binary(tmp_path):
    b = tmp_path / "silvereye-binary"
    b.write_text("#!/bin/sh\necho silvereye\n")
    b.chmod(0o755)
    return b


@pytest.fixture
def plain_iso(tmp_path):
    """A valid ISO 9660 image that is no installer (a data disc)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "README.txt").write_text("holiday photos\n")
    iso = tmp_path / "data.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "PHOTOS", "-o", str(iso), str(tree)], check=True)
    return iso


@needs_xorriso
def test_a_data_disc_is_not_an_installer(tmp_path, plain_iso, binary):
    out = tmp_path / "out.iso"
    r = run_cli("--base", str(plain_iso), "--out", str(out), "--binary", str(binary))
    one_line_error(r, "is not a RHEL-family or Fedora installer ISO")
    assert not out.exists()


@needs_xorriso
def test_a_file_that_is_no_iso(tmp_path, binary):
    junk = tmp_path / "junk.iso"
    junk.write_bytes(os.urandom(70000))
    r = run_cli("--base", str(junk), "--out", str(tmp_path / "o.iso"), "--binary", str(binary))
    one_line_error(r, f"cannot read {junk} as an ISO 9660 image")


def test_missing_xorriso(tmp_path, binary):
    base = tmp_path / "base.iso"
    base.write_bytes(b"\0" * 4096)
    r = run_cli("--base", str(base), "--out", str(tmp_path / "o.iso"), "--binary", str(binary),
                env={"PATH": str(tmp_path)})
    one_line_error(r, "'xorriso' is not installed")


def test_no_binary_to_put_on_the_disc(tmp_path):
    base = tmp_path / "base.iso"
    base.write_bytes(b"\0" * 4096)
    r = run_cli("--base", str(base), "--out", str(tmp_path / "o.iso"), cwd=tmp_path)
    one_line_error(r, "run 'make binary' first or pass --binary PATH")


@pytest.mark.parametrize("args,needle", [
    (["--base", "/nonexistent.iso", "--out", "o.iso"], "no such file"),
    (["--base", "{base}", "--out", "{base}"], "--out must differ from --base"),
    (["--base", "{base}", "--out", "/nonexistent/dir/o.iso"], "no such directory"),
    (["--base", "{base}", "--out", "o.iso", "--default-entry", "windows"], "--default-entry 'windows'"),
    (["--base", "{base}", "--out", "o.iso", "--target", "debian"], "--target 'debian'"),
    (["--base", "{base}", "--out", "o.iso", "--answers", str(FIXTURES / "bad-public-range.yaml")], "public_ips"),
])
def test_bad_options(tmp_path, binary, args, needle):
    base = tmp_path / "base.iso"
    base.write_bytes(b"\0" * 4096)
    r = run_cli(*[a.format(base=base) for a in args], "--binary", str(binary), cwd=tmp_path)
    one_line_error(r, needle)


def test_target_from_treeinfo_or_label():
    assert remaster.detect_target("[release]\nname = Fedora\nversion = 41\n", "x") == "fedora"
    assert remaster.detect_target("[release]\nname = Rocky Linux\nversion = 9.4\n", "Rocky-9") == "rhel9"
    assert remaster.detect_target("", "Fedora-S-dvd-x86_64-41") == "fedora"
    assert remaster.detect_target("not ini at all", "AlmaLinux-9-4-x86_64-dvd") == "rhel9"


def test_glibc_warning_reads_what_make_binary_recorded(tmp_path, binary):
    assert remaster.glibc_warning(binary, "rhel9") is None  # nothing recorded
    (tmp_path / "silvereye-binary.glibc").write_text("2.36 libstdc++.so.6\n")
    w = remaster.glibc_warning(binary, "rhel9")
    assert "needs glibc 2.36 (libstdc++.so.6)" in w and "2.34" in w
    assert remaster.glibc_warning(binary, "fedora") is None
