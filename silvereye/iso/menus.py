"""Adding the silvereye entries to an installer's boot menus (isolinux and GRUB).

Each new entry is a clone of the ISO's own install entry (same kernel, initrd
and arguments, so ``inst.stage2=hd:LABEL=...`` still finds the disc) with an
``inst.ks=`` argument added. The original entries are kept untouched; the
menu's default and timeout change only when asked. Pure text in, text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import jinja2

from silvereye.errors import SilvereyeError


@dataclass(frozen=True)
class Entry:
    profile: str  # ciab, frontend, node
    title: str  # "Install silvereye Cloud-in-a-box"
    hotkey_title: str  # the same with isolinux's ^ before the hotkey letter
    ks_path: str  # /ks/ciab.ks on the disc
    label: str  # the disc's label, udev-escaped: used when the entry has no hd:LABEL= to copy

    @property
    def name(self) -> str:
        return f"silvereye-{self.profile}"


# inst.stage2=hd:LABEL=<label>, quoted or not, as written in a boot menu line.
_STAGE2 = re.compile(r"""(?P<q>['"]?)inst\.stage2=hd:LABEL=(?P<label>[^'"\s:]+)(?P=q)""")


def ks_arg(line: str, entry: Entry) -> str:
    """The inst.ks= word for a kernel line, written exactly like the line's own inst.stage2=.

    Copying the label token (and its quoting) from inst.stage2 keeps the two
    identical whatever the boot loader does to them (GRUB 2.06 drops an
    unquoted backslash and doubles a quoted one; isolinux passes it as is),
    so inst.ks finds the disc exactly when the installer itself does.
    """
    m = _STAGE2.search(line)
    if m is None:
        return f"inst.ks=hd:LABEL={entry.label}:{entry.ks_path}"
    q = m.group("q")
    return f"{q}inst.ks=hd:LABEL={m.group('label')}:{entry.ks_path}{q}"


def _template(name: str) -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["grub_quote"] = grub_quote
    return env.from_string(resources.files(__package__).joinpath("templates", name).read_text())


def grub_quote(word: str) -> str:
    """One GRUB script word: single quotes keep backslashes (\\x20 in a label) literal."""
    return "'" + word.replace("'", "'\\''") + "'"


def _is_install(args: str) -> bool:
    return "inst.stage2=" in args and "rd.live.check" not in args


# ---------------------------------------------------------------------------
# isolinux
# ---------------------------------------------------------------------------


def add_isolinux(text: str, entries: list[Entry], default: str | None = None, timeout: int | None = None) -> str:
    """isolinux.cfg with the silvereye entries before the original install entry."""
    lines = text.splitlines()
    blocks = _isolinux_blocks(lines)
    template = next((b for b in blocks if _is_install(" ".join(lines[b[0]:b[1]]))), None)
    if template is None:
        raise SilvereyeError("isolinux.cfg has no install entry (a 'label' whose append has inst.stage2=)")
    start, end = template
    boot = [ln.strip() for ln in lines[start:end] if ln.split()[:1] and ln.split()[0].lower() in ("kernel", "linux", "initrd", "append")]
    if not any(ln.lower().startswith("append") for ln in boot):
        raise SilvereyeError("isolinux.cfg's install entry has no append line to add inst.ks= to")
    tpl = _template("isolinux-entry.cfg.j2")
    new: list[str] = []
    for e in entries:
        boot_lines = [f"{ln} {ks_arg(ln, e)}" if ln.lower().startswith("append") else ln for ln in boot]
        new += tpl.render(name=e.name, menu_label=e.hotkey_title, is_default=(default == e.profile),
                          boot_lines=boot_lines).splitlines()
    new += ["menu separator", ""]

    out = lines[:start] + new + lines[start:]
    if default:
        name = f"silvereye-{default}"
        top = {i + len(new) if i >= start else i for b in blocks for i in range(*b)}
        out = [ln for i, ln in enumerate(out) if not (i in top and ln.strip().lower() == "menu default")]
        out = [f"default {name}" if _is_plain_default(ln) else ln for ln in out]
    if timeout is not None:
        out = _set_line(out, r"\s*timeout\s+\d+\s*$", f"timeout {timeout * 10}")
    return "\n".join(out) + "\n"


def _isolinux_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) line ranges of the top-level 'label' entries (not inside 'menu begin')."""
    blocks: list[tuple[int, int]] = []
    depth, current = 0, None
    for i, ln in enumerate(lines):
        words = ln.lower().split()
        starts = words[:1] == ["label"] or words[:2] in (["menu", "begin"], ["menu", "end"])
        if starts and current is not None:
            blocks.append((current, i))
            current = None
        if words[:2] == ["menu", "begin"]:
            depth += 1
        elif words[:2] == ["menu", "end"]:
            depth = max(0, depth - 1)
        elif words[:1] == ["label"] and depth == 0:
            current = i
    if current is not None:
        blocks.append((current, len(lines)))
    return blocks


def _is_plain_default(line: str) -> bool:
    """A 'default <label>' line (not 'default vesamenu.c32', which names the menu program)."""
    words = line.split()
    return len(words) == 2 and words[0].lower() == "default" and not words[1].endswith(".c32")


def _set_line(lines: list[str], pattern: str, replacement: str) -> list[str]:
    rx = re.compile(pattern, re.I)
    if any(rx.match(ln) for ln in lines):
        return [replacement if rx.match(ln) else ln for ln in lines]
    return [replacement] + lines


# ---------------------------------------------------------------------------
# GRUB
# ---------------------------------------------------------------------------


def add_grub(text: str, entries: list[Entry], default: str | None = None, timeout: int | None = None) -> str:
    """grub.cfg with the silvereye entries before the original install entry."""
    lines = text.splitlines()
    blocks = _grub_blocks(lines)
    template_idx = next((n for n, (s, e) in enumerate(blocks)
                         if lines[s].lstrip().startswith("menuentry") and _is_install(" ".join(lines[s:e]))), None)
    if template_idx is None:
        raise SilvereyeError("grub.cfg has no install entry (a menuentry whose linux line has inst.stage2=)")
    start, end = blocks[template_idx]
    body = [ln.strip() for ln in lines[start + 1:end - 1] if ln.strip()]
    if not any(re.match(r"linux(efi|16)?\s", ln) for ln in body):
        raise SilvereyeError("grub.cfg's install entry has no linux line to add inst.ks= to")
    tpl = _template("grub-entry.cfg.j2")
    new: list[str] = []
    for e in entries:
        new_body = [f"{ln} {ks_arg(ln, e)}" if re.match(r"linux(efi|16)?\s", ln) else ln for ln in body]
        new += tpl.render(title=e.title, id=e.name, body=new_body).splitlines()
    out = lines[:start] + new + lines[start:]

    rx = re.compile(r"""^(\s*set\s+default=)(["']?)([^"'\s]*)\2\s*$""")

    def fix_default(ln: str) -> str:
        m = rx.match(ln)
        if not m:
            return ln
        if default:
            return f'{m.group(1)}"silvereye-{default}"'
        if m.group(3).isdigit() and int(m.group(3)) >= template_idx:
            return f'{m.group(1)}"{int(m.group(3)) + len(entries)}"'  # the old entry moved down
        return ln

    out = [fix_default(ln) for ln in out]
    if default and not any(rx.match(ln) for ln in out):
        out = [f'set default="silvereye-{default}"'] + out
    if timeout is not None:
        out = _set_line(out, r"\s*set\s+timeout=", f"set timeout={timeout}")
    return "\n".join(out) + "\n"


def _grub_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) line ranges of top-level menuentry/submenu blocks."""
    blocks: list[tuple[int, int]] = []
    depth, current = 0, None
    for i, ln in enumerate(lines):
        s = ln.strip()
        if depth == 0 and re.match(r"(menuentry|submenu)\s", s) and s.endswith("{"):
            current = i
        if s.endswith("{"):
            depth += 1
        elif s == "}" or (s.startswith("}") and not s.endswith("{")):
            depth -= 1
            if depth == 0 and current is not None:
                blocks.append((current, i + 1))
                current = None
    return blocks
