"""`silvereye images ...` as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "silvereye", "images", *args], capture_output=True, text=True)


def test_list_shows_the_catalog_and_the_tiny_image():
    r = run("list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["tiny"]["name"] == "tiny"
    assert {"debian-12", "ubuntu-24.04", "rocky-9", "cirros-0.6.2"} <= {e["name"] for e in data["catalog"]}
    text = run("list")
    assert "cirros-0.6.2" in text.stdout and "tiny" in text.stdout


def test_build_tiny_reports_the_files(tmp_path):
    r = run("build-tiny", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert {m["kernel"]["kind"], m["ramdisk"]["kind"], m["root"]["kind"]} == {"aki", "ari", "ami"}
    text = run("build-tiny")
    assert "vmlinuz" in text.stdout and "initrd.img" in text.stdout


def test_build_tiny_into_an_unwritable_place_is_one_line():
    r = run("build-tiny", "--out", "/proc/silvereye-tiny")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "choose another --out" in r.stderr
