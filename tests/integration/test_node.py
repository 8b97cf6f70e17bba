"""`silvereye node add|list|remove` against a real sshd on 127.0.0.1: this machine as a second node.

The frontend is a test installation (see test_install.Box) whose own libvirt
URI leads nowhere, as on a frontend without a hypervisor, so every instance
must be scheduled onto the node reached through ``qemu+ssh://``. The node's
sshd is the fixture's (its own host key, its own authorized_keys file):
``node add`` must find that file through the sshd that answered it.
"""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest
import yaml

from silvereye import config as config_mod
from tests.integration.test_install import Box

pytestmark = pytest.mark.integration
pytest.importorskip("silvereye.compute", reason="the compute driver has not landed on this branch yet")

KNOWN_HOSTS = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "known_hosts"  # what ssh (and libvirt) read
NO_LOCAL_LIBVIRT = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"


@pytest.fixture
def frontend():
    b = Box(extra={"compute": {"libvirt_uri": NO_LOCAL_LIBVIRT}})
    try:
        b.install("--no-image", role="--frontend")
        yield b
    finally:
        b.cleanup()


def node_add(box: Box, sshd, *extra: str, check: bool = True):
    return box.silvereye("node", "add", sshd.target, "--ssh-key", str(sshd.client_key), "--config", str(box.config),
                         "--ignore", "hostname-resolves,time-sync", *extra, check=check)


def test_a_node_added_over_ssh_runs_the_instances_and_goes_again_cleanly(frontend, sshd):
    box = frontend
    keys_before = sshd.authorized_keys.read_text()
    r = node_add(box, sshd, "--name", "n1")
    assert "Node n1 is added" in r.stdout

    # The node is in the configuration with a qemu+ssh URI and this frontend's own key.
    cfg = config_mod.load(box.config)
    key = box.root / "data" / "ssh" / "id_ed25519"
    assert [(n.name, n.uri) for n in cfg.compute.nodes] == [
        ("n1", f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?keyfile={key}")]
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # Its public key is trusted in the file that sshd reads; the node's host key is known here.
    assert key.with_suffix(".pub").read_text().strip() in sshd.authorized_keys.read_text().splitlines()
    assert sshd.known_hosts_line.strip() in KNOWN_HOSTS.read_text().splitlines()

    listed = json.loads(box.silvereye("node", "list", "--json", "--config", str(box.config)).stdout)
    assert {r["name"]: r["state"] for r in listed} == {"local": "not used", "n1": "up"}
    status = json.loads(box.silvereye("status", "--json", "--config", str(box.config), check=False).stdout)
    states = {c["name"]: c["state"] for c in status["components"]}
    assert states["libvirt on n1"] == states["network on n1"] == "ok"
    assert states["libvirt on local"] == "absent"  # a frontend is no hypervisor
    assert [n["node"] for n in status["capacity"]] == ["n1"]

    # The scheduler places an instance there (through qemu+ssh, as the service would).
    instance = launch_tiny(cfg)
    try:
        assert instance.node == "n1"
        refused = box.silvereye("node", "remove", "n1", "--config", str(box.config), check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip() == (f"error: node n1 runs 1 instances of this cloud ({instance.instance_id}); "
                                          "terminate them first, or pass --force to terminate them with the node")
        assert "n1" in box.config.read_text()
        removed = box.silvereye("node", "remove", "n1", "--force", "--config", str(box.config))
        assert f"terminated {instance.instance_id}" in removed.stdout
    finally:
        terminate(cfg, instance.instance_id)
    assert config_mod.load(box.config).compute.nodes == []
    assert sshd.authorized_keys.read_text() == keys_before
    assert sshd.known_hosts_line.strip() not in KNOWN_HOSTS.read_text().splitlines()
    assert not network_defined(box)
    box.uninstall()


def test_the_same_node_twice_and_a_wrong_key_are_one_line_each(frontend, sshd):
    box = frontend
    keys_before = sshd.authorized_keys.read_text()
    wrong = node_add_with_key(box, sshd, sshd.new_key("stranger"))
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1
    assert "the server refused the key" in wrong.stderr
    assert sshd.known_hosts_line.strip() not in KNOWN_HOSTS.read_text().splitlines()  # no trace of the attempt
    node_add(box, sshd, "--name", "n2")
    again = node_add(box, sshd, "--name", "n3", check=False)
    assert again.stderr.strip() == (f"error: root@127.0.0.1:{sshd.port} is already node 'n2'; "
                                    "'silvereye node remove n2' first to add it again")
    box.uninstall()
    assert not network_defined(box) and "n2" not in yaml.safe_dump(yaml.safe_load(box.config.read_text()))
    assert not (box.root / "data").exists()
    assert sshd.known_hosts_line.strip() not in KNOWN_HOSTS.read_text().splitlines()
    assert sshd.authorized_keys.read_text() == keys_before


def node_add_with_key(box: Box, sshd, key):
    return box.silvereye("node", "add", sshd.target, "--ssh-key", str(key), "--config", str(box.config), check=False)


def network_defined(box: Box) -> bool:
    import subprocess

    r = subprocess.run(["virsh", "-c", "qemu:///system", "net-uuid", box.name], capture_output=True, text=True)
    return r.returncode == 0


# -- launching the tiny image through the compute driver, as EC2 does -------------------------


def launch_tiny(cfg):
    from silvereye.compute import BootSource, ComputeDriver, LaunchRequest
    from silvereye.compute.ids import new_instance_id
    from silvereye.images import tiny

    image = tiny.build()
    driver = ComputeDriver(cfg, domain_type="qemu")
    try:
        boot = BootSource(root=driver.images.add(image.root, "qcow2"), kernel=driver.images.add_blob(image.kernel),
                          ramdisk=driver.images.add_blob(image.ramdisk), kernel_cmdline=image.kernel_cmdline)
        return driver.launch(LaunchRequest(new_instance_id(), "123456789012", "t1.micro", boot))
    finally:
        driver.close()


def terminate(cfg, instance_id: str) -> None:
    from silvereye.compute import ComputeDriver

    driver = ComputeDriver(cfg, domain_type="qemu")
    try:
        driver.nodes = [n for n in driver.nodes if n.name != "local"]
        driver.terminate(instance_id)
    except Exception:
        pass
    finally:
        driver.close()

