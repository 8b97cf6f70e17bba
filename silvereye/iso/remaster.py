"""`silvereye iso build`: a RHEL-9-family or Fedora installer ISO becomes the silvereye DVD.

The disc keeps everything it had (files, volume label, El Torito BIOS and
EFI images, isohybrid MBR/GPT) and gains:

- /ks/ciab.ks, /ks/frontend.ks, /ks/node.ks: the kickstarts, rendered from
  the answers and checked with pykickstart;
- /silvereye/silvereye: the single binary the kickstart's %post installs;
- /silvereye/answers.yaml: the answers, when given;
- three entries in every boot menu (isolinux, GRUB on the ISO and inside
  images/efiboot.img), each booting the installer with
  inst.ks=hd:LABEL=<the disc's label>:/ks/<profile>.ks.

Without answers the kickstarts use the built-in defaults (DHCP) and leave
the root password out, so the installer stops once to ask for it.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from silvereye import kickstart
from silvereye.errors import SilvereyeError
from silvereye.iso import efiboot, menus, xorriso
from silvereye.laydown import answers as answers_mod

ISOLINUX_CFG = "/isolinux/isolinux.cfg"
GRUB_CFGS = ("/EFI/BOOT/grub.cfg", "/boot/grub2/grub.cfg")
EFI_IMAGE = "/images/efiboot.img"
ENTRY_CHOICES = ("original", *kickstart.PROFILES)
# The C library of each target's oldest release: the binary must not need a newer one.
TARGET_GLIBC = {"rhel9": (2, 34), "fedora": (2, 39)}
TARGET_SHORT = {"rhel9": "the RHEL 9 family", "fedora": "Fedora"}
HOTKEY_TITLES = {"ciab": "Install silvereye ^Cloud-in-a-box", "frontend": "Install silvereye ^Frontend",
                 "node": "Install silvereye ^Node controller"}


@dataclass
class Options:
    base: Path
    out: Path
    answers: Path | None = None
    binary: Path | None = None
    target: str | None = None
    default_entry: str = "original"
    timeout: int | None = None


@dataclass
class Result:
    out: Path
    size_mib: float
    volume_id: str
    target: str
    menus: list[str]
    warnings: list[str]


def default_binary() -> Path | None:
    """The binary to put on the disc: this one when we are it, else dist/silvereye.

    The single binary's launcher names itself in $SILVEREYE_BINARY (sys.executable
    is the unpacked program inside the cache, which cannot run on its own).
    """
    launcher = os.environ.get("SILVEREYE_BINARY")
    if launcher and Path(launcher).is_file():
        return Path(launcher)
    if getattr(sys, "frozen", False):
        return Path(sys.executable)
    candidate = Path("dist/silvereye")
    return candidate if candidate.is_file() else None


def entries_for(volume_id: str) -> list[menus.Entry]:
    label = kickstart.udev_escape(volume_id)
    return [
        menus.Entry(p, f"Install silvereye {kickstart.TITLES[p]}", HOTKEY_TITLES[p], f"/ks/{p}.ks", label)
        for p in kickstart.PROFILES
    ]


def glibc_warning(binary: Path, target: str) -> str | None:
    """A warning when `make binary` recorded that the binary needs a newer glibc than the target has."""
    try:
        version, lib = (binary.parent / f"{binary.name}.glibc").read_text().split()[:2]
        needed = tuple(int(x) for x in version.split("."))
    except (OSError, ValueError):
        return None
    have = TARGET_GLIBC[target]
    if needed <= have:
        return None
    return (f"{binary} needs glibc {version} ({lib}) but {TARGET_SHORT[target]} has {have[0]}.{have[1]}: "
            f"run 'make binary' on a {TARGET_SHORT[target]} host to build one for this DVD")


def detect_target(treeinfo: str, volume_id: str) -> str:
    """'fedora' or 'rhel9' from .treeinfo's release name (or the label when there is none)."""
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(treeinfo)
    except configparser.Error:
        pass
    name = cp.get("release", "name", fallback="") or cp.get("general", "family", fallback="")
    return "fedora" if "fedora" in (name or volume_id).lower() else "rhel9"


def _check_options(opts: Options) -> tuple[answers_mod.Answers | None, Path]:
    if not opts.base.is_file():
        raise SilvereyeError(f"{opts.base}: no such file; give the installer ISO with --base")
    if opts.out.resolve() == opts.base.resolve():
        raise SilvereyeError("--out must differ from --base: the base ISO is read while the new one is written")
    if not opts.out.parent.is_dir():
        raise SilvereyeError(f"{opts.out.parent}: no such directory for --out")
    if opts.default_entry not in ENTRY_CHOICES:
        raise SilvereyeError(f"--default-entry {opts.default_entry!r}: choose one of {', '.join(ENTRY_CHOICES)}")
    if opts.target is not None and opts.target not in kickstart.TARGETS:
        raise SilvereyeError(f"--target {opts.target!r}: choose one of {', '.join(kickstart.TARGETS)}")
    a = answers_mod.load(opts.answers) if opts.answers else None
    binary = opts.binary or default_binary()
    if binary is None:
        raise SilvereyeError("no silvereye binary to put on the disc: run 'make binary' first or pass --binary PATH")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise SilvereyeError(f"{binary}: not an executable file; build it with 'make binary' or pass --binary PATH")
    return a, binary


def build(opts: Options) -> Result:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    a, binary = _check_options(opts)
    xorriso.require("xorriso")
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress, \
            tempfile.TemporaryDirectory(prefix=".silvereye-iso-", dir=opts.out.parent) as tmp_s:
        tmp = Path(tmp_s)
        step = progress.add_task(f"Reading {opts.base.name}", total=None)
        volume_id = xorriso.volume_id(opts.base)
        files = xorriso.files(opts.base)
        menu_files = [p for p in (ISOLINUX_CFG, *GRUB_CFGS) if p in files]
        wanted = menu_files + [p for p in ("/.treeinfo", EFI_IMAGE) if p in files]
        local = {p: tmp / "orig" / p.lstrip("/") for p in wanted}
        for path in local.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        if wanted:
            xorriso.extract(opts.base, [(p, local[p]) for p in wanted])
        texts = {p: local[p].read_text(errors="replace") for p in menu_files}
        if not any("inst.stage2=" in t for t in texts.values()):
            raise SilvereyeError(
                f"{opts.base} is not a RHEL-family or Fedora installer ISO: no boot menu "
                f"({', '.join((ISOLINUX_CFG, *GRUB_CFGS))}) boots a kernel with inst.stage2="
            )
        joliet = xorriso.has_joliet(opts.base)
        treeinfo = local["/.treeinfo"].read_text(errors="replace") if "/.treeinfo" in local else ""
        target = opts.target or detect_target(treeinfo, volume_id)
        progress.update(step, total=1, completed=1)

        step = progress.add_task("Rendering the kickstarts", total=len(kickstart.PROFILES))
        stage = tmp / "stage"
        (stage / "ks").mkdir(parents=True)
        (stage / "silvereye").mkdir()
        base_answers = a or answers_mod.parse({}, source="(built-in defaults)")
        warnings: list[str] = []
        for profile in kickstart.PROFILES:
            r = kickstart.render_checked(base_answers, profile, target, volume_id, ask_root_password=a is None)
            (stage / "ks" / f"{profile}.ks").write_text(r.text)
            warnings += [w for w in r.warnings if w not in warnings and not w.startswith("public_ips")]
            progress.advance(step)
        shutil.copy2(binary, stage / "silvereye" / "silvereye")
        (stage / "silvereye" / "silvereye").chmod(0o755)
        if opts.answers:
            shutil.copy2(opts.answers, stage / "silvereye" / "answers.yaml")

        step = progress.add_task("Adding the boot entries", total=len(menu_files) + (EFI_IMAGE in local))
        entries = entries_for(volume_id)
        default = None if opts.default_entry == "original" else opts.default_entry
        mappings: list[tuple[Path, str]] = [(stage / "ks", "/ks"), (stage / "silvereye", "/silvereye")]
        changed: list[str] = []
        for path in menu_files:
            edit = menus.add_isolinux if path == ISOLINUX_CFG else menus.add_grub
            new = stage / "menus" / path.lstrip("/")
            new.parent.mkdir(parents=True, exist_ok=True)
            new.write_text(edit(texts[path], entries, default, opts.timeout))
            mappings.append((new, path))
            changed.append(path.lstrip("/"))
            progress.advance(step)
        if EFI_IMAGE in local:
            img = local[EFI_IMAGE]
            for inside, text in efiboot.grub_cfgs(img).items():
                if "inst.stage2=" in text:
                    efiboot.replace_file(img, inside, menus.add_grub(text, entries, default, opts.timeout))
                    changed.append(f"images/efiboot.img:{inside[3:]}")
            mappings.append((img, EFI_IMAGE))
            progress.advance(step)

        step = progress.add_task(f"Writing {opts.out.name}", total=100)
        partial = tmp / "out.iso"
        xorriso.rewrite(opts.base, partial, mappings, joliet, lambda pct: progress.update(step, completed=pct))
        progress.update(step, completed=100)
        _check_boot_records(opts.base, partial)
        os.replace(partial, opts.out)
    size = opts.out.stat().st_size / (1 << 20)
    warning = glibc_warning(binary, target)
    return Result(opts.out, size, volume_id, target, changed, warnings + ([warning] if warning else []))


def boot_records(iso: Path) -> list[str]:
    """The parts of the El Torito catalog and system area a remaster must keep."""
    report = xorriso.el_torito(iso)
    keep = []
    for line in report.splitlines():
        m = re.match(r"El Torito boot img :\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if m:
            keep.append("boot img " + " ".join(m.groups()))
        elif line.startswith("El Torito img path") or line.startswith("System area summary"):
            keep.append(re.sub(r"\s+", " ", line.strip()))
    return keep


def _check_boot_records(base: Path, out: Path) -> None:
    before, after = boot_records(base), boot_records(out)
    if before != after:
        missing = [r for r in before if r not in after]
        raise SilvereyeError(
            f"the new ISO lost boot records of {base.name} ({'; '.join(missing) or 'they changed'}); "
            "please report this with the output of 'xorriso -indev BASE -report_el_torito plain'"
        )
