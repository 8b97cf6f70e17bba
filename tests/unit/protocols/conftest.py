"""Fetch botocore's protocol test vectors (once, cached) for the codec tests.

The vectors ship only in botocore's source distribution, so the first run
does ``pip download --no-deps --no-binary :all: botocore==<installed>`` and
unpacks ``tests/unit/protocols`` into ``~/.cache/silvereye/botocore-vectors/
<version>`` (override with SILVEREYE_VECTOR_CACHE). They are never committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import botocore

VERSION = botocore.__version__
PREFIX = f"botocore-{VERSION}/tests/unit/protocols/"


def cache_root() -> Path:
    default = Path.home() / ".cache" / "silvereye" / "botocore-vectors"
    return Path(os.environ.get("SILVEREYE_VECTOR_CACHE", default)) / VERSION


def vectors_dir() -> Path:
    """The directory holding input/, output/ and legacy/ (downloaded on first use)."""
    target = cache_root()
    if (target / "input").is_dir() and (target / "output").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="codecs-vectors-", dir=target.parent) as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"botocore=={VERSION}", "-d", tmp],
            capture_output=True, text=True, timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"cannot fetch botocore {VERSION}'s protocol vectors (pip download failed): "
                f"{result.stderr.strip()[-500:]}; check network access or set SILVEREYE_VECTOR_CACHE"
            )
        archive = next(Path(tmp).glob("botocore-*.tar.gz"))
        staging = Path(tmp) / "vectors"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not member.name.startswith(PREFIX) or not member.isfile() or not member.name.endswith(".json"):
                    continue
                relative = Path(member.name[len(PREFIX):])
                if relative.is_absolute() or ".." in relative.parts:
                    continue
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(destination, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def pytest_generate_tests(metafunc):
    """Parametrize ``input_case`` / ``output_case`` with every vector of the five protocols."""
    from .vectorlib import load_cases

    for kind in ("input", "output"):
        fixture = f"{kind}_case"
        if fixture in metafunc.fixturenames:
            cases = load_cases(vectors_dir(), kind)
            metafunc.parametrize(fixture, cases, ids=[c.id for c in cases])
