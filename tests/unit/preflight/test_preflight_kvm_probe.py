"""The KVM probe's decisions, on hosts that pretend to boot: nothing real boots here.

The real boot (TCG as the control, KVM on this machine) is exercised by
tests/integration/test_preflight_kvm_probe.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from silvereye.preflight.dict_host import DictHost
from silvereye.preflight.host import CommandResult
from silvereye.preflight.kvm_probe import probe_kvm

PACKAGE = "linux-image-6.1.0-56-cloud-amd64"
WORKDIR = "/tmp/silvereye-kvm-probe.abc123"
PANIC = "[    1.4] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"


class BootingHost(DictHost):
    """A DictHost whose QEMU 'runs': it returns ``result`` and leaves ``console`` in the serial file."""

    def __init__(self, facts, result: CommandResult, console: str):
        super().__init__(facts)
        self.result, self.console, self.boots = result, console, []
        self.commands["mktemp -d /tmp/silvereye-kvm-probe.XXXXXX"] = WORKDIR + "\n"
        self.commands["mkdir -p /var/cache/silvereye"] = ""

    def run(self, argv, *, timeout=30.0):
        if argv[0] == "timeout":
            self.boots.append(list(argv))
            self.files[f"{WORKDIR}/serial.log"] = self.console
            return self.result
        return super().run(argv, timeout=timeout)


def fake_kernel(package: str) -> str:
    assert package == PACKAGE
    return "/var/cache/silvereye/debs/unpacked/x/boot/vmlinuz-6.1.0-56-cloud-amd64"


def probe(host, **kw):
    return probe_kvm(host, timeout=20, kernel_package=PACKAGE, kernel_path=fake_kernel, **kw)


def without_cache(facts):
    facts = copy.deepcopy(facts)
    del facts["files"]["/var/cache/silvereye/kvm-probe.json"]
    return facts


def test_a_cached_verdict_is_answered_without_booting(healthy):
    host = BootingHost(healthy, CommandResult(0), PANIC)
    r = probe(host)
    assert (r.usable, r.cached) == (True, True)
    assert host.boots == []


def test_a_kernel_reaching_its_root_fs_panic_means_kvm_works_and_the_verdict_is_cached(healthy):
    host = BootingHost(without_cache(healthy), CommandResult(0), "Linux version 6.1\n" + PANIC)
    r = probe(host)
    assert r.usable and not r.cached
    assert "booted under KVM" in r.detail
    boot = host.boots[0]
    assert boot[:4] == ["timeout", "-k", "2", "20"]
    assert boot[boot.index("-accel") + 1] == "kvm"
    assert "-no-reboot" in boot and "console=ttyS0 panic=-1" in boot and "-initrd" not in boot
    assert host.files[f"{WORKDIR}/vmlinuz"].startswith("(copy of")  # the kernel travelled to the host
    assert ["rm", "-rf", "--", WORKDIR] in host.ran
    cache = json.loads(host.written["/var/cache/silvereye/kvm-probe.json"])
    (entry,) = cache.values()
    assert entry["usable"] is True
    # A second probe of the same host answers from that cache.
    assert probe(host).cached


def test_a_hang_is_a_timeout_and_means_unusable(healthy):
    host = BootingHost(without_cache(healthy), CommandResult(124, "", ""), "")
    r = probe(host)
    assert not r.usable
    assert r.detail == "a probe kernel did not finish booting under KVM within 20 s (no console output at all)"


def test_a_kvm_internal_error_is_reported_as_qemu_said_it(healthy):
    err = "KVM internal error. Suberror: 1\nemulation failure\n"
    host = BootingHost(without_cache(healthy), CommandResult(1, "", err), "Decompressing Linux... Parsing ELF... done.\n")
    r = probe(host)
    assert not r.usable
    assert "QEMU stopped with 'KVM internal error. Suberror: 1'" == r.detail


def test_a_new_kernel_release_means_a_new_probe(healthy):
    facts = copy.deepcopy(healthy)
    facts["files"]["/proc/sys/kernel/osrelease"] = "6.12.0-1-amd64\n"
    host = BootingHost(facts, CommandResult(124), "")
    r = probe(host)
    assert not r.usable and not r.cached and len(host.boots) == 1
    assert len(json.loads(host.written["/var/cache/silvereye/kvm-probe.json"])) == 2


def test_no_dev_kvm_or_no_qemu_is_answered_at_once(healthy):
    facts = copy.deepcopy(healthy)
    facts["stats"]["/dev/kvm"] = None
    assert probe(DictHost(facts)).detail == "there is no /dev/kvm"
    facts = copy.deepcopy(healthy)
    facts["stats"]["/usr/bin/qemu-system-x86_64"] = None
    r = probe(DictHost(facts))
    assert not r.usable and "qemu-system-x86_64 is not installed" in r.detail


def test_tcg_needs_no_dev_kvm(healthy):
    facts = without_cache(healthy)
    facts["stats"]["/dev/kvm"] = None
    host = BootingHost(facts, CommandResult(0), PANIC)
    r = probe(host, accel="tcg", use_cache=False)
    assert r.usable and "under tcg" in r.detail
    assert "/var/cache/silvereye/kvm-probe.json" not in host.written


def test_a_kernel_that_cannot_be_fetched_is_not_a_verdict(healthy):
    def offline(package: str) -> str:
        from silvereye.errors import SilvereyeError

        raise SilvereyeError("cannot fetch http://deb.debian.org/...: network unreachable")

    host = BootingHost(without_cache(healthy), CommandResult(0), PANIC)
    r = probe_kvm(host, kernel_package=PACKAGE, kernel_path=offline)
    assert not r.usable and r.detail.startswith("cannot tell: cannot fetch")
    assert host.written == {}  # not cached: the next run tries again
    assert not Path(WORKDIR).exists()
