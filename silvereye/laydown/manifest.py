"""The record of everything an installation put on the host.

``silvereye install`` writes one entry per thing it creates or changes
(files with their sha256 and whether they existed before, with a copy of the
original when they did; directories; sections of the user's ~/.aws files;
lines in known_hosts; packages; the libvirt network, the nftables table,
the service; the nodes added later). The manifest is saved after every step,
so even an install that stopped half-way can be taken down again, and
``silvereye uninstall`` walks it backwards to leave the host as it was.

An entry is identified by its kind and key (a path, a name): recording the
same thing twice updates it but keeps what was known the first time (that a
file did not exist before silvereye wrote it stays true on every re-run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from silvereye import __version__
from silvereye.errors import SilvereyeError

FORMAT = 1

# Fields of an entry that the first recording decides for good.
STICKY = ("existed", "backup", "before", "preexisting")


class ManifestError(SilvereyeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except OSError:
        return None


def entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    kind = entry["kind"]
    if kind in ("file", "dir"):
        return kind, entry["path"]
    if kind == "ini-section":
        return kind, f"{entry['path']}\0{entry['section']}"
    if kind == "line":
        return kind, f"{entry['path']}\0{entry['line']}"
    return kind, entry["name"]


@dataclass
class Manifest:
    path: Path
    role: str = ""
    layout: dict[str, str] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""
    updated: str = ""
    version: str = __version__

    # -- persistence ------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> "Manifest | None":
        """The manifest at ``path``, or None when there is none."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ManifestError(f"the install manifest {path} cannot be read ({e}); move it aside to start afresh") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ManifestError(f"the install manifest {path} is not one this version of silvereye understands")
        return cls(Path(path), data.get("role", ""), data.get("layout", {}), list(data.get("entries", [])),
                   data.get("created", ""), data.get("updated", ""), data.get("version", ""))

    def save(self) -> None:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.created = self.created or now
        self.updated = now
        doc = {"format": FORMAT, "version": __version__, "role": self.role, "created": self.created,
               "updated": self.updated, "layout": self.layout, "entries": self.entries}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-")
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    # -- entries ------------------------------------------------------------------
    def find(self, kind: str, key: str) -> dict[str, Any] | None:
        for e in self.entries:
            if entry_key(e) == (kind, key):
                return e
        return None

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add an entry, or update the one with the same key keeping its first-known facts."""
        key = entry_key(entry)
        for i, old in enumerate(self.entries):
            if entry_key(old) == key:
                merged = {**old, **entry}
                for k in STICKY:
                    if k in old:
                        merged[k] = old[k]
                    else:
                        merged.pop(k, None)
                self.entries[i] = merged
                return merged
        self.entries.append(dict(entry))
        return entry

    def forget(self, kind: str, key: str) -> None:
        self.entries = [e for e in self.entries if entry_key(e) != (kind, key)]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["kind"] == kind]

    def newest_first(self) -> Iterator[dict[str, Any]]:
        """Entries in the order teardown undoes them."""
        return iter(list(reversed(self.entries)))
