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
import pytest

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


_TALLY: dict[tuple[str, str], dict[str, int]] = {}
_COLUMNS = {
    "test_input_vector": "input",
    "test_input_vector_as_the_spec_writes_it": "input, spec form",
    "test_output_vector": "output",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Count vector outcomes per protocol, for the summary at the end of the run."""
    outcome = yield
    report = outcome.get_result()
    column = _COLUMNS.get(getattr(item, "originalname", ""))
    if column is None or report.when != "call":
        return
    case = item.callspec.params.get("input_case") or item.callspec.params.get("output_case")
    counts = _TALLY.setdefault((case.protocol, column), {"passed": 0, "failed": 0, "skipped": 0})
    counts[report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _TALLY:
        return
    write = terminalreporter.write_line
    write("")
    write(f"botocore {VERSION} protocol vectors (passed / failed / ignored):")
    protocols = sorted({p for p, _ in _TALLY})
    write(f"  {'protocol':<20}" + "".join(f"{c:>22}" for c in _COLUMNS.values()))
    for protocol in protocols:
        cells = []
        for column in _COLUMNS.values():
            c = _TALLY.get((protocol, column))
            cells.append(f"{c['passed']} / {c['failed']} / {c['skipped']}" if c else "-")
        write(f"  {protocol:<20}" + "".join(f"{cell:>22}" for cell in cells))
