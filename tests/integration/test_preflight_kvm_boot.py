"""The KVM probe boots a real kernel: under TCG as the control (it must succeed), under KVM for the verdict.

The TCG boots skip the cache, so they really run (about 2-3 s each); the KVM
verdict is cached in /var/cache/silvereye, so only the first run on a machine
pays for it (on the project's machines that is the 20 s timeout).
"""

from __future__ import annotations

import os

import pytest

from silvereye.preflight.kvm_probe import probe_kvm
from silvereye.preflight.local_host import LocalHost
from silvereye.preflight.ssh_host import SSHHost, parse_target

pytestmark = pytest.mark.integration


def test_a_kernel_boots_to_its_root_fs_panic_under_tcg():
    r = probe_kvm(LocalHost(), accel="tcg", use_cache=False)
    assert r.usable, r.detail
    assert r.detail.startswith("a probe kernel booted under tcg in ")


def test_the_kvm_verdict_is_cached_after_the_first_probe():
    first = probe_kvm(LocalHost())
    second = probe_kvm(LocalHost())
    assert (second.usable, second.detail) == (first.usable, first.detail)
    if os.path.exists("/dev/kvm"):
        assert second.cached
    else:
        assert second.detail == "there is no /dev/kvm"


def test_a_remote_host_gets_the_kernel_over_sftp_and_boots_it(sshd, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with SSHHost(parse_target(sshd.target), sshd.client_key) as host:
        host.connect()
        r = probe_kvm(host, accel="tcg", use_cache=False)
    assert r.usable, r.detail
    assert "booted under tcg" in r.detail
