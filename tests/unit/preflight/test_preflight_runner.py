"""The runner and the report: role lists, --ignore, --fix, unreachable hosts, text and JSON."""

from __future__ import annotations

import copy
import functools
import io
import json
import re

import pytest

from silvereye import config
from silvereye.errors import SilvereyeError
from silvereye.preflight.dict_host import DictHost
from silvereye.preflight.host import HostError
from silvereye.preflight.kvm_probe import probe_kvm
from silvereye.preflight.model import REGISTRY, Status
from silvereye.preflight.report import JsonReporter, TextReporter
from silvereye.preflight.roles import Role
from silvereye.preflight.runner import Options, checks_for, parse_ignore, preflight


def test_role_lists_are_built_from_the_registry():
    ciab = {c.id for c in checks_for(Role.ciab)}
    node = {c.id for c in checks_for(Role.node)}
    frontend = {c.id for c in checks_for(Role.frontend)}
    assert len(ciab) >= 30
    assert ciab == {c.id for c in REGISTRY}
    assert "api-ports-free" in frontend and "api-ports-free" not in node
    assert "kvm-usable" in node and "kvm-usable" not in frontend
    assert {"root", "memory", "hostname-resolves"} <= node & frontend


def test_ids_are_kebab_case_and_titles_read_after_checking_for():
    for c in REGISTRY:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c.id), c.id
        assert c.title and not c.title.lower().startswith("checking"), c.title


def test_ignore_is_case_insensitive_takes_commas_and_all_and_refuses_unknown_ids():
    assert parse_ignore(["Memory,API-ports-free", "root"]) == {"memory", "api-ports-free", "root"}
    assert parse_ignore(["ALL"]) == {"all"}
    with pytest.raises(SilvereyeError, match="no check is called memroy"):
        parse_ignore(["memroy"])


def sick(healthy):
    facts = copy.deepcopy(healthy)
    facts["files"]["/proc/meminfo"] = "MemTotal: 1048576 kB\n"
    return facts


# The facts' cached verdict answers the probe; nothing boots in unit tests.
PROBER = functools.partial(probe_kvm, kernel_package="linux-image-6.1.0-56-cloud-amd64")


def run(facts_by_target, *, ignore=(), fix=False, role=Role.ciab, as_json=False, host_cls=DictHost):
    """Run preflight over hosts made of facts (None is the local host); (reports, printed text)."""
    out = io.StringIO()
    opts = Options(
        cfg=config.from_dict({"network": {"public_range": "192.168.1.200-192.168.1.210"}}),
        role=role,
        ignore=parse_ignore(list(ignore)),
        fix=fix,
        hosts=[t for t in facts_by_target if t],
        kvm_prober=PROBER,
    )

    def open_host(opts, target):
        facts = facts_by_target[target]
        if isinstance(facts, Exception):
            raise facts
        return host_cls(copy.deepcopy(facts), name=target or "localhost")

    reporter = JsonReporter(out) if as_json else TextReporter(out, multiple_hosts=len(facts_by_target) > 1)
    reports = preflight(opts, reporter, open_host)
    return reports, out.getvalue()


def test_a_healthy_host_prints_one_pass_line_per_check_and_a_summary(healthy):
    (report,), text = run({None: healthy})
    lines = text.splitlines()
    assert re.search(r"^Checking for root privileges \.{10,} : PASS \(running as uid 0 \(root\)\)$", text, re.M)
    assert sum(1 for ln in lines if ln.startswith("Checking for ")) == len(REGISTRY)
    assert f"localhost: {len(REGISTRY)} checks: {len(REGISTRY)} passed, 0 warnings, 0 failures" in lines
    assert lines[-1] == "This host can run a cloud-in-a-box."
    assert not report.failed


def test_a_failure_carries_its_remedy_and_the_ignore_hint(healthy):
    (report,), text = run({None: sick(healthy)})
    assert report.failed
    assert re.search(
        r"^Checking for enough memory \.+ : FAIL \(1\.0 GiB of memory; the cloud needs at least 2 GiB\)\n    remedy: add memory", text, re.M
    )
    assert "To ignore these failures, rerun with --ignore memory (or --ignore all)." in text
    assert text.splitlines()[-1] == "This host cannot run a cloud-in-a-box until the failures above are fixed."


@pytest.mark.parametrize("ignore", [["memory"], ["MEMORY"], ["all"]])
def test_ignored_failures_become_warnings(healthy, ignore):
    (report,), text = run({None: sick(healthy)}, ignore=ignore)
    mem = next(f for f in report.findings if f.id == "memory")
    assert (mem.status, mem.ignored) == (Status.warn, True)
    assert not report.failed
    assert "Failures ignored by --ignore: memory." in text


def test_json_has_every_field_of_every_finding(healthy):
    _, text = run({None: sick(healthy)}, as_json=True)
    doc = json.loads(text)
    assert doc["role"] == "ciab" and doc["failed"] is True
    (host,) = doc["hosts"]
    assert host["summary"]["fail"] == 1 and host["summary"]["checks"] == len(REGISTRY)
    for f in host["findings"]:
        assert set(f) >= {"id", "title", "status", "detail", "remedy", "fixable"}
        assert f["status"] in ("ok", "note", "warn", "fail")


def test_an_unreachable_host_is_one_line_and_the_others_are_still_checked(healthy):
    err = HostError("root@node9:22: cannot connect (Connection refused); is sshd running and the port right?")
    reports, text = run({"root@node9": err, "root@node1": healthy})
    assert [r.failed for r in reports] == [True, False]
    assert text.startswith("error: root@node9:22: cannot connect (Connection refused); is sshd running and the port right?\n")
    assert "== root@node1:22 ==" in text
    assert "2 hosts checked: 1 ready, 1 not." in text


class ModprobeHost(DictHost):
    """modprobe tun really creates /dev/net/tun here, so the re-check can see the fix."""

    def run(self, argv, *, timeout=30.0):
        if list(argv) == ["modprobe", "tun"]:
            self.stats["/dev/net/tun"] = {"kind": "chr", "mode": "0666"}
        return super().run(argv, timeout=timeout)


def test_fix_prints_each_change_then_checks_again(healthy):
    facts = copy.deepcopy(healthy)
    facts["stats"]["/dev/net/tun"] = None
    facts["commands"]["modprobe tun"] = ""
    (report,), text = run({None: facts}, fix=True, host_cls=ModprobeHost)
    assert "Applying the safe remedies:" in text
    assert "  changed: loaded the kernel module tun" in text
    assert "Checking again after those changes:" in text
    assert text.count("Checking for /dev/net/tun") == 2
    assert report.changes[0] == "loaded the kernel module tun"
    assert next(f for f in report.findings if f.id == "tun-device").status is Status.ok
    assert not report.failed


def test_fix_refuses_replayed_facts():
    opts = Options(cfg=config.from_dict({}), fix=True, facts={"files": {}})
    with pytest.raises(SilvereyeError, match="cannot be combined with --facts"):
        preflight(opts, TextReporter(io.StringIO()))


def test_a_bad_host_spec_is_refused_before_anything_runs():
    opts = Options(cfg=config.from_dict({}), hosts=["root@node1", "root@@x:99999"])
    with pytest.raises(SilvereyeError, match="--host 'root@@x:99999' is not valid"):
        preflight(opts, TextReporter(io.StringIO()))
