"""Fetch and unpack Debian binary packages into a cache, on any distribution.

The tiny image, the KVM probe and the synthetic installer ISO are all built
offline from Debian's cloud kernel and busybox. On a Debian host we let apt
fetch them (``apt-get download``, verified by apt); elsewhere (the RHEL
family) we read the mirror's signed index ourselves: the ``InRelease`` file,
checked with ``gpgv`` against Debian's keyring when one is installed, gives
the SHA256 of the ``Packages.xz`` index, which gives the SHA256 of each
``.deb``. Unpacking needs no dpkg: a ``.deb`` is an ``ar`` archive holding a
``data.tar.*``.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from silvereye.errors import SilvereyeError

MIRROR = os.environ.get("SILVEREYE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = os.environ.get("SILVEREYE_DEBIAN_SUITE", "bookworm")
ARCH = "amd64"
KEYRINGS = ("/usr/share/keyrings/debian-archive-keyring.gpg", "/etc/apt/trusted.gpg.d/debian-archive-bookworm-stable.gpg")

DEFAULT_CACHE = Path(os.environ.get("SILVEREYE_CACHE", "/var/cache/silvereye")) / "debs"


@dataclass
class PackageInfo:
    name: str
    version: str
    filename: str  # pool path on the mirror
    sha256: str
    depends: str = ""


def _have_apt() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("apt-cache") is not None and Path("/etc/debian_version").exists()


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise SilvereyeError(f"'{cmd[0]}' is not installed") from None
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SilvereyeError(f"{' '.join(cmd[:3])} failed: {tail}")
    return r.stdout


# -- apt path ---------------------------------------------------------------


def _apt_resolve(name: str) -> str:
    """Follow a metapackage (linux-image-cloud-amd64) to the package it depends on."""
    out = _run(["apt-cache", "show", "--no-all-versions", name])
    m = re.search(r"^Depends: (.*)$", out, re.M)
    prov = re.search(r"^Description(?:-en)?: .*meta", out, re.M | re.I)
    if m and prov:
        first = m.group(1).split(",")[0].split("|")[0].strip().split(" ")[0]
        return first
    return name


def _apt_download(name: str, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    existing = sorted(cache.glob(f"{name}_*.deb"))
    if existing:
        return existing[-1]
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        _run(["apt-get", "download", "-q", name], cwd=Path(tmp))
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise SilvereyeError(f"apt-get download {name} produced no package")
        dest = cache / debs[0].name
        os.replace(debs[0], dest)
        return dest


# -- mirror path ------------------------------------------------------------


def _http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.read()
    except OSError as e:
        raise SilvereyeError(f"cannot fetch {url}: {e}; check the network or set SILVEREYE_DEBIAN_MIRROR") from None


def _verified_release(cache: Path) -> str:
    data = _http_get(f"{MIRROR}/dists/{SUITE}/InRelease")
    keyring = next((k for k in KEYRINGS if Path(k).exists()), None)
    gpgv = shutil.which("gpgv")
    if keyring and gpgv:
        with tempfile.NamedTemporaryFile(dir=cache, suffix=".InRelease") as f:
            f.write(data)
            f.flush()
            r = subprocess.run([gpgv, "--keyring", keyring, f.name], capture_output=True)
            if r.returncode != 0:
                raise SilvereyeError(f"the signature of {MIRROR}/dists/{SUITE}/InRelease does not verify")
    return data.decode("utf-8", "replace")


def _packages_index(cache: Path) -> dict[str, PackageInfo]:
    cache.mkdir(parents=True, exist_ok=True)
    index_path = cache / f"Packages-{SUITE}-{ARCH}"
    if not index_path.exists():
        release = _verified_release(cache)
        rel = f"main/binary-{ARCH}/Packages.xz"
        m = re.search(r"^ ([0-9a-f]{64})\s+\d+\s+" + re.escape(rel) + r"$", release, re.M)
        if not m:
            raise SilvereyeError(f"{MIRROR} InRelease does not list {rel}")
        raw = _http_get(f"{MIRROR}/dists/{SUITE}/{rel}")
        if hashlib.sha256(raw).hexdigest() != m.group(1):
            raise SilvereyeError(f"{rel} from {MIRROR} does not match its checksum in InRelease")
        tmp = index_path.with_suffix(".tmp")
        tmp.write_bytes(lzma.decompress(raw))
        os.replace(tmp, index_path)
    out: dict[str, PackageInfo] = {}
    for stanza in index_path.read_text(errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.M))
        if "Package" in fields and "Filename" in fields:
            out[fields["Package"]] = PackageInfo(
                fields["Package"], fields.get("Version", ""), fields["Filename"], fields.get("SHA256", ""), fields.get("Depends", "")
            )
    return out


def _mirror_resolve(name: str, cache: Path) -> str:
    info = _packages_index(cache).get(name)
    if info is None:
        raise SilvereyeError(f"Debian {SUITE} has no package named {name}")
    if name.startswith("linux-image-") and not re.search(r"\d+\.\d+", name):
        return info.depends.split(",")[0].split("|")[0].strip().split(" ")[0]
    return name


def _mirror_download(name: str, cache: Path) -> Path:
    info = _packages_index(cache).get(name)
    if info is None:
        raise SilvereyeError(f"Debian {SUITE} has no package named {name}")
    dest = cache / Path(info.filename).name
    if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == info.sha256:
        return dest
    data = _http_get(f"{MIRROR}/{info.filename}")
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise SilvereyeError(f"{info.filename} from {MIRROR} does not match its checksum")
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return dest


# -- public API -------------------------------------------------------------


def resolve(name: str, cache: Path = DEFAULT_CACHE) -> str:
    """The concrete package behind a name (metapackages such as linux-image-cloud-amd64 are followed)."""
    return _apt_resolve(name) if _have_apt() else _mirror_resolve(name, cache)


def download(name: str, cache: Path = DEFAULT_CACHE) -> Path:
    """Path of the package's .deb in the cache, fetching it when absent."""
    return _apt_download(name, cache) if _have_apt() else _mirror_download(name, cache)


def extract(deb: Path, dest: Path) -> Path:
    """Unpack the files of a .deb under ``dest`` (no maintainer scripts run)."""
    dest.mkdir(parents=True, exist_ok=True)
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise SilvereyeError(f"{deb} is not a Debian package")
        while True:
            header = f.read(60)
            if len(header) < 60:
                break
            member = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            if member.startswith("data.tar"):
                with tempfile.TemporaryFile() as tmp:
                    remaining = size
                    while remaining:
                        chunk = f.read(min(remaining, 1 << 20))
                        tmp.write(chunk)
                        remaining -= len(chunk)
                    tmp.seek(0)
                    if member.endswith(".zst"):
                        _extract_zstd(tmp, dest)
                    else:
                        with tarfile.open(fileobj=tmp, mode="r:*") as tar:
                            tar.extractall(dest, filter="tar")
                return dest
            f.seek(size + (size & 1), os.SEEK_CUR)
    raise SilvereyeError(f"{deb} holds no data archive")


def _extract_zstd(fileobj, dest: Path) -> None:
    # Python's tarfile has no zstd before 3.14; the zstd tool is everywhere dpkg is.
    try:
        proc = subprocess.Popen(["zstd", "-dc"], stdin=fileobj, stdout=subprocess.PIPE)
    except FileNotFoundError:
        raise SilvereyeError("this package is zstd-compressed and the zstd tool is not installed") from None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="tar")
    if proc.wait() != 0:
        raise SilvereyeError("cannot unpack a zstd-compressed package: zstd failed")


def fetch_and_extract(name: str, cache: Path = DEFAULT_CACHE) -> Path:
    """Download (cached) and unpack a package; returns the directory holding its files."""
    real = resolve(name, cache)
    deb = download(real, cache)
    root = cache / "unpacked" / deb.stem
    marker = root / ".complete"
    if not marker.exists():
        if root.exists():
            shutil.rmtree(root)
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".unpack-"))
        extract(deb, tmp)
        (tmp / ".complete").touch()
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, root)
    return root
