"""The silvereye DVD, end to end: build the single binary, remaster an installer ISO with it,
boot the result in QEMU (BIOS through isolinux, UEFI through OVMF and GRUB) and read on the
serial console that the installer got the Cloud-in-a-box kickstart from the disc.

The base ISO is synthetic (no distribution ISO can be fetched here) but has a RHEL 9 DVD's
boot layout; its "installer" prints the inst.ks file it finds, then powers off.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from silvereye import kickstart
from silvereye.iso import efiboot, remaster, synthetic, xorriso

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
DIST = ROOT / "dist" / "silvereye"
ANSWERS = ROOT / "tests" / "fixtures" / "answers" / "static.yaml"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# No Python on the PATH and no venv: what a freshly installed host has.
BARE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def _newest_source() -> float:
    files = [p for p in (ROOT / "silvereye").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [ROOT / "tools" / n for n in ("silvereye.spec", "pack-binary", "silvereye-launcher.sh", "build-binary")]
    return max(p.stat().st_mtime for p in files)


@pytest.fixture(scope="module")
def binary():
    """dist/silvereye, rebuilt (what `make binary` runs) when older than the sources."""
    if not DIST.exists() or DIST.stat().st_mtime < _newest_source():
        r = subprocess.run(["tools/build-binary", sys.executable], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return DIST


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("isokick-iso")


@pytest.fixture(scope="module")
def base_iso(work):
    return synthetic.build_base_iso(work / "base.iso", work / "base-work")


@pytest.fixture(scope="module")
def dvd(binary, base_iso, work):
    """The silvereye DVD, built by the single binary itself, Cloud-in-a-box booting by default."""
    out = work / "silvereye.iso"
    r = subprocess.run([str(binary), "iso", "build", "--base", str(base_iso), "--out", str(out), "--answers", str(ANSWERS),
                        "--default-entry", "ciab", "--timeout", "1"], capture_output=True, text=True, env=BARE_ENV, cwd=work)
    assert r.returncode == 0, r.stderr
    assert "entries in isolinux/isolinux.cfg, EFI/BOOT/grub.cfg, images/efiboot.img:EFI/BOOT/grub.cfg" in r.stdout
    return out


def extract(iso: Path, inside: str, dest: Path) -> Path:
    xorriso.extract(iso, [(inside, dest)])
    return dest


def boot(iso: Path, work: Path, uefi: bool) -> tuple[str, float]:
    """Boot the ISO from the CD-ROM under TCG; the serial console's text and the seconds it took."""
    log = work / ("uefi.log" if uefi else "bios.log")
    cmd = [shutil.which("qemu-system-x86_64") or "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "512",
           "-display", "none", "-monitor", "none", "-serial", f"file:{log}", "-no-reboot",
           "-cdrom", str(iso), "-boot", "d"]
    if uefi:
        vars_copy = work / "OVMF_VARS.fd"
        shutil.copy(OVMF_VARS, vars_copy)
        cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    start = time.monotonic()
    subprocess.run(cmd, timeout=300, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.monotonic() - start
    return log.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n"), elapsed


def assert_installer_got_the_ciab_kickstart(console: str, label_token: str, disc_ks: str) -> None:
    cmdline = re.search(r"SYNTH: cmdline: (.*)", console).group(1).split()
    assert f"inst.stage2=hd:LABEL={label_token}" in cmdline
    assert f"inst.ks=hd:LABEL={label_token}:/ks/ciab.ks" in cmdline
    assert re.search(r"SYNTH: stage2 disc '.*' is /dev/sr0", console)
    assert "SYNTH: kickstart /ks/ciab.ks found on /dev/sr0" in console
    printed = console.split("SYNTH-KS-BEGIN\n", 1)[1].split("SYNTH-KS-END", 1)[0]
    assert printed == disc_ks
    assert printed.startswith("# silvereye Cloud-in-a-box kickstart")
    assert "silvereye install --cloud-in-a-box --yes --answers /etc/silvereye/answers.yaml" in printed
    assert "SYNTH: done" in console


def test_binary_runs_without_python_or_venv(binary, tmp_path):
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=BARE_ENV, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("silvereye ")
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, env=BARE_ENV, cwd=tmp_path)
    for command in ("kickstart", "iso", "config"):
        assert command in r.stdout
    r = subprocess.run([str(binary), "kickstart", "render", "--profile", "ciab", "--answers", str(ANSWERS)],
                       capture_output=True, text=True, env=BARE_ENV, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for handler in ("RHEL9", "DEVEL"):
        assert kickstart.validate(r.stdout, handler) == []
    r = subprocess.run([str(binary), "kickstart", "render", "--answers", "/nonexistent.yaml"],
                       capture_output=True, text=True, env=BARE_ENV, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("error: answers /nonexistent.yaml: file not found")


def test_binary_unpacks_once_into_its_cache(binary, tmp_path):
    env = {**BARE_ENV, "SILVEREYE_RUNTIME_DIR": str(tmp_path / "rt")}
    first = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    (runtime,) = (tmp_path / "rt").iterdir()
    assert (runtime / ".complete").exists() and (runtime / "silvereye" / "silvereye").exists()
    stamp = runtime.stat().st_mtime_ns
    again = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=env)
    assert again.stdout == first.stdout
    assert runtime.stat().st_mtime_ns == stamp and len(list((tmp_path / "rt").iterdir())) == 1


def test_boot_catalog_and_hybrid_mbr_survive(base_iso, dvd):
    records = remaster.boot_records(dvd)
    assert records == remaster.boot_records(base_iso)
    report = xorriso.el_torito(dvd)
    assert re.search(r"El Torito boot img :\s+1\s+BIOS\s+y\s+none", report)
    assert re.search(r"El Torito boot img :\s+2\s+UEFI\s+y\s+none", report)
    assert "El Torito img path :   1  /isolinux/isolinux.bin" in report
    assert "El Torito img path :   2  /images/efiboot.img" in report
    assert re.search(r"System area summary: MBR isohybrid .*GPT", report)


def test_disc_carries_kickstarts_binary_answers_and_efiboot_menu(binary, dvd, work):
    files = xorriso.files(dvd)
    assert {"/ks/ciab.ks", "/ks/frontend.ks", "/ks/node.ks", "/silvereye/silvereye", "/silvereye/answers.yaml"} <= files
    on_disc = extract(dvd, "/silvereye/silvereye", work / "disc-binary")
    assert hashlib.sha256(on_disc.read_bytes()).digest() == hashlib.sha256(binary.read_bytes()).digest()
    assert extract(dvd, "/silvereye/answers.yaml", work / "disc-answers.yaml").read_text() == ANSWERS.read_text()
    for profile in kickstart.PROFILES:
        ks = extract(dvd, f"/ks/{profile}.ks", work / f"{profile}.ks").read_text()
        assert kickstart.validate(ks, "RHEL9") == []
        assert f"/dev/disk/by-label/{synthetic.DEFAULT_LABEL}" in ks
    img = extract(dvd, "/images/efiboot.img", work / "efiboot.img")
    cfg = efiboot.grub_cfgs(img)["::/EFI/BOOT/grub.cfg"]
    assert 'set default="silvereye-ciab"' in cfg
    assert f"inst.ks=hd:LABEL={synthetic.DEFAULT_LABEL}:/ks/node.ks" in cfg


def test_bios_boot_reads_the_ciab_kickstart_from_the_disc(dvd, work):
    console, seconds = boot(dvd, work, uefi=False)
    disc_ks = extract(dvd, "/ks/ciab.ks", work / "ciab-bios.ks").read_text()
    assert_installer_got_the_ciab_kickstart(console, synthetic.DEFAULT_LABEL, disc_ks)
    print(f"BIOS boot to kickstart printed: {seconds:.1f} s")


@pytest.mark.skipif(not (OVMF_CODE.exists() and OVMF_VARS.exists()), reason="OVMF (Debian package ovmf) is not installed")
def test_uefi_boot_reads_the_ciab_kickstart_from_the_disc(dvd, work):
    console, seconds = boot(dvd, work, uefi=True)
    disc_ks = extract(dvd, "/ks/ciab.ks", work / "ciab-uefi.ks").read_text()
    assert "synthetic GRUB: menu" in console
    assert_installer_got_the_ciab_kickstart(console, synthetic.DEFAULT_LABEL, disc_ks)
    print(f"UEFI boot to kickstart printed: {seconds:.1f} s")


def test_a_label_with_spaces_travels_escaped(binary, work):
    base = synthetic.build_base_iso(work / "spaced.iso", work / "spaced-work", label=synthetic.SPACED_LABEL)
    out = work / "spaced-silvereye.iso"
    r = remaster.build(remaster.Options(base, out, ANSWERS, binary, None, "ciab", 1))
    assert r.volume_id == synthetic.SPACED_LABEL
    console, _ = boot(out, work, uefi=False)
    disc_ks = extract(out, "/ks/ciab.ks", work / "ciab-spaced.ks").read_text()
    assert r"/dev/disk/by-label/SILVEREYE\x20SYNTH\x209\x20x86_64" in disc_ks
    assert_installer_got_the_ciab_kickstart(console, r"SILVEREYE\x20SYNTH\x209\x20x86_64", disc_ks)
    assert "found on /dev/sr0 labelled 'SILVEREYE SYNTH 9 x86_64'" in console


def test_without_answers_the_installer_asks_for_the_root_password(binary, base_iso, work):
    out = work / "no-answers.iso"
    r = subprocess.run([str(binary), "iso", "build", "--base", str(base_iso), "--out", str(out)],
                       capture_output=True, text=True, env=BARE_ENV, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "warning: network: DHCP" in r.stderr
    ks = extract(out, "/ks/ciab.ks", work / "ciab-no-answers.ks").read_text()
    assert "rootpw" not in ks.replace("# No rootpw on purpose", "")
    assert kickstart.validate(ks, "RHEL9") == []
    iso_cfg = extract(out, "/isolinux/isolinux.cfg", work / "no-answers-isolinux.cfg").read_text()
    assert "timeout 600" in iso_cfg  # the original menu's default and timeout are kept
    assert re.search(r"label check\n(.*\n){1}\s*menu default", iso_cfg)
    assert os.path.getsize(out) > os.path.getsize(base_iso)
