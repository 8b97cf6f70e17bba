"""Starting a domain survives ebtables losing a race in libvirt's nwfilter, and nothing else."""

from __future__ import annotations

import libvirt
import pytest

from silvereye.compute import driver

RACE = ("internal error: Failed to apply firewall rules /usr/sbin/ebtables --concurrent -t nat -A libvirt-J-vnet7 "
        "-p 0x0800 -j J-vnet7-ipv4-ip: ebtables v1.8.9 (nf_tables):  RULE_DELETE failed (No such file or directory)")


class Domain:
    """A domain whose first starts fail with the given libvirt errors (libvirt cannot be made to race on cue)."""

    def __init__(self, *failures: str):
        self.failures = list(failures)
        self.starts = 0

    def create(self) -> None:
        self.starts += 1
        if self.failures:
            libvirt.virResetLastError()  # else libvirtError takes the thread's last real error's message
            raise libvirt.libvirtError(self.failures.pop(0))


def test_a_lost_firewall_race_is_tried_again():
    dom = Domain(RACE, RACE)
    driver._start_domain(dom)
    assert dom.starts == 3


def test_other_errors_and_a_race_that_keeps_losing_are_raised():
    dom = Domain("unsupported configuration: the CPU is incompatible")
    with pytest.raises(libvirt.libvirtError, match="incompatible"):
        driver._start_domain(dom)
    assert dom.starts == 1
    dom = Domain(*[RACE] * driver.FIREWALL_RETRIES)
    with pytest.raises(libvirt.libvirtError, match="RULE_DELETE"):
        driver._start_domain(dom)
    assert dom.starts == driver.FIREWALL_RETRIES
