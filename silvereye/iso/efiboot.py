"""The grub.cfg inside the El Torito EFI image (images/efiboot.img, a FAT filesystem).

RHEL and Fedora keep a copy of the EFI GRUB menu inside the FAT image as well
as on the ISO 9660 tree; which one GRUB reads depends on the firmware and on
whether the image was burnt or written to a USB stick, so both get the new
entries. mtools edits the image in place without mounting it (no root, no loop device).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from silvereye.errors import SilvereyeError
from silvereye.iso.xorriso import require

GRUB_CFG_PATHS = ("::/EFI/BOOT/grub.cfg", "::/EFI/fedora/grub.cfg", "::/EFI/redhat/grub.cfg")


def _mtools(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env)


def grub_cfgs(img: Path) -> dict[str, str]:
    """The GRUB configuration files inside the image, by their mtools path."""
    mcopy = require("mcopy")
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="silvereye-efiboot-") as tmp:
        for inside in GRUB_CFG_PATHS:
            local = Path(tmp) / "grub.cfg"
            r = _mtools([mcopy, "-n", "-i", str(img), inside, str(local)])
            if r.returncode == 0 and local.exists():
                found[inside] = local.read_text(errors="replace")
                local.unlink()
    return found


def replace_file(img: Path, inside: str, text: str) -> None:
    mcopy = require("mcopy")
    with tempfile.NamedTemporaryFile("w", prefix="silvereye-grub-", suffix=".cfg") as f:
        f.write(text)
        f.flush()
        r = _mtools([mcopy, "-o", "-i", str(img), f.name, inside])
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["mcopy failed"])[-1]
        if "full" in why.lower() or "no space" in why.lower():
            raise SilvereyeError(f"images/efiboot.img has no room for the longer {inside[3:]}; the ISO's EFI image is full")
        raise SilvereyeError(f"cannot update {inside[3:]} inside images/efiboot.img: {why}")
