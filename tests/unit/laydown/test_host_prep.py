"""Getting a host ready: which packages are missing, installing them, and what stops an install."""

from __future__ import annotations

import shlex

import pytest

from silvereye.laydown import hostprep
from silvereye.preflight.dict_host import DictHost
from silvereye.preflight.model import Finding, Role, Status

DPKG = "dpkg-query -W '-f=${Package} ${db:Status-Status}\\n'"


def dpkg(names, installed):
    out = "".join(f"{n} installed\n" for n in names if n in installed)
    out += "".join(f"{n} not-installed\n" for n in names if n not in installed)
    return {"rc": 0 if set(names) <= set(installed) else 1, "stdout": out}


def test_missing_packages_on_debian_are_the_ones_dpkg_does_not_call_installed():
    names = ["qemu-utils", "haproxy", "nftables"]
    host = DictHost({"commands": {f"{DPKG} {' '.join(names)}": dpkg(names, {"nftables"})}})
    assert hostprep.missing_packages(host, "debian", names) == ["qemu-utils", "haproxy"]


def test_missing_packages_on_the_rhel_family_come_from_rpm():
    names = ["qemu-kvm", "haproxy"]
    out = "qemu-kvm\npackage haproxy is not installed\n"
    host = DictHost({"commands": {shlex.join(["rpm", "-q", "--qf", "%{NAME}\\n", *names]): {"rc": 1, "stdout": out}}})
    assert hostprep.missing_packages(host, "el", names) == ["haproxy"]


def test_nothing_is_installed_when_nothing_is_missing():
    names = ["haproxy"]
    host = DictHost({"commands": {f"{DPKG} haproxy": dpkg(names, {"haproxy"})}})
    assert hostprep.install_packages(host, "debian", names) == []
    assert not any("apt-get" in argv for argv in host.ran)


APT = "env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300"


class Apt(DictHost):
    """A host whose apt-get works only after 'apt-get update' (stale package lists)."""

    def __init__(self):
        super().__init__({})
        self.updated = self.installed = False

    def run(self, argv, *, timeout=30.0):
        self.ran.append(list(argv))
        line = shlex.join(argv)
        if line.startswith(DPKG.split(" '")[0]):
            return DictHost({"commands": {line: dpkg(argv[3:], {"haproxy"} if self.installed else set())}}).run(argv)
        if line == f"{APT} update":
            self.updated = True
            return DictHost({"commands": {line: ""}}).run(argv)
        if line == f"{APT} install --no-install-recommends haproxy":
            self.installed = self.updated
            return DictHost({"commands": {line: {"rc": 0 if self.updated else 100,
                                                 "stderr": "E: Unable to locate package haproxy"}}}).run(argv)
        raise AssertionError(f"unexpected command {line}")


def test_stale_package_lists_are_refreshed_once():
    host = Apt()
    assert hostprep.install_packages(host, "debian", ["haproxy"]) == ["haproxy"]
    assert [" ".join(a[5:]) for a in host.ran if "apt-get" in a] == [
        "-o DPkg::Lock::Timeout=300 install --no-install-recommends haproxy",
        "-o DPkg::Lock::Timeout=300 update",
        "-o DPkg::Lock::Timeout=300 install --no-install-recommends haproxy",
    ]


def test_a_package_that_cannot_be_installed_is_one_line():
    names = ["nosuchpkg"]
    host = DictHost({"commands": {
        f"{DPKG} nosuchpkg": dpkg(names, set()),
        f"{APT} install --no-install-recommends nosuchpkg": {"rc": 100, "stderr": "E: Unable to locate package nosuchpkg"},
        f"{APT} update": "",
    }}, name="localhost")
    with pytest.raises(hostprep.InstallBlocked) as e:
        hostprep.install_packages(host, "debian", names)
    assert str(e.value) == "cannot install nosuchpkg with apt-get: E: Unable to locate package nosuchpkg"


def finding(id_, status=Status.fail, remedy=""):
    return Finding(id_, id_, status, f"{id_} is wrong", remedy)


def test_failures_the_install_remedies_do_not_block():
    checked = hostprep.Checked([finding("required-programs"), finding("libvirt-reachable"), finding("memory"),
                                finding("swap", Status.warn)], "")
    assert [f.id for f in hostprep.blocking(checked, hostprep.REMEDIED_BY_INSTALL)] == ["memory"]
    assert [f.id for f in hostprep.blocking(checked)] == ["required-programs", "libvirt-reachable", "memory"]


def test_a_blocked_install_says_what_failed_the_remedy_and_how_to_go_on():
    failures = [finding("memory", remedy="add memory"), finding("root")]
    err = hostprep.blocked_error(DictHost(name="root@node1:22"), failures, Role.node)
    assert str(err) == ("root@node1:22: preflight failed for role node: memory: memory is wrong; add memory "
                        "(and 1 more: root); fix it, or go on anyway with --ignore memory,root")
