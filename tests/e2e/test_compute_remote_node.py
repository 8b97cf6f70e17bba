"""A node reached over qemu+ssh: libvirt over SSH, and the instance's disk and console handled
over the same SSH. The "remote" host is this one, through a private sshd on a loopback port,
so that the test needs no second machine; the driver is given only that node."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from silvereye.compute import BootSource, LaunchRequest, ids
from silvereye.compute.hostfiles import SshHost
from silvereye.compute.nodes import Node
from silvereye.images.tiny import BOOT_COMPLETE

pytestmark = pytest.mark.e2e


@pytest.fixture
def sshd(loopback_port):
    """sshd on 127.0.0.1:<random port> accepting root with a key made for this test."""
    work = Path(f"/tmp/compute-sshd-{secrets.token_hex(3)}")
    work.mkdir(mode=0o700)
    port = loopback_port
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "client_key")], check=True)
    shutil.copyfile(work / "client_key.pub", work / "authorized_keys")
    (work / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\n"
        f"AuthorizedKeysFile {work / 'authorized_keys'}\nPidFile {work / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(work / "sshd_config"), "-E", str(work / "log")])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the test sshd did not start: " + (work / "log").read_text())
                time.sleep(0.1)
        yield f"qemu+ssh://root@127.0.0.1:{port}/system?keyfile={work / 'client_key'}&no_verify=1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        # libvirt's own ssh run records the host key even with no_verify: take it out again.
        subprocess.run(["ssh-keygen", "-R", f"[127.0.0.1]:{port}"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def ours(driver) -> list[str]:
    return [i.instance_id for i in driver.list_instances() if i.network == driver.network.name]


def test_instance_on_a_node_reached_over_ssh(sshd, tiny_image, driver_for, metadata_server_for):
    node = Node("node1", sshd)
    assert isinstance(node.host, SshHost)
    driver = driver_for([node])
    server = metadata_server_for(driver)
    capacity = driver.capacity()
    assert [c.node for c in capacity] == ["node1"] and capacity[0].disk_free > 0  # df over SSH

    boot = BootSource(
        root=driver.images.add(tiny_image.root, "qcow2"),
        kernel=driver.images.add_blob(tiny_image.kernel),
        ramdisk=driver.images.add_blob(tiny_image.ramdisk),
        kernel_cmdline=tiny_image.kernel_cmdline,
    )
    instance_id = ids.new_instance_id()
    server.data[instance_id] = {"meta-data/instance-id": instance_id.encode()}
    info = driver.launch(LaunchRequest(instance_id, "210987654321", "t2.nano", boot))
    assert info.node == "node1"
    line = driver.wait_for_console(instance_id, BOOT_COMPLETE, timeout=120).decode()  # read over SSH
    assert f"instance-id={instance_id}" in line
    assert driver.console_size(instance_id) > 0
    assert ours(driver) == [instance_id]  # libvirt may hold other tests' domains: look at this network's

    assert driver.terminate(instance_id) is True
    assert not driver.instance_dir(instance_id).exists()  # removed over SSH
    assert ours(driver) == [] and driver.orphans().empty()
