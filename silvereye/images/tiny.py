"""The tiny image: a Debian cloud kernel and a busybox initramfs that behaves like a cloud guest.

Built offline from Debian packages (``silvereye.images.debian``): the cloud
kernel and its virtio modules, ``busybox-static`` as init and every tool,
``dropbear`` with the shared libraries and loader it links against (found by
reading its ELF headers, taken from the same Debian release). Its boot
script (``tiny_files/rcS.sh``) brings up the network by DHCP, reads the
metadata service, installs the key pair's public key, starts SSH and a web
page, runs user-data scripts and prints ``silvereye-tiny: boot complete
instance-id=... ip=...`` on the serial console. It boots in seconds under
TCG, which is why tests, demos and benchmarks use it.

The output is an aki/ari/ami triple: ``vmlinuz``, ``initrd.img`` (gzip'd
newc cpio) and ``root.qcow2`` (an empty 64 MiB disk the guest formats on
first boot and mounts on /data, so stop/start keeps data), plus
``manifest.json`` with sizes and sha256. Builds are cached: the same
packages and scripts give the same files, found again without rebuilding.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from silvereye.errors import SilvereyeError
from silvereye.images import debian
from silvereye.images.cpio import CpioWriter
from silvereye.images.elf import ElfFile, module_depends

BUILD_VERSION = 1  # bump when the build changes in a way the cache key cannot see
NAME = "silvereye-tiny"
KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
DROPBEAR_PACKAGE = "dropbear-bin"
# Where dropbear's libraries come from (Debian bookworm names).
LIBRARY_PACKAGES = ("libc6", "libtomcrypt1", "libtommath1", "zlib1g", "libcrypt1", "libgmp10")
DROPBEAR_PROGRAMS = ("usr/sbin/dropbear", "usr/bin/dropbearkey")
LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib")
# virtio transport, network, disk and entropy; the ACPI power button and evdev for acpid.
WANTED_MODULES = ("virtio_pci", "virtio_net", "virtio_blk", "virtio_rng", "button", "evdev")
ROOT_DISK_SIZE = "64M"
KERNEL_CMDLINE = "console=ttyS0 root=/dev/vda"
BOOT_COMPLETE = b"silvereye-tiny: boot complete"
DEFAULT_OUT = debian.DEFAULT_CACHE.parent / "tiny"

INITTAB = """\
::sysinit:/etc/init.d/rcS
::shutdown:/etc/init.d/rcK
::ctrlaltdel:/sbin/reboot
"""
STATIC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\n",
    "etc/shadow": "root:*:19000:0:99999:7:::\n",
    "etc/shells": "/bin/sh\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "etc/inittab": INITTAB,
}
SCRIPTS = {  # path in the image -> file in tiny_files/
    "etc/init.d/rcS": "rcS.sh",
    "etc/init.d/rcK": "rcK.sh",
    "etc/udhcpc.script": "udhcpc.sh",
    "etc/acpi/PWRF/00000080": "power-button.sh",
}


@dataclass(frozen=True)
class TinyImage:
    directory: Path
    manifest: dict
    cached: bool

    @property
    def kernel(self) -> Path:
        return self.directory / self.manifest["kernel"]["file"]

    @property
    def ramdisk(self) -> Path:
        return self.directory / self.manifest["ramdisk"]["file"]

    @property
    def root(self) -> Path:
        return self.directory / self.manifest["root"]["file"]

    @property
    def kernel_cmdline(self) -> str:
        return self.manifest["kernel_cmdline"]


def _script(name: str) -> bytes:
    return resources.files("silvereye.images").joinpath("tiny_files", name).read_bytes()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _cache_key(debs: dict[str, Path]) -> str:
    h = hashlib.sha256(f"{BUILD_VERSION}|{WANTED_MODULES}|{ROOT_DISK_SIZE}|{KERNEL_CMDLINE}".encode())
    for name in sorted(debs):
        h.update(f"|{name}={debs[name].name}".encode())
    for path, text in sorted(STATIC_FILES.items()):
        h.update(f"|{path}={text}".encode())
    for path, name in sorted(SCRIPTS.items()):
        h.update(f"|{path}=".encode() + _script(name))
    return h.hexdigest()


def _inside(root: Path, path: str) -> Path:
    """``path`` under ``root``, following symlinks as the image would (absolute ones from ``root``)."""
    current = root
    parts = [p for p in path.split("/") if p]
    hops = 0
    while parts:
        part = parts.pop(0)
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise SilvereyeError(f"too many symbolic links resolving {path} in {root.name}")
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p] + parts
            current = root if target.startswith("/") else current
            continue
        if part == "..":
            current = current.parent if current != root else root
        elif part != ".":
            current = candidate
    return current


class _Layout:
    """The unpacked packages and how to find files in them."""

    def __init__(self, roots: dict[str, Path]):
        self.roots = roots

    def find_library(self, soname: str) -> Path:
        for pkg in LIBRARY_PACKAGES:
            root = self.roots[pkg]
            for d in LIBRARY_DIRS:
                if (root / d / soname).exists() or (root / d / soname).is_symlink():
                    real = _inside(root, f"{d}/{soname}")
                    if real.is_file():
                        return real
        raise SilvereyeError(
            f"no package in {', '.join(LIBRARY_PACKAGES)} holds {soname}, which dropbear needs; "
            "add its package to LIBRARY_PACKAGES in silvereye/images/tiny.py"
        )

    def find_interpreter(self, path: str) -> Path:
        real = _inside(self.roots["libc6"], path)
        if not real.is_file():
            raise SilvereyeError(f"the program loader {path} is not in libc6")
        return real


def _module_order(module_dir: Path) -> list[tuple[str, Path]]:
    """WANTED_MODULES and what they depend on, dependencies first."""
    files = {p.name[:-3].replace("-", "_"): p for p in module_dir.rglob("*.ko")}
    order: list[tuple[str, Path]] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(n == name for n, _ in order):
            return
        if name in visiting:
            raise SilvereyeError(f"kernel modules depend on each other in a cycle at {name}")
        if name not in files:
            raise SilvereyeError(f"the kernel package has no module {name}")
        visiting.add(name)
        for dep in module_depends(files[name]):
            visit(dep.replace("-", "_"))
        visiting.discard(name)
        order.append((name, files[name]))

    for wanted in WANTED_MODULES:
        visit(wanted)
    return order


def _busybox_applets(busybox: Path) -> list[str]:
    try:
        out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SilvereyeError(f"cannot list busybox's applets ({e}); is this host x86_64?") from None
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _initramfs(layout: _Layout, kernel_root: Path, busybox: Path) -> tuple[bytes, list[str]]:
    raw = io.BytesIO()
    cpio = CpioWriter(raw)
    for d in ("bin", "sbin", "etc", "etc/init.d", "etc/acpi", "etc/acpi/PWRF", "etc/dropbear", "proc", "sys",
              "dev", "run", "lib", "lib/modules", "lib/x86_64-linux-gnu", "lib64", "usr", "usr/bin", "usr/sbin",
              "var", "var/www", "data"):
        cpio.directory(d)
    cpio.directory("root", 0o700)
    cpio.directory("tmp", 0o1777)
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3, 0o666)

    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in _busybox_applets(busybox):
        if not cpio.has(applet):
            cpio.symlink(applet, "/bin/busybox")
    cpio.symlink("init", "/bin/busybox")

    # dropbear, its libraries (recursively) and the loader.
    needed: list[str] = []
    interpreters: set[str] = set()
    for program in DROPBEAR_PROGRAMS:
        path = layout.roots[DROPBEAR_PACKAGE] / program
        elf = ElfFile.read(path)
        cpio.file(program, path.read_bytes(), 0o755)
        needed += elf.needed()
        interp = elf.interpreter()
        if interp and not cpio.has(interp):
            cpio.file(interp, layout.find_interpreter(interp).read_bytes(), 0o755)
            interpreters.add(interp.strip("/"))
    while needed:
        soname = needed.pop(0)
        dest = f"lib/x86_64-linux-gnu/{soname}"
        if cpio.has(dest) or any(cpio.has(i) and i.endswith("/" + soname) for i in interpreters):
            continue  # libc names the loader itself as needed: it is already there
        real = layout.find_library(soname)
        cpio.file(dest, real.read_bytes(), 0o755)
        needed += ElfFile.read(real).needed()

    modules = _module_order(kernel_root)
    for name, path in modules:
        cpio.file(f"lib/modules/{name}.ko", path.read_bytes())
    cpio.file("etc/modules.order", "".join(f"{name}\n" for name, _ in modules).encode())

    for path, text in STATIC_FILES.items():
        cpio.file(path, text.encode(), 0o600 if path == "etc/shadow" else 0o644)
    for path, name in SCRIPTS.items():
        cpio.file(path, _script(name), 0o755)
    cpio.close()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue(), [name for name, _ in modules]


def read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _intact(directory: Path, manifest: dict) -> bool:
    for part in ("kernel", "ramdisk", "root"):
        entry = manifest.get(part) or {}
        path = directory / entry.get("file", "?")
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            return False
    return True


def build(out: Path | None = None, *, cache: Path = debian.DEFAULT_CACHE, force: bool = False,
          report: Callable[[str], None] = lambda _msg: None) -> TinyImage:
    """Build the tiny image into ``out`` (default: the silvereye cache), or find it already built."""
    out = Path(out or DEFAULT_OUT)
    started = time.monotonic()
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise SilvereyeError(f"cannot write the tiny image to {out} ({e.strerror}); choose another --out") from None
    names = [KERNEL_PACKAGE, BUSYBOX_PACKAGE, DROPBEAR_PACKAGE, *LIBRARY_PACKAGES]
    existing = read_manifest(out)
    if not force and existing and _intact(out, existing):
        # Same packages (still in the cache) and same scripts: no need to ask apt anything,
        # so a built image is found offline. --force rebuilds from the current packages.
        recorded = {name: cache / deb for name, deb in (existing.get("packages") or {}).items()}
        if set(recorded) == set(names) and all(p.is_file() for p in recorded.values()) \
                and existing.get("cache_key") == _cache_key(recorded):
            return TinyImage(out, existing, cached=True)
    report("resolving Debian packages")
    debs = {name: debian.download(debian.resolve(name, cache), cache) for name in names}
    key = _cache_key(debs)
    if not force and existing and existing.get("cache_key") == key and _intact(out, existing):
        return TinyImage(out, existing, cached=True)

    report("unpacking packages")
    roots = {name: debian.fetch_and_extract(name, cache) for name in names}
    kernels = sorted((roots[KERNEL_PACKAGE] / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SilvereyeError(f"{debs[KERNEL_PACKAGE].name} holds no kernel under /boot")
    kernel = kernels[-1]
    release = kernel.name[len("vmlinuz-"):]
    module_root = roots[KERNEL_PACKAGE] / "lib" / "modules" / release
    busybox = roots[BUSYBOX_PACKAGE] / "bin" / "busybox"

    report("assembling the initramfs")
    ramdisk, modules = _initramfs(_Layout(roots), module_root, busybox)

    staging = Path(tempfile.mkdtemp(dir=out, prefix=".build-"))
    try:
        shutil.copyfile(kernel, staging / "vmlinuz")
        (staging / "initrd.img").write_bytes(ramdisk)
        report("creating the root disk")
        try:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(staging / "root.qcow2"), ROOT_DISK_SIZE],
                           check=True, capture_output=True, timeout=60)
        except FileNotFoundError:
            raise SilvereyeError("qemu-img is not installed; install qemu-utils") from None
        manifest = {
            "name": NAME,
            "build_version": BUILD_VERSION,
            "cache_key": key,
            "kernel_release": release,
            "kernel_cmdline": KERNEL_CMDLINE,
            "boot_complete_marker": BOOT_COMPLETE.decode(),
            "modules": modules,
            "packages": {name: debs[name].name for name in names},
            "kernel": {"file": "vmlinuz", "kind": "aki"},
            "ramdisk": {"file": "initrd.img", "kind": "ari", "format": "cpio.gz"},
            "root": {"file": "root.qcow2", "kind": "ami", "format": "qcow2"},
        }
        for part in ("kernel", "ramdisk", "root"):
            path = staging / manifest[part]["file"]
            manifest[part].update(size=path.stat().st_size, sha256=_sha256(path))
        manifest["build_seconds"] = round(time.monotonic() - started, 2)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for name in ("vmlinuz", "initrd.img", "root.qcow2", "manifest.json"):  # manifest last: it marks completion
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TinyImage(out, manifest, cached=False)
