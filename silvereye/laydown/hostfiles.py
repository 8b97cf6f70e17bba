"""Host files from Jinja2 templates, each write recorded in the manifest (and undone by teardown).

Writing is idempotent: a file whose content is already right is left alone
and reported as unchanged. A file that existed before silvereye first wrote
it is copied into the backup directory once, so teardown can put the
original back. Files are replaced atomically (a temporary file in the same
directory, fsynced, renamed), except where the target is a mount point
(a bind-mounted file in a container), which is rewritten in place.

The user's own files (~/.aws/config, ~/.aws/credentials, known_hosts) are
not ours to replace: only one section or one line of them is, and only that
is added, updated or taken out again.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from silvereye.laydown.manifest import Manifest, sha256_bytes

TEMPLATE_PACKAGE = "silvereye"
TEMPLATE_DIR = "templates"


def _load_template(name: str) -> str:
    return resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR, name).read_text()


def _yaml_scalar(value: Any) -> str:
    """A value as YAML text on one line (flow style for lists and mappings)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml"] = _yaml_scalar
    return env


_ENV: jinja2.Environment | None = None


def render(template: str, **values: Any) -> str:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV.get_template(template).render(**values)


# ---------------------------------------------------------------------------
# Whole files and directories
# ---------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno != errno.EBUSY:  # EBUSY: a bind-mounted file; write it in place
            raise
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)


def ensure_dir(manifest: Manifest, path: Path, step: str, mode: int = 0o755) -> list[str]:
    """Create ``path`` and its missing parents, each recorded; [] when it exists."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=mode)
        os.chmod(d, mode)
        manifest.record({"kind": "dir", "path": str(d), "step": step, "existed": False})
    if not missing and manifest.find("dir", str(path)) is None:
        try:
            preexisting = sorted(os.listdir(path))
        except OSError:
            preexisting = []
        manifest.record({"kind": "dir", "path": str(path), "step": step, "existed": True, "preexisting": preexisting})
    return [f"created {missing[0]}"] if missing else []


def _backup(manifest: Manifest, backup_dir: Path, path: Path, data: bytes, mode: int) -> str:
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = sha256_bytes(str(path).encode())[:16] + "-" + path.name
    target = backup_dir / name
    _write_atomic(target, data, mode & 0o777)
    return str(target)


def place_file(manifest: Manifest, backup_dir: Path, path: Path, text: str, step: str, mode: int = 0o644) -> list[str]:
    """Make ``path`` hold ``text`` with ``mode``; the changes made ([] when it already did)."""
    path = Path(path)
    data = text.encode()
    changes = ensure_dir(manifest, path.parent, step)
    try:
        current = path.read_bytes()
        current_mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        current, current_mode = None, None
    entry = manifest.find("file", str(path))
    new_entry = {"kind": "file", "path": str(path), "sha256": sha256_bytes(data), "mode": oct(mode), "step": step}
    if entry is None:
        new_entry["existed"] = current is not None
        if current is not None:
            new_entry["backup"] = _backup(manifest, backup_dir, path, current, current_mode or 0o644)
            new_entry["backup_mode"] = oct(current_mode or 0o644)
    if current == data and current_mode == mode:
        manifest.record(new_entry)
        return changes
    edited = entry is not None and current is not None and sha256_bytes(current) != entry.get("sha256")
    _write_atomic(path, data, mode)
    manifest.record(new_entry)
    if current is None:
        return changes + [f"wrote {path}"]
    if current == data:
        return changes + [f"set the mode of {path} to {mode:o}"]
    return changes + [f"updated {path}" + (" (it had been edited since silvereye wrote it)" if edited else "")]


def record_change(manifest: Manifest, backup_dir: Path, path: Path, before: bytes | None, step: str) -> bool:
    """Record a file someone else (preflight's fixes) changed: ``before`` is what it held; True if it changed."""
    path = Path(path)
    try:
        after = path.read_bytes()
    except FileNotFoundError:
        after = None
    if after == before or after is None:
        return False
    entry = {"kind": "file", "path": str(path), "sha256": sha256_bytes(after), "mode": oct(path.stat().st_mode & 0o777),
             "step": step}
    if manifest.find("file", str(path)) is None:
        entry["existed"] = before is not None
        if before is not None:
            entry["backup"] = _backup(manifest, backup_dir, path, before, path.stat().st_mode & 0o777)
            entry["backup_mode"] = oct(path.stat().st_mode & 0o777)
    manifest.record(entry)
    return True


# ---------------------------------------------------------------------------
# A section of an INI file (~/.aws/config) and a line of a file (known_hosts)
# ---------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def _section_span(lines: list[str], section: str) -> tuple[int, int] | None:
    """[start, end) line indices of ``[section]`` and its body, or None."""
    start = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m and start is not None:
            end = i
            while end > start + 1 and not lines[end - 1].strip():
                end -= 1  # blank lines before the next header belong to no one
            return start, end
        if m and m.group(1).strip() == section:
            start = i
    if start is None:
        return None
    end = len(lines)
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end


def set_ini_section(text: str, section: str, body: str) -> str:
    """``text`` with ``[section]`` holding exactly ``body``; everything else (comments too) untouched."""
    lines = text.splitlines()
    block = [f"[{section}]"] + body.rstrip("\n").splitlines()
    span = _section_span(lines, section)
    if span is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += block
    else:
        lines[span[0]:span[1]] = block
    return "\n".join(lines) + "\n"


def remove_ini_section(text: str, section: str) -> str:
    lines = text.splitlines()
    span = _section_span(lines, section)
    if span is None:
        return text
    start, end = span
    while end < len(lines) and not lines[end].strip():
        end += 1
    del lines[start:end]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + ("\n" if lines else "")


def _text_of(path: Path) -> tuple[str, bool]:
    """A file's text and whether it exists ('' when it does not)."""
    try:
        return path.read_text(), True
    except FileNotFoundError:
        return "", False


def place_ini_section(manifest: Manifest, path: Path, section: str, body: str, step: str, mode: int = 0o600) -> list[str]:
    path = Path(path)
    changes = ensure_dir(manifest, path.parent, step, mode=0o700)
    current, existed = _text_of(path)
    updated = set_ini_section(current, section, body)
    entry = {"kind": "ini-section", "path": str(path), "section": section, "step": step, "existed": existed}
    if manifest.find("ini-section", f"{path}\0{section}") is None:
        entry["before"] = _section_text(current, section)
    if updated == current:
        manifest.record(entry)
        return changes
    _write_atomic(path, updated.encode(), (path.stat().st_mode & 0o777) if existed else mode)
    manifest.record(entry)
    return changes + [f"{'updated' if existed else 'wrote'} [{section}] in {path}"]


def _section_text(text: str, section: str) -> str | None:
    lines = text.splitlines()
    span = _section_span(lines, section)
    return None if span is None else "\n".join(lines[span[0] + 1:span[1]]) + "\n"


def add_line(manifest: Manifest, path: Path, line: str, step: str, mode: int = 0o600, **extra: Any) -> list[str]:
    """Append ``line`` to ``path`` unless it is there; recorded so that teardown takes it out."""
    path = Path(path)
    changes = ensure_dir(manifest, path.parent, step, mode=0o700)
    current, existed = _text_of(path)
    entry = {"kind": "line", "path": str(path), "line": line, "step": step, **extra}
    present = line in current.splitlines()
    if manifest.find("line", f"{path}\0{line}") is None:
        entry["existed"] = present
    manifest.record(entry)
    if present:
        return changes
    text = current + ("" if not current or current.endswith("\n") else "\n") + line + "\n"
    _write_atomic(path, text.encode(), (path.stat().st_mode & 0o777) if existed else mode)
    return changes + [f"added a line to {path}"]


def remove_line(path: Path, line: str) -> bool:
    """Take ``line`` out of ``path``; False when it was not there."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return False
    kept = [ln for ln in lines if ln != line]
    if len(kept) == len(lines):
        return False
    _write_atomic(path, ("\n".join(kept) + "\n" if kept else "").encode(), path.stat().st_mode & 0o777)
    return True
