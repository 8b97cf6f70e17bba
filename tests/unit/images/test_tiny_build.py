"""The tiny image as built from Debian packages: what is inside, and that builds are cached."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

import pytest

from silvereye.images import tiny
from silvereye.images.elf import module_depends


@pytest.fixture(scope="module")
def image():
    return tiny.build()


def listing(image) -> dict[str, str]:
    """name -> the `cpio -tv` line, for every entry of the initramfs."""
    raw = subprocess.run(["gzip", "-dc", str(image.ramdisk)], capture_output=True, check=True).stdout
    out = subprocess.run(["cpio", "-itv"], input=raw, capture_output=True, check=True).stdout.decode()
    entries = {}
    for line in out.splitlines():
        name = line.split()[8] if len(line.split()) > 8 else ""
        entries[name] = line
    return entries


def test_manifest_describes_the_files_exactly(image):
    m = json.loads((image.directory / "manifest.json").read_text())
    for part, kind in (("kernel", "aki"), ("ramdisk", "ari"), ("root", "ami")):
        path = image.directory / m[part]["file"]
        assert m[part]["kind"] == kind
        assert m[part]["size"] == path.stat().st_size
        assert m[part]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert m["kernel_cmdline"].startswith("console=ttyS0")
    assert "qcow2" in subprocess.run(["qemu-img", "info", str(image.root)], capture_output=True, text=True).stdout


def test_initramfs_has_busybox_init_dropbear_and_its_libraries(image):
    entries = listing(image)
    assert entries["init"].endswith("-> /bin/busybox")
    assert entries["bin/sh"].endswith("-> /bin/busybox")
    for needed in ("usr/sbin/dropbear", "usr/bin/dropbearkey", "lib64/ld-linux-x86-64.so.2",
                   "lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libtomcrypt.so.1",
                   "etc/init.d/rcS", "etc/udhcpc.script", "etc/acpi/PWRF/00000080"):
        assert needed in entries, needed
    assert entries["etc/init.d/rcS"].startswith("-rwxr-xr-x")
    assert entries["root"].startswith("drwx------")


def test_modules_load_after_what_they_depend_on(image):
    order = image.manifest["modules"]
    assert {"virtio_net", "virtio_pci", "virtio_blk", "virtio_rng", "button", "evdev"} <= set(order)
    from silvereye.images import debian

    root = debian.fetch_and_extract(tiny.KERNEL_PACKAGE)
    files = {p.name[:-3].replace("-", "_"): p for p in root.rglob("*.ko")}
    for i, name in enumerate(order):
        for dep in module_depends(files[name]):
            assert order.index(dep.replace("-", "_")) < i, f"{name} loads before its dependency {dep}"


def test_a_second_build_is_found_in_the_cache(image):
    started = time.monotonic()
    again = tiny.build()
    assert again.cached and again.manifest["cache_key"] == image.manifest["cache_key"]
    assert time.monotonic() - started < 5
