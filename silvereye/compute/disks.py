"""Base images cached by content, and the qcow2 overlays instances boot from.

An image is imported once into ``images_path`` under the SHA-256 of its
bytes (``<sha256>.<format>``), so the same image registered twice is stored
once and a cached file is never rewritten. An instance's root disk is a
qcow2 overlay whose backing file is that base, made with ``qemu-img create
-F <format> -b <base>``: launching costs the same for a 20 MB or a 20 GB
image, and the base stays untouched.

Images come from users, so they are inspected with ``qemu-img info`` under
an explicit format when one is known, and refused when they point at a
backing or external data file (a crafted qcow2 could otherwise make QEMU
read any file on the host). Formats other than qcow2 and raw are converted
to qcow2 once, at import.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from silvereye.compute.errors import ImageError
from silvereye.compute.hostfiles import Host, LocalHost

DISK_FORMATS = ("qcow2", "raw")
CONVERTIBLE_FORMATS = ("vmdk", "vdi", "vhdx", "vpc")
BLOB = "blob"  # kernels and ramdisks: plain files handed to QEMU as they are
_NAME = re.compile(r"([0-9a-f]{64})\.(qcow2|raw|blob)")


@dataclass(frozen=True)
class CachedImage:
    """A file in the image cache, named by its content."""

    sha256: str
    format: str  # qcow2, raw, or blob
    path: Path
    size: int  # bytes on disk
    virtual_size: int  # bytes the guest sees (== size for raw and blob)

    @property
    def is_disk(self) -> bool:
        return self.format in DISK_FORMATS


def qemu_img_info(path: Path, fmt: str | None = None, host: Host | None = None) -> dict:
    argv = ["qemu-img", "info", "--output=json", "-U"]
    if fmt:
        argv += ["-f", fmt]
    out = (host or LocalHost()).run(argv + [str(path)], timeout=120)
    try:
        return json.loads(out)
    except ValueError:
        raise ImageError(f"qemu-img info gave no readable answer for {path.name}") from None


def _check_self_contained(info: dict, name: str) -> None:
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise ImageError(f"image {name} refers to a backing file; flatten it (qemu-img convert) and import that")
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("data-file"):
        raise ImageError(f"image {name} keeps its data in an external file; flatten it and import that")


def _sha256_copy(source: Path, dest_dir: Path) -> tuple[str, Path]:
    """Copy ``source`` into ``dest_dir`` under a temporary name, hashing on the way."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".import-")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return digest.hexdigest(), Path(tmp)


class ImageCache:
    """The content-addressed store of base images, kernels and ramdisks on this host."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # QEMU runs as its own user and must reach the bases

    def path_of(self, sha256: str, fmt: str) -> Path:
        name = f"{sha256}.{fmt}"
        if not _NAME.fullmatch(name):
            raise ImageError(f"{sha256!r}/{fmt!r} does not name a cached image")
        return self.root / name

    def add(self, source: Path, fmt: str | None = None) -> CachedImage:
        """Import a disk image (format probed safely when not given); returns the cached base."""
        source = Path(source)
        if not source.is_file():
            raise ImageError(f"image file {source} does not exist")
        if fmt is not None and fmt not in DISK_FORMATS + CONVERTIBLE_FORMATS:
            known = ", ".join(DISK_FORMATS + CONVERTIBLE_FORMATS)
            raise ImageError(f"image format {fmt!r} is not supported (known: {known})")
        info = qemu_img_info(source, fmt)
        _check_self_contained(info, source.name)
        found = info.get("format", "")
        if found not in DISK_FORMATS + CONVERTIBLE_FORMATS:
            raise ImageError(f"image {source.name} is in format {found!r}, which silvereye cannot boot")
        self._prepare()
        if found in CONVERTIBLE_FORMATS:
            return self._add_converted(source, found)
        sha, tmp = _sha256_copy(source, self.root)
        return self._commit(tmp, sha, found)

    def add_blob(self, source: Path) -> CachedImage:
        """Import a kernel or ramdisk: kept byte for byte."""
        source = Path(source)
        if not source.is_file():
            raise ImageError(f"file {source} does not exist")
        self._prepare()
        sha, tmp = _sha256_copy(source, self.root)
        return self._commit(tmp, sha, BLOB)

    def _add_converted(self, source: Path, fmt: str) -> CachedImage:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".convert-")
        os.close(fd)
        try:
            LocalHost().run(["qemu-img", "convert", "-q", "-f", fmt, "-O", "qcow2", str(source), tmp], timeout=3600)
            sha, copy = _sha256_copy(Path(tmp), self.root)
        finally:
            os.unlink(tmp)
        return self._commit(copy, sha, "qcow2")

    def _commit(self, tmp: Path, sha: str, fmt: str) -> CachedImage:
        dest = self.path_of(sha, fmt)
        if dest.exists():
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        return self.get(sha, fmt)

    def get(self, sha256: str, fmt: str) -> CachedImage:
        """The cached image with this content hash and format; ImageError if it is not cached."""
        path = self.path_of(sha256, fmt)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageError(f"image {sha256[:12]} is not in the cache at {self.root}; import it again") from None
        virtual = size
        if fmt == "qcow2":
            virtual = int(qemu_img_info(path, fmt).get("virtual-size", size))
        return CachedImage(sha256, fmt, path, size, virtual)

    def list(self) -> list[CachedImage]:
        if not self.root.is_dir():
            return []
        out = []
        for name in sorted(os.listdir(self.root)):
            m = _NAME.fullmatch(name)
            if m:
                out.append(self.get(m.group(1), m.group(2)))
        return out

    def remove(self, image: CachedImage) -> None:
        """Drop a cached file (the caller knows no instance or image record still uses it)."""
        self.path_of(image.sha256, image.format).unlink(missing_ok=True)


def create_overlay(host: Host, base: CachedImage, dest: Path, virtual_size: int | None = None) -> None:
    """A qcow2 overlay at ``dest`` backed by ``base``, grown to ``virtual_size`` when larger."""
    if not base.is_disk:
        raise ImageError(f"{base.path.name} is a kernel or ramdisk, not a disk image")
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", base.format, "-b", str(base.path), str(dest)]
    if virtual_size and virtual_size > base.virtual_size:
        argv.append(str(virtual_size))
    host.run(argv, timeout=120)


def overlay_backing(host: Host, overlay: Path) -> str | None:
    """The backing file an overlay points at (reconciliation checks it still exists)."""
    info = qemu_img_info(overlay, "qcow2", host)
    return info.get("backing-filename")


def copy_to_node(host: Host, image: CachedImage, remote_root: Path) -> Path:
    """Where ``image`` lives on the node, copying it there first if the node is remote."""
    if isinstance(host, LocalHost):
        return image.path
    dest = remote_root / image.path.name
    host.ensure_copy(image.path, dest)
    return dest

