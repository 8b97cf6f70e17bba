"""CreateImage's work: an instance's root overlay flattened into a new image.

``qemu-img convert`` reads the overlay through its backing chain and writes
one self-contained qcow2, which becomes a machine image with the source
image's kernel, ramdisk and kernel line. As on EC2, a running instance is
shut down cleanly for a consistent copy and started again afterwards (it
goes stopping -> stopped -> pending -> running); with ``NoReboot`` it keeps
running and the copy is crash-consistent (read with ``-U``, QEMU holding
the image). An EBS-backed instance's image is a snapshot of its root
volume instead (:func:`.ebs_images.image_from_root_volume`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa

from silvereye.compute.driver import ROOT_DISK
from silvereye.compute.hostfiles import LocalHost
from silvereye.services.ec2 import controller, ebs_images
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models import system_images
from silvereye.services.ec2.runtime import Ec2Runtime
from silvereye.services.ec2.tables import images as im

log = logging.getLogger("silvereye.ec2")


def _flatten(rt: Ec2Runtime, instance_id: str, node_name: str | None, running: bool) -> Path:
    node = rt.driver.node(node_name or "local")
    if not isinstance(node.host, LocalHost):
        raise RuntimeError(f"{instance_id} runs on node {node.name}; images are made only from instances on this host")
    overlay = rt.driver.instance_dir(instance_id) / ROOT_DISK
    rt.driver.images.root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=rt.driver.images.root, prefix=".create-image-")
    os.close(fd)
    argv = ["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2"]
    if running:
        argv.append("-U")
    try:
        node.host.run(argv + [str(overlay), tmp], timeout=3600)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def build(rt: Ec2Runtime, image_id: str, instance_id: str, cycle: bool) -> None:
    with rt.store.read() as conn:
        row = records.get(conn, instance_id)
        image = conn.execute(sa.select(im).where(im.c.id == image_id)).first()
    if row is None or image is None:
        return
    stopped_here = False
    try:
        if cycle:
            controller.stop(rt, instance_id)
            with rt.store.read() as conn:
                stopped_here = records.get(conn, instance_id).state == "stopped"
        root_volume = ebs_images.root_volume_of(rt, instance_id)
        if root_volume is not None:  # EBS-backed: a snapshot of its root volume becomes the image's root
            ebs_images.image_from_root_volume(rt, image_id, row, root_volume)
            return
        with rt.store.read() as conn:
            running = records.get(conn, instance_id).state != "stopped"
        flat = _flatten(rt, instance_id, row.node, running)
        try:
            stored = system_images.store_image(
                rt.store, rt.cfg, rt.driver.images, flat, prefix=image_id, name=image_id, kind="machine",
                fmt="qcow2", kernel_id=image.kernel_id, ramdisk_id=image.ramdisk_id,
                kernel_cmdline=image.kernel_cmdline, boot_mode=image.boot_mode, move=True)
        finally:
            if flat.exists():
                flat.unlink()
        with rt.store.write() as conn:
            conn.execute(sa.update(im).where(im.c.id == image_id, im.c.state == "pending").values(
                state="available", location=stored.location, sha256=stored.image.sha256, size=stored.image.size,
                format=stored.image.format))
    except Exception as e:
        log.warning("CreateImage %s from %s failed: %s", image_id, instance_id, e)
        with rt.store.write() as conn:
            conn.execute(sa.update(im).where(im.c.id == image_id, im.c.state == "pending").values(state="failed"))
    finally:
        if stopped_here:
            with rt.store.write() as conn:
                moved = records.transition(conn, instance_id, "pending", expect=("stopped",))
            if moved:
                controller.start(rt, instance_id)
