"""A writer for the cpio "newc" format, the one the Linux kernel unpacks as an initramfs.

Written here rather than by running ``cpio`` so that entries (device nodes,
owners, modes) do not depend on the build host's files and permissions, and
so that every entry's mtime is fixed: the same inputs give the same bytes,
hence the same sha256, on every build.

Each entry is a 110-byte ASCII header (``070701`` and thirteen 8-digit hex
fields), the NUL-terminated name padded to 4 bytes, then the data padded to
4 bytes; ``TRAILER!!!`` ends the archive.
"""

from __future__ import annotations

import stat
from typing import BinaryIO

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


def _pad(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


class CpioWriter:
    def __init__(self, out: BinaryIO, mtime: int = 0):
        self.out = out
        self.mtime = mtime
        self._ino = 1
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.strip("/") or "."
        if name in self._names and name != TRAILER:
            raise ValueError(f"{name} is already in the archive")
        self._names.add(name)
        encoded = name.encode() + b"\0"
        fields = (
            self._ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, self.mtime, len(data),
            0, 0, rdev[0], rdev[1], len(encoded), 0,
        )
        self._ino += 1
        header = MAGIC + b"".join(b"%08x" % f for f in fields)
        self.out.write(header + encoded + _pad(len(header) + len(encoded)))
        self.out.write(data + _pad(len(data)))

    def directory(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def has(self, name: str) -> bool:
        return name.strip("/") in self._names

    def close(self) -> None:
        self._entry(TRAILER, 0)
