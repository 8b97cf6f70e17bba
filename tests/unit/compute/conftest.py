"""Fixtures for the driver on libvirt's test:///default: a real libvirt API, no hypervisor.

test:///default keeps its state per process, so each test names its network
uniquely and terminates what it launched.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from silvereye import config
from silvereye.compute import ComputeDriver, ImageCache
from silvereye.compute.model import BootSource, LaunchRequest

OWNER = "123456789012"
# A private test-driver node (4 CPUs, 16 GiB, no domains), fresh for every connection.
TEST_URI = "test://" + str(Path(__file__).with_name("testnode.xml"))


@pytest.fixture
def cfg(tmp_path):
    tag = secrets.token_hex(3)
    return config.from_dict(
        {
            "data_dir": str(tmp_path / "data"),
            "compute": {"libvirt_uri": TEST_URI, "domain_type": "qemu"},
            "network": {"name": f"compute-unit-{tag}", "bridge": f"cu{tag}", "subnet": "10.213.0.0/28"},
        }
    )


@pytest.fixture
def driver(cfg):
    drv = ComputeDriver(cfg, metadata_redirect=False)
    drv.setup()
    yield drv
    for info in drv.list_instances():
        drv.terminate(info.instance_id)
    drv.teardown()
    drv.close()


@pytest.fixture
def base_image(tmp_path, cfg):
    """A 64 MiB qcow2 image imported into the driver's cache."""
    path = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return ImageCache(cfg.images_path).add(path)


@pytest.fixture
def kernel_pair(tmp_path, cfg):
    cache = ImageCache(cfg.images_path)
    kernel = tmp_path / "vmlinuz"
    ramdisk = tmp_path / "initrd"
    kernel.write_bytes(b"not really a kernel " + secrets.token_bytes(16))
    ramdisk.write_bytes(b"not really a ramdisk " + secrets.token_bytes(16))
    return cache.add_blob(kernel), cache.add_blob(ramdisk)


@pytest.fixture
def launch(driver, base_image, kernel_pair):
    """launch(**overrides) -> InstanceInfo for a kernel+ramdisk+root instance."""

    def _launch(instance_type="t2.nano", **kw):
        kernel, ramdisk = kernel_pair
        boot = kw.pop("boot", None) or BootSource(root=base_image, kernel=kernel, ramdisk=ramdisk)
        req = LaunchRequest(
            instance_id=kw.pop("instance_id", None) or "i-" + secrets.token_hex(9)[:17],
            owner=kw.pop("owner", OWNER),
            instance_type=instance_type,
            boot=boot,
            image_id=kw.pop("image_id", "ami-0123abcd"),
            **kw,
        )
        return driver.launch(req)

    return _launch
