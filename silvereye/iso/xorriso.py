"""Reading and writing ISO 9660 images with xorriso, one clear line when it fails.

xorriso (libisoburn) is what Fedora's and RHEL's own image tools use; its
``-boot_image any replay`` rewrites an image keeping the El Torito catalog,
the isohybrid MBR and GPT exactly as the input had them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from silvereye.errors import SilvereyeError

INSTALL_HINT = {
    "xorriso": "apt-get install xorriso / dnf install xorriso",
    "mcopy": "apt-get install mtools / dnf install mtools",
}


def require(tool: str) -> str:
    """Absolute path of a tool, or a one-line error saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        hint = INSTALL_HINT.get(tool, f"install {tool}")
        raise SilvereyeError(f"'{tool}' is not installed; it is needed to build the ISO ({hint})")
    return path


def run(args: list[str], what: str) -> str:
    """Run xorriso with an argument list; its last complaint becomes the error line."""
    cmd = [require("xorriso"), "-abort_on", "FAILURE", "-return_with", "FAILURE", "32", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SilvereyeError(f"{what}: {_complaint(r.stderr)}")
    return r.stdout + r.stderr


def _complaint(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if re.search(r": (FAILURE|SORRY|FATAL|ABORT) : ", ln)]
    line = (lines or stderr.strip().splitlines() or ["xorriso failed without a message"])[0]
    return re.sub(r"^libisoburn: |^xorriso : ", "", line).strip()


def volume_id(iso: Path) -> str:
    out = run(["-indev", str(iso), "-pvd_info"], f"cannot read {iso} as an ISO 9660 image")
    if "No ISO 9660 image" in out:
        raise SilvereyeError(f"cannot read {iso} as an ISO 9660 image: it holds no ISO 9660 filesystem")
    m = re.search(r"^Volume Id\s*:\s?(.*)$", out, re.M)
    if not m:
        raise SilvereyeError(f"{iso} has no ISO 9660 volume id: it is not an installer image")
    return m.group(1).rstrip()


def files(iso: Path) -> set[str]:
    """Every regular file's path in the image ('/isolinux/isolinux.cfg', ...)."""
    out = run(["-indev", str(iso), "-find", "/", "-type", "f"], f"cannot list the files of {iso}")
    found = set()
    for line in out.splitlines():
        if line.startswith("'") and line.endswith("'"):
            found.add(line[1:-1].replace("'\"'\"'", "'"))
    return found


def extract(iso: Path, pairs: list[tuple[str, Path]]) -> None:
    """Copy files out of the image: (path in the image, local destination)."""
    args = ["-osirrox", "on", "-indev", str(iso)]
    for inside, local in pairs:
        args += ["-extract", inside, str(local)]
    run(args, f"cannot extract files from {iso}")
    for _, local in pairs:
        local.chmod(0o644)  # extracted files keep the ISO's read-only mode


def el_torito(iso: Path) -> str:
    """xorriso's report of the boot catalog and system area (for people and tests)."""
    return run(["-indev", str(iso), "-report_el_torito", "plain", "-report_system_area", "plain"],
               f"cannot read the boot records of {iso}")


def rewrite(base: Path, out: Path, mappings: list[tuple[Path, str]], joliet: bool,
            progress: Callable[[float], None] | None = None) -> None:
    """Write ``out``: ``base`` with files added or replaced, boot records replayed as they were.

    ``mappings`` are (local file or directory, path in the image).
    """
    cmd = [require("xorriso"), "-abort_on", "FAILURE", "-return_with", "FAILURE", "32",
           "-indev", str(base), "-outdev", str(out), "-joliet", "on" if joliet else "off",
           "-boot_image", "any", "replay"]
    for local, inside in mappings:
        cmd += ["-map", str(local), inside]
    cmd += ["-commit"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line])[-40:]
        m = re.search(r"([0-9.]+)% done", line)
        if m and progress:
            progress(float(m.group(1)))
    if proc.wait() != 0:
        raise SilvereyeError(f"cannot write {out}: {_complaint(''.join(tail))}")


def has_joliet(iso: Path) -> bool:
    """Whether the image has a Joliet tree (Windows names), so the new one keeps it."""
    out = run(["-indev", str(iso), "-toc"], f"cannot read {iso}")
    return bool(re.search(r"^ISO offers\s*:.*\bJoliet\b", out, re.M))
