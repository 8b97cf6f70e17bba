"""``silvereye preflight``: options in, reports out, an exit status back to the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from silvereye import config as config_mod
from silvereye.errors import SilvereyeError
from silvereye.preflight.dict_host import load_facts
from silvereye.preflight.model import Role
from silvereye.preflight.report import JsonReporter, TextReporter
from silvereye.preflight.runner import Options, parse_ignore, preflight


def run(
    *,
    role: Role = Role.ciab,
    config: Path | None = None,
    as_json: bool = False,
    ignore: list[str] | None = None,
    fix: bool = False,
    hosts: list[str] | None = None,
    ssh_key: Path | None = None,
    interface: str | None = None,
    facts: Path | None = None,
) -> int:
    """Check the local host, or each of ``hosts`` over SSH; 1 when a check failed or a host could not be checked."""
    if ssh_key is not None and not ssh_key.is_file():
        raise SilvereyeError(f"--ssh-key {ssh_key}: no such file")
    opts = Options(
        cfg=config_mod.load(config),
        role=role,
        ignore=parse_ignore(ignore or []),
        fix=fix,
        hosts=list(hosts or []),
        ssh_key=ssh_key,
        interface=interface,
        facts=load_facts(facts) if facts else None,
    )
    reporter = JsonReporter(sys.stdout) if as_json else TextReporter(sys.stdout, multiple_hosts=len(opts.hosts) > 1)
    reports = preflight(opts, reporter)
    return 1 if any(r.failed for r in reports) else 0
