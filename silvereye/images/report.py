"""What ``silvereye images ...`` prints: progress while building, tables after.

Kept out of cli.py so the CLI stays one thin function per command, and out of
the builders so they stay free of terminal concerns.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from silvereye.images import catalog, tiny


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def show_tiny(build: Callable[[Callable[[str], None]], tiny.TinyImage], *, as_json: bool) -> tiny.TinyImage:
    """Run ``build`` under a spinner naming each step; print the result unless JSON is wanted."""
    err = Console(stderr=True)
    with err.status("building the tiny image", spinner="dots") as status:
        image = build(lambda step: status.update(f"tiny image: {step}"))
    if as_json:
        return image
    out = Console()
    m = image.manifest
    state = "found in the cache" if image.cached else f"built in {m['build_seconds']:.1f} s"
    out.print(f"tiny image {state}: {image.directory}")
    table = Table("part", "file", "size", "sha256")
    for part in ("kernel", "ramdisk", "root"):
        entry = m[part]
        table.add_row(f"{part} ({entry['kind']})", entry["file"], _size(entry["size"]), entry["sha256"][:16] + "...")
    out.print(table)
    total = sum(m[p]["size"] for p in ("kernel", "ramdisk", "root"))
    out.print(f"total {_size(total)}; kernel {m['kernel_release']}; command line: {m['kernel_cmdline']}")
    return image


def list_images(*, as_json: bool) -> None:
    built = tiny.read_manifest(tiny.DEFAULT_OUT)
    rows = [
        {
            "name": e.name,
            "description": e.description,
            "format": e.format,
            "firmware": e.firmware,
            "url": e.url,
            "checksum": e.checksum or e.checksum_url,
            "login_user": e.login_user,
        }
        for e in catalog.entries()
    ]
    tiny_row = {
        "name": "tiny",
        "description": "silvereye's tiny test image (images build-tiny)",
        "format": "kernel+ramdisk",
        "firmware": "direct kernel boot",
        "built": bool(built),
        "directory": str(tiny.DEFAULT_OUT) if built else None,
    }
    if as_json:
        print(json.dumps({"tiny": tiny_row, "catalog": rows}, indent=2))
        return
    out = Console()
    table = Table("name", "description", "format", "login")
    table.add_row("tiny", tiny_row["description"] + (" [built]" if built else " [not built]"), "kernel+ramdisk", "root")
    for r in rows:
        table.add_row(r["name"], r["description"], r["format"], r["login_user"])
    out.print(table)
