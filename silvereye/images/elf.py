"""Just enough ELF to assemble an initramfs from packages: libraries, loader, module info.

A dynamically linked program (dropbear) needs its ``DT_NEEDED`` libraries and
its ``PT_INTERP`` loader beside it; a kernel module's ``.modinfo`` section
names the modules it depends on. Reading these from the files themselves,
rather than running ``ldd`` or ``modinfo`` on the build host, means the image
comes out the same on any host, whatever its own libraries or kmod.
Only 64-bit little-endian ELF (x86_64) is read; anything else is refused.
"""

from __future__ import annotations

import struct
from pathlib import Path

from silvereye.errors import SilvereyeError

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5


class ElfError(SilvereyeError):
    pass


class ElfFile:
    def __init__(self, data: bytes, name: str = "file"):
        self.data = data
        self.name = name
        if data[:4] != b"\x7fELF":
            raise ElfError(f"{name} is not an ELF file")
        if data[4] != 2 or data[5] != 1:
            raise ElfError(f"{name} is not a 64-bit little-endian ELF file")
        (self.type, _machine, _version, _entry, self.phoff, self.shoff, _flags, _ehsize,
         self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = struct.unpack_from(
            "<HHIQQQIHHHHHH", data, 16
        )

    @classmethod
    def read(cls, path: Path) -> ElfFile:
        return cls(Path(path).read_bytes(), Path(path).name)

    def _segments(self):
        for i in range(self.phnum):
            p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align = struct.unpack_from(
                "<IIQQQQQQ", self.data, self.phoff + i * self.phentsize
            )
            yield p_type, offset, vaddr, filesz

    def _offset_of(self, vaddr: int) -> int:
        for p_type, offset, start, size in self._segments():
            if p_type == PT_LOAD and start <= vaddr < start + size:
                return offset + (vaddr - start)
        raise ElfError(f"{self.name}: address {vaddr:#x} is in no loaded segment")

    def _cstring(self, offset: int) -> str:
        end = self.data.index(b"\0", offset)
        return self.data[offset:end].decode()

    def interpreter(self) -> str | None:
        """The program loader (``/lib64/ld-linux-x86-64.so.2``), None for static files."""
        for p_type, offset, _vaddr, size in self._segments():
            if p_type == PT_INTERP:
                return self.data[offset:offset + size].rstrip(b"\0").decode()
        return None

    def needed(self) -> list[str]:
        """The sonames of the shared libraries this file links against."""
        for p_type, offset, _vaddr, size in self._segments():
            if p_type != PT_DYNAMIC:
                continue
            entries = [struct.unpack_from("<qQ", self.data, offset + i) for i in range(0, size, 16)]
            strtab = next((v for tag, v in entries if tag == DT_STRTAB), None)
            if strtab is None:
                return []
            base = self._offset_of(strtab)
            out = []
            for tag, value in entries:
                if tag == DT_NULL:
                    break
                if tag == DT_NEEDED:
                    out.append(self._cstring(base + value))
            return out
        return []

    def section(self, wanted: str) -> bytes | None:
        """The bytes of the section called ``wanted``, or None."""
        if not self.shoff or self.shstrndx >= self.shnum:
            return None
        headers = []
        for i in range(self.shnum):
            name, _type, _flags, _addr, offset, size = struct.unpack_from(
                "<IIQQQQ", self.data, self.shoff + i * self.shentsize
            )
            headers.append((name, offset, size))
        names_offset = headers[self.shstrndx][1]
        for name, offset, size in headers:
            if self._cstring(names_offset + name) == wanted:
                return self.data[offset:offset + size]
        return None


def modinfo(path: Path) -> dict[str, list[str]]:
    """A kernel module's ``.modinfo`` fields (``depends``, ``name``, ``alias``...)."""
    raw = ElfFile.read(path).section(".modinfo") or b""
    out: dict[str, list[str]] = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            key, value = item.decode(errors="replace").split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def module_depends(path: Path) -> list[str]:
    """Module names this module needs loaded first."""
    fields = modinfo(path).get("depends", [""])
    return [d for d in fields[0].split(",") if d]
