"""What the EBS and security-group benchmarks share: a throwaway cloud with running tiny instances.

A private network (random free /24, names with a random tag), the tiny image,
the metadata stand-in of bench/boot_tiny.py, and instances that have printed
"boot complete"; everything is removed on the way out, failures included.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from boot_tiny import OWNER, TIMEOUT, Metadata, scratch_config

from silvereye.compute import BootSource, ComputeDriver, InstanceInfo, LaunchRequest, ids
from silvereye.images import tiny


@dataclass
class Cloud:
    driver: ComputeDriver
    boot: BootSource
    metadata: Metadata
    work: Path
    launched: list[str] = field(default_factory=list)

    def launch(self, n: int = 1, register: Callable[[InstanceInfo], object] | None = None) -> list[InstanceInfo]:
        """``n`` running instances (``register`` is called right after each launch)."""
        infos = []
        for _ in range(n):
            iid = ids.new_instance_id()
            self.launched.append(iid)
            info = self.driver.launch(LaunchRequest(iid, OWNER, "t2.nano", self.boot))
            self.metadata.ids[info.private_ip] = iid
            if register is not None:
                register(info)
            infos.append(info)
        for info in infos:
            self.driver.wait_for_console(info.instance_id, tiny.BOOT_COMPLETE, timeout=TIMEOUT)
        return infos


@contextlib.contextmanager
def tiny_cloud(name: str) -> Iterator[Cloud]:
    image = tiny.build()
    work, cfg = scratch_config(f"netstore-{name}", "nsb")
    driver = ComputeDriver(cfg)
    metadata = None
    cloud = None
    try:
        driver.setup()
        metadata = Metadata(str(driver.network.gateway), cfg.network.metadata_port)
        images = driver.images
        boot = BootSource(root=images.add(image.root, "qcow2"), kernel=images.add_blob(image.kernel),
                          ramdisk=images.add_blob(image.ramdisk), kernel_cmdline=image.kernel_cmdline)
        cloud = Cloud(driver, boot, metadata, work)
        yield cloud
    finally:
        if metadata is not None:
            metadata.close()
        for iid in cloud.launched if cloud is not None else ():  # only ours: the host's libvirt is shared
            driver.terminate(iid)
        driver.teardown()
        driver.close()
        shutil.rmtree(work, ignore_errors=True)


def summary(samples: list[float], digits: int = 3) -> dict:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), digits),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "n": len(ordered),
    }
