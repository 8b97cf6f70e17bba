"""Downloading and verifying catalog images, with a progress bar; or taking a file already here.

A download streams into ``<name>.part`` beside its destination while its
digest is computed, and only a file whose digest matches becomes
``<dest>/<filename>``: a half-downloaded or corrupt image never looks like a
good one. The expected digest is the entry's pinned one or the line for the
file in the distribution's checksum file (GNU ``<hex>  <file>`` or BSD
``SHA256 (<file>) = <hex>`` form). With ``--from-file`` the same check runs on
the given file when the checksum can be had; when the network cannot give
it, the image is used unverified and the result says so.

Every failure is one line: which image, what went wrong, what to do.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from silvereye.errors import SilvereyeError
from silvereye.images.catalog import CatalogEntry

CHUNK = 1 << 20
TIMEOUT = 30


class CatalogError(SilvereyeError):
    pass


@dataclass(frozen=True)
class FetchedImage:
    entry: CatalogEntry
    path: Path
    digest: str  # hex digest in entry.algorithm
    verified: bool  # False only for --from-file when no checksum could be had
    downloaded: bool


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _open(url: str):
    request = urllib.request.Request(url, headers={"User-Agent": "silvereye-images"})
    return urllib.request.urlopen(request, timeout=TIMEOUT)


def parse_checksums(text: str, filename: str, algorithm: str = "sha256") -> str | None:
    """The ``algorithm`` digest listed for ``filename`` in a SHA*SUMS or BSD-style CHECKSUM file."""
    length = hashlib.new(algorithm).digest_size * 2
    for line in text.splitlines():
        line = line.strip()
        bsd = re.fullmatch(r"(SHA\d+) \((.+)\) = ([0-9a-fA-F]+)", line)
        if bsd and bsd.group(1).lower() == algorithm and bsd.group(2) == filename:
            return bsd.group(3).lower()
        gnu = re.fullmatch(r"([0-9a-fA-F]{%d}) [ *]?(.+)" % length, line)
        if gnu and gnu.group(2).lstrip("*").removeprefix("./") == filename:
            return gnu.group(1).lower()
    return None


def expected_digest(entry: CatalogEntry) -> str:
    """The digest the image must have; CatalogError if the checksum file cannot be read or lacks it."""
    if entry.checksum:
        return entry.checksum
    try:
        with _open(entry.checksum_url) as r:
            text = r.read(4 << 20).decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        raise CatalogError(
            f"{entry.name}: cannot read its checksum file {entry.checksum_url} ({_reason(e)}); "
            "check the network, or pass --from-file PATH to use an image you already have"
        ) from None
    digest = parse_checksums(text, entry.filename, entry.algorithm)
    if digest is None:
        raise CatalogError(f"{entry.name}: the checksum file {entry.checksum_url} does not list {entry.filename}")
    return digest


def _hash_file(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _mismatch(entry: CatalogEntry, expected: str, got: str, where: str) -> CatalogError:
    return CatalogError(
        f"{entry.name}: {where} does not match its {entry.algorithm} checksum "
        f"(expected {expected[:16]}..., got {got[:16]}...); the file is corrupt or the image changed "
        "upstream: download it again"
    )


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )


def download(entry: CatalogEntry, dest_dir: Path, *, show_progress: bool = True,
             console: Console | None = None) -> FetchedImage:
    """Download ``entry`` into ``dest_dir`` and verify it; the cached file is reused when it verifies."""
    dest_dir = Path(dest_dir)
    expected = expected_digest(entry)
    dest = dest_dir / entry.filename
    if dest.is_file() and _hash_file(dest, entry.algorithm) == expected:
        return FetchedImage(entry, dest, expected, verified=True, downloaded=False)
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.new(entry.algorithm)
    try:
        with _open(entry.url) as r, open(part, "wb") as out:
            total = int(r.headers.get("Content-Length") or 0) or None
            with _progress(console) as progress:
                task = progress.add_task(entry.name, total=total, visible=show_progress)
                while chunk := r.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    progress.advance(task, len(chunk))
            if total is not None and out.tell() != total:
                raise OSError(f"the connection closed after {out.tell()} of {total} bytes")
    except (OSError, ValueError) as e:
        part.unlink(missing_ok=True)
        raise CatalogError(
            f"{entry.name}: cannot download {entry.url} ({_reason(e)}); "
            "check the network, or pass --from-file PATH to use an image you already have"
        ) from None
    got = h.hexdigest()
    if got != expected:
        part.unlink(missing_ok=True)
        raise _mismatch(entry, expected, got, "the download")
    os.replace(part, dest)
    return FetchedImage(entry, dest, got, verified=True, downloaded=True)


def from_file(entry: CatalogEntry, path: Path, dest_dir: Path | None = None) -> FetchedImage:
    """Use an image file already on this host, verified when its checksum can be obtained."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{entry.name}: {path} is not a file")
    got = _hash_file(path, entry.algorithm)
    try:
        expected = expected_digest(entry)
    except CatalogError:
        expected = None  # offline: the file is used as it is, and the caller says so
    if expected is not None and got != expected:
        raise _mismatch(entry, expected, got, str(path))
    if dest_dir is not None:
        Path(dest_dir).mkdir(parents=True, exist_ok=True)
        dest = Path(dest_dir) / entry.filename
        if dest.resolve() != path.resolve():
            shutil.copyfile(path, dest)
        path = dest
    return FetchedImage(entry, path, got, verified=expected is not None, downloaded=False)
