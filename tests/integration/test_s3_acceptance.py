"""The issue's acceptance, as a person would do it: the aws CLI against `silvereye serve`, then curl on a presigned URL."""

import hashlib
import os
import subprocess
import time

import pytest

pytestmark = pytest.mark.integration


def curl(url: str, out) -> int:
    """HTTP status of a plain GET with curl, body to ``out``."""
    r = subprocess.run(["curl", "-s", "-o", str(out), "-w", "%{http_code}", url], capture_output=True, text=True,
                       check=True)
    return int(r.stdout)


def test_mb_cp_ls_download_and_a_presigned_url_until_it_expires(server, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(40):
            f.write(os.urandom(1024 * 1024))
    assert "make_bucket: demo" in server.aws("s3", "mb", "s3://demo").stdout
    copied = server.aws("s3", "cp", str(big), "s3://demo/")
    assert "upload:" in copied.stdout
    listing = server.aws("s3", "ls", "s3://demo").stdout
    assert "big.bin" in listing and str(40 * 1024 * 1024) in listing

    back = tmp_path / "back.bin"
    server.aws("s3", "cp", "s3://demo/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()

    url = server.aws("s3", "presign", "s3://demo/big.bin", "--expires-in", "4").stdout.strip()
    fetched = tmp_path / "curl.bin"
    assert curl(url, fetched) == 200
    assert fetched.read_bytes() == big.read_bytes()
    time.sleep(5)
    assert curl(url, tmp_path / "expired.xml") == 403
    assert b"Request has expired" in (tmp_path / "expired.xml").read_bytes()
