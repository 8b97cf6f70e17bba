"""Fixtures for the authentication tests: keys, a capture server, AWS's SigV4 suite."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import botocore
import pytest
from auth_capture import UTC, CaptureServer, RecordingResolver, principal

from silvereye.services.gateway.identity import Credential

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("SILVEREYE_TEST_CACHE", REPO / ".cache"))

ALICE = ("AKIAALICE0000000001", "alice/secret+key/0123456789abcdefghijk")
RETIRED = ("AKIARETIRED00000002", "retired-secret-0123456789abcdefghijklm")
SESSION = ("ASIASESSION00000003", "session-secret-0123456789abcdefghijkl", "FwoGZXIvYXdzE-session-token-a")
STALE = ("ASIASTALE0000000004", "stale-secret-0123456789abcdefghijklmno", "FwoGZXIvYXdzE-session-token-b")


@pytest.fixture
def resolver() -> RecordingResolver:
    now = dt.datetime.now(UTC)
    return RecordingResolver(
        {
            ALICE[0]: Credential(ALICE[0], ALICE[1], principal("alice")),
            RETIRED[0]: Credential(RETIRED[0], RETIRED[1], principal("bob"), active=False),
            SESSION[0]: Credential(
                SESSION[0], SESSION[1], principal("carol"), session_token=SESSION[2],
                expires_at=now + dt.timedelta(hours=1),
            ),
            STALE[0]: Credential(
                STALE[0], STALE[1], principal("dave"), session_token=STALE[2],
                expires_at=now - dt.timedelta(minutes=1),
            ),
        }
    )


@pytest.fixture(scope="session")
def server():
    capture = CaptureServer()
    yield capture
    capture.close()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory):
    capture = CaptureServer(cert_dir=tmp_path_factory.mktemp("auth-tls"))
    yield capture
    capture.close()


@pytest.fixture(scope="session")
def aws4_testsuite() -> Path:
    """AWS's SigV4 test suite, from the sdist of the pinned botocore (fetched once, cached, not committed)."""
    version = botocore.__version__
    root = CACHE / f"botocore-{version}-sdist"
    suite = root / f"botocore-{version}" / "tests" / "unit" / "auth" / "aws4_testsuite"
    if suite.is_dir():
        return suite
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"botocore-{version}.tar.gz"
    if not archive.exists():
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(root),
             f"botocore=={version}"],
            capture_output=True, text=True,
        )
        if fetched.returncode != 0:
            pytest.skip(f"cannot fetch the botocore {version} sdist: {fetched.stderr.strip()[-200:]}")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/unit/auth/aws4_testsuite/" in m.name + "/"]
        tar.extractall(root, members=members, filter="data")
    return suite
