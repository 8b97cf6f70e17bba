"""Whole-disk images start their firmware: UEFI (OVMF) with a per-instance variable store.

No bootable cloud image can be downloaded here, so the disk is blank: what is checked is
that QEMU starts OVMF from the domain the driver wrote, OVMF runs to its boot manager on
the serial console, and terminating removes the variable store with the rest."""

from __future__ import annotations

import subprocess

import pytest

from silvereye.compute import BootSource, LaunchRequest, ids
from silvereye.compute.domain_xml import find_ovmf
from silvereye.compute.driver import UEFI_VARS

pytestmark = pytest.mark.e2e


def test_uefi_instance_runs_ovmf_to_its_boot_manager(e2e_driver, tmp_path):
    if find_ovmf() is None:
        pytest.fail("OVMF is not installed: install the ovmf package (silvereye/laydown/packages.py image-build)")
    blank = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "64M"], check=True)
    boot = BootSource(root=e2e_driver.images.add(blank, "qcow2"), firmware="uefi")
    instance_id = ids.new_instance_id()
    e2e_driver.launch(LaunchRequest(instance_id, "210987654321", "t2.nano", boot))
    assert (e2e_driver.instance_dir(instance_id) / UEFI_VARS).exists()
    e2e_driver.wait_for_console(instance_id, b"BdsDxe", timeout=120)
    assert e2e_driver.terminate(instance_id)
    assert not e2e_driver.instance_dir(instance_id).exists()
