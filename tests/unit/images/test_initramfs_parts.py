"""The newc writer (checked with GNU cpio) and the ELF reader (checked against real binaries)."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from silvereye.images.cpio import CpioWriter
from silvereye.images.elf import ElfError, ElfFile


def archive() -> bytes:
    buf = io.BytesIO()
    w = CpioWriter(buf)
    w.directory("etc")
    w.file("etc/hello", b"hello\n", 0o644)
    w.file("etc/odd", b"abc", 0o755)  # a size that needs padding
    w.symlink("init", "/bin/busybox")
    w.char_device("dev/console", 5, 1)
    w.close()
    return buf.getvalue()


def test_gnu_cpio_reads_what_we_write(tmp_path):
    data = archive()
    listing = subprocess.run(["cpio", "-itv"], input=data, capture_output=True, check=True).stdout.decode()
    assert "etc/hello" in listing and "init -> /bin/busybox" in listing
    assert listing.splitlines()[-1].startswith("crw-------")
    subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], input=data, cwd=tmp_path, check=True,
                   capture_output=True)
    assert (tmp_path / "etc/hello").read_bytes() == b"hello\n"
    assert (tmp_path / "etc/odd").read_bytes() == b"abc"
    assert (tmp_path / "etc/odd").stat().st_mode & 0o777 == 0o755


def test_archives_are_reproducible_and_entries_unique():
    assert archive() == archive()
    w = CpioWriter(io.BytesIO())
    w.file("a", b"")
    with pytest.raises(ValueError):
        w.file("a", b"")


def test_elf_reader_finds_the_loader_and_libraries_of_a_real_program():
    elf = ElfFile.read(shutil.which("qemu-img"))
    assert elf.interpreter() == "/lib64/ld-linux-x86-64.so.2"
    needed = elf.needed()
    assert "libc.so.6" in needed
    ldd = subprocess.run(["ldd", shutil.which("qemu-img")], capture_output=True, text=True).stdout
    assert all(name in ldd for name in needed)
    assert elf.section(".interp").rstrip(b"\0") == b"/lib64/ld-linux-x86-64.so.2"
    assert elf.section(".no-such-section") is None


def test_elf_reader_refuses_other_files():
    with pytest.raises(ElfError, match="not an ELF"):
        ElfFile(b"#!/bin/sh\n", "script")
    with pytest.raises(ElfError, match="64-bit"):
        ElfFile(b"\x7fELF\x01\x01" + b"\0" * 64, "elf32")
