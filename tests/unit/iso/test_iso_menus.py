"""Boot menus of a RHEL 9 DVD gain the silvereye entries; nothing of the original is lost."""

import re

import pytest

from silvereye.errors import SilvereyeError
from silvereye.iso import menus
from silvereye.iso.remaster import entries_for

LABEL = "Rocky-9-4-x86_64-dvd"

# Shaped like a RHEL 9 DVD's isolinux/isolinux.cfg (abridged).
ISOLINUX = f"""default vesamenu.c32
timeout 600

display boot.msg
menu clear
menu title Rocky Linux 9.4
menu separator # insert an empty line

label linux
  menu label ^Install Rocky Linux 9.4
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL={LABEL} quiet

label check
  menu label Test this ^media & install Rocky Linux 9.4
  menu default
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL={LABEL} rd.live.check quiet

menu separator # insert an empty line

menu begin ^Troubleshooting
  menu title Troubleshooting Rocky Linux 9.4

label basic
  menu indent count 5
  menu label Install using ^basic graphics mode
  menu default
  text help
\tTry this option out if you're having trouble installing.
  endtext
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL={LABEL} nomodeset quiet

label returntomain
  menu label Return to ^main menu
  menu exit

menu end
"""

# Shaped like a RHEL 9 DVD's EFI/BOOT/grub.cfg (abridged).
GRUB = f"""set default="1"

function load_video {{
  insmod efi_gop
  insmod all_video
}}

load_video
set gfxpayload=keep
set timeout=60
search --no-floppy --set=root -l '{LABEL}'

menuentry 'Install Rocky Linux 9.4' --class fedora --class gnu-linux --class gnu --class os {{
\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={LABEL} quiet
\tinitrdefi /images/pxeboot/initrd.img
}}
menuentry 'Test this media & install Rocky Linux 9.4' --class fedora --class gnu-linux --class gnu --class os {{
\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={LABEL} rd.live.check quiet
\tinitrdefi /images/pxeboot/initrd.img
}}
submenu 'Troubleshooting -->' {{
\tmenuentry 'Install Rocky Linux 9.4 in basic graphics mode' --class fedora --class gnu-linux --class gnu --class os {{
\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={LABEL} nomodeset quiet
\t\tinitrdefi /images/pxeboot/initrd.img
\t}}
}}
"""

ENTRIES = entries_for(LABEL)


def labels(cfg: str) -> list[str]:
    return re.findall(r"^label (\S+)", cfg, re.M)


def grub_titles(cfg: str) -> list[str]:
    """Top-level menu items in order, as GRUB numbers them for set default=N."""
    return re.findall(r"^(?:menuentry|submenu) '([^']*)'", cfg, re.M)


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(line in it for line in small)


def test_isolinux_entries_come_first_and_the_original_menu_stays():
    out = menus.add_isolinux(ISOLINUX, ENTRIES)
    assert labels(out) == ["silvereye-ciab", "silvereye-frontend", "silvereye-node", "linux", "check", "basic", "returntomain"]
    assert is_subsequence(ISOLINUX.splitlines(), out.splitlines())
    assert "  menu label Install silvereye ^Cloud-in-a-box" in out
    assert f"append initrd=initrd.img inst.stage2=hd:LABEL={LABEL} quiet inst.ks=hd:LABEL={LABEL}:/ks/node.ks" in out
    assert out.count("menu default") == 2  # untouched: the original 'check' and the submenu's own


def test_isolinux_default_entry_and_timeout():
    out = menus.add_isolinux(ISOLINUX, ENTRIES, default="ciab", timeout=5)
    blocks = out.split("\nlabel ")
    with_default = [b.split()[0] for b in blocks if "menu default" in b]
    assert with_default == ["silvereye-ciab", "basic"]  # the submenu keeps its own default
    assert "\ntimeout 50\n" in out and "timeout 600" not in out


def test_isolinux_without_a_menu_program_names_the_default_label():
    plain = "default linux\nprompt 1\nlabel linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=X\n"
    out = menus.add_isolinux(plain, ENTRIES, default="frontend")
    assert out.startswith("default silvereye-frontend\n")
    assert "timeout" not in out


def test_isolinux_keeps_an_escaped_label_as_written():
    cfg = ISOLINUX.replace(LABEL, r"Fedora\x2041\x20x86_64")
    out = menus.add_isolinux(cfg, ENTRIES)
    assert r"inst.ks=hd:LABEL=Fedora\x2041\x20x86_64:/ks/ciab.ks" in out


def test_grub_entries_and_a_numeric_default_that_still_points_at_the_same_entry():
    out = menus.add_grub(GRUB, ENTRIES)
    titles = grub_titles(out)
    assert titles[:4] == ["Install silvereye Cloud-in-a-box", "Install silvereye Frontend",
                          "Install silvereye Node controller", "Install Rocky Linux 9.4"]
    old_default = grub_titles(GRUB)[1]
    new_default = int(re.search(r'set default="(\d+)"', out).group(1))
    assert titles[new_default] == old_default
    assert is_subsequence([ln for ln in GRUB.splitlines() if "set default" not in ln], out.splitlines())
    assert (f"\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={LABEL} quiet "
            f"inst.ks=hd:LABEL={LABEL}:/ks/ciab.ks") in out
    assert "\tinitrdefi /images/pxeboot/initrd.img" in out


def test_grub_default_by_id_and_timeout():
    out = menus.add_grub(GRUB, ENTRIES, default="node", timeout=3)
    assert 'set default="silvereye-node"' in out
    assert "--id silvereye-node " in out
    assert "set timeout=3" in out and "set timeout=60" not in out


def test_grub_quoted_stage2_gives_an_identically_quoted_ks():
    cfg = GRUB.replace(f"inst.stage2=hd:LABEL={LABEL}", r"'inst.stage2=hd:LABEL=My\x20DVD'")
    out = menus.add_grub(cfg, ENTRIES)
    assert r"'inst.stage2=hd:LABEL=My\x20DVD' quiet 'inst.ks=hd:LABEL=My\x20DVD:/ks/ciab.ks'" in out


def test_grub_titles_are_quoted():
    assert menus.grub_quote("it's") == "'it'\\''s'"


@pytest.mark.parametrize("edit,cfg", [(menus.add_isolinux, "default vesamenu.c32\nlabel local\n  localboot 0xffff\n"),
                                      (menus.add_grub, "menuentry 'Windows' {\n\tchainloader +1\n}\n")])
def test_a_menu_without_an_install_entry_is_refused(edit, cfg):
    with pytest.raises(SilvereyeError, match="no install entry"):
        edit(cfg, ENTRIES)


def test_label_copied_from_the_entry_else_the_escaped_volume_id():
    cfg = "label linux\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=x\n"
    assert "inst.ks=hd:LABEL=x:/ks/ciab.ks" in menus.add_isolinux(cfg, entries_for("My DVD"))
    no_label = menus.ks_arg("linux /vmlinuz inst.stage2=cdrom", entries_for("My DVD")[0])
    assert no_label == r"inst.ks=hd:LABEL=My\x20DVD:/ks/ciab.ks"
