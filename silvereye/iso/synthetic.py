"""A small installer ISO with the boot layout of a RHEL 9 DVD, for testing `iso build`.

No distribution ISO can be fetched in CI, so the tests remaster this one. It
has what the remaster touches on a real DVD: isolinux (BIOS) with a
``label linux`` entry, a GRUB EFI binary inside a FAT ``images/efiboot.img``
with its own grub.cfg, ``EFI/BOOT/grub.cfg`` on the ISO tree, ``.treeinfo``,
kernel lines carrying ``inst.stage2=hd:LABEL=<label>``, and the isohybrid
MBR/GPT. Its "installer" is Debian's cloud kernel with a busybox initramfs
(templates/synthetic/init.sh) that finds the disc by label, prints the
``inst.ks`` kickstart to the serial console and powers off.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jinja2

from silvereye.errors import SilvereyeError
from silvereye.images import debian
from silvereye.iso.menus import grub_quote
from silvereye.iso.xorriso import require

DEFAULT_LABEL = "SILVEREYE-SYNTH-9-x86_64"  # the shape of RHEL and Fedora labels
SPACED_LABEL = "SILVEREYE SYNTH 9 x86_64"  # exercises \x20 escaping (isolinux only: see menus.ks_arg)
PRODUCT = "Synthetic Linux 9"
# What the initramfs needs to read a CD on QEMU's IDE controller (BIOS and OVMF alike).
CD_MODULES = ("ata_piix", "sr_mod", "isofs")
ISOLINUX_DIRS = ("/usr/lib/ISOLINUX", "/usr/share/syslinux")
SYSLINUX_MODULE_DIRS = ("/usr/lib/syslinux/modules/bios", "/usr/share/syslinux")
MENU_MODULES = ("ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32")
ISOHYBRID_MBR = ("/usr/lib/ISOLINUX/isohdpfx.bin", "/usr/share/syslinux/isohdpfx.bin")


def _asset(name: str) -> str:
    return resources.files("silvereye.iso").joinpath("templates", "synthetic", name).read_text()


def _render(name: str, **ctx: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters["grub_quote"] = grub_quote
    return env.from_string(_asset(name)).render(**ctx)


def _first(paths: tuple[str, ...], name: str, package: str) -> Path:
    for d in paths:
        p = Path(d) / name if not d.endswith(".bin") else Path(d)
        if p.exists():
            return p
    raise SilvereyeError(f"{name} not found in {', '.join(paths)}; install {package}")


def _run(cmd: list[str], **kw) -> None:
    require(cmd[0])
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SilvereyeError(f"{cmd[0]} failed: {(r.stderr.strip().splitlines() or ['no output'])[-1]}")


def module_order(modules_dir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """The .ko files for ``wanted`` and their dependencies, dependencies first (read from .modinfo)."""
    index = {p.name[:-3].replace("-", "_"): p for p in modules_dir.rglob("*.ko")}
    order: list[Path] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        key = name.replace("-", "_")
        if key not in index:
            return  # built into the kernel
        path = index[key]
        if path in order or key in trail:
            return
        m = re.search(rb"depends=([^\x00]*)\x00", path.read_bytes())
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep, trail + (key,))
        order.append(path)

    for w in wanted:
        if w.replace("-", "_") not in index:
            raise SilvereyeError(f"kernel module {w} not found under {modules_dir}")
        visit(w, ())
    return order


def build_initramfs(kernel_root: Path, busybox: Path, dest: Path) -> Path:
    """A gzip'd newc cpio: busybox, the CD modules, and the synthetic installer as /init."""
    tree = dest.parent / "initramfs-tree"
    if tree.exists():
        shutil.rmtree(tree)
    for d in ("bin", "proc", "sys", "dev", "mnt", "lib/modules"):
        (tree / d).mkdir(parents=True)
    shutil.copy2(busybox, tree / "bin/busybox")
    (tree / "init").write_text(_asset("init.sh"))
    (tree / "init").chmod(0o755)
    names = []
    for ko in module_order(kernel_root / "lib/modules", CD_MODULES):
        shutil.copy2(ko, tree / "lib/modules" / ko.name)
        names.append(ko.name[:-3])
    (tree / "modules.order").write_text("\n".join(names) + "\n")
    paths = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    require("cpio")
    r = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=tree, input="\n".join(paths).encode(),
                       capture_output=True)
    if r.returncode != 0:
        raise SilvereyeError(f"cpio failed: {r.stderr.decode(errors='replace').strip()}")
    dest.write_bytes(gzip.compress(r.stdout, compresslevel=6))
    shutil.rmtree(tree)
    return dest


def _efiboot(tree: Path, work: Path, label: str, grub_cfg: str) -> None:
    bootx64 = work / "BOOTX64.EFI"
    embedded = work / "grub-embedded.cfg"
    embedded.write_text(_render("grub-embedded.cfg.j2", label=label))
    _run(["grub-mkstandalone", "-O", "x86_64-efi", "-o", str(bootx64), f"boot/grub/grub.cfg={embedded}"])
    img = tree / "images/efiboot.img"
    img.parent.mkdir(parents=True, exist_ok=True)
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    _run(["mkfs.vfat", "-n", "EFIBOOT", str(img)])
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    _run(["mmd", "-i", str(img), "::/EFI", "::/EFI/BOOT"], env=env)
    cfg = work / "grub.cfg"
    cfg.write_text(grub_cfg)
    _run(["mcopy", "-i", str(img), str(bootx64), str(cfg), "::/EFI/BOOT/"], env=env)
    (tree / "EFI/BOOT").mkdir(parents=True)
    shutil.copy2(bootx64, tree / "EFI/BOOT/BOOTX64.EFI")
    shutil.copy2(cfg, tree / "EFI/BOOT/grub.cfg")


def build_base_iso(out: Path, work: Path, label: str = DEFAULT_LABEL) -> Path:
    """Write the synthetic installer ISO to ``out`` (``work`` holds the intermediate files)."""
    from silvereye.kickstart import udev_escape

    work.mkdir(parents=True, exist_ok=True)
    tree = work / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    kernel_root = debian.fetch_and_extract("linux-image-cloud-amd64")
    busybox = debian.fetch_and_extract("busybox-static") / "bin/busybox"
    vmlinuz = Path(sorted(glob.glob(str(kernel_root / "boot/vmlinuz-*")))[-1])
    initrd = build_initramfs(kernel_root, busybox, work / "initrd.img")

    ctx = {"label": label, "label_escaped": udev_escape(label), "product": PRODUCT}
    iso_dir = tree / "isolinux"
    iso_dir.mkdir(parents=True)
    shutil.copy2(_first(ISOLINUX_DIRS, "isolinux.bin", "isolinux"), iso_dir / "isolinux.bin")
    for mod in MENU_MODULES:
        shutil.copy2(_first(SYSLINUX_MODULE_DIRS, mod, "syslinux-common"), iso_dir / mod)
    (iso_dir / "isolinux.cfg").write_text(_render("isolinux.cfg.j2", **ctx))
    pxe = tree / "images/pxeboot"
    pxe.mkdir(parents=True)
    for d in (iso_dir, pxe):
        shutil.copy2(vmlinuz, d / "vmlinuz")
        shutil.copy2(initrd, d / "initrd.img")
    _efiboot(tree, work, label, _render("grub.cfg.j2", **ctx))
    (tree / ".treeinfo").write_text(_render("treeinfo.j2", **ctx))

    mbr = _first(ISOHYBRID_MBR, "isohdpfx.bin", "isolinux")
    _run([
        "xorriso", "-as", "mkisofs", "-o", str(out), "-V", label, "-R", "-J", "-joliet-long",
        "-isohybrid-mbr", str(mbr),
        "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
        "-eltorito-alt-boot", "-e", "images/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
        str(tree),
    ])
    return out
