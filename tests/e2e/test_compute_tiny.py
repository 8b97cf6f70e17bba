"""A tiny instance's life under real QEMU (TCG) through the driver, as a user would live it:
launch, watch the console, reach its web page, SSH in with the key, stop and start it with
its disk intact, terminate it and find nothing left behind."""

from __future__ import annotations

import io
import queue
import re
import time
import urllib.request

import libvirt
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from silvereye.compute import LaunchRequest, ids
from silvereye.compute.metadata_nat import METADATA_ADDRESS
from silvereye.images.tiny import BOOT_COMPLETE

pytestmark = pytest.mark.e2e

OWNER = "210987654321"
BOOT_TIMEOUT = 120


def key_pair() -> tuple[paramiko.PKey, str]:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem)), public.decode() + " e2e-test\n"


def host_key_from_console(console: str) -> str:
    block = re.findall(r"-----BEGIN SSH HOST KEY KEYS-----\r?\n(.*?)\r?\n-----END SSH HOST KEY KEYS-----", console, re.S)
    assert block, "the console shows no host key"
    return block[-1].split()[1]


def ssh(address: str, pkey: paramiko.PKey, expected_host_key: str, command: str) -> str:
    """Run ``command`` as root, accepting only the host key the console printed."""
    client = paramiko.SSHClient()

    class FromConsole(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, _client, hostname, key):
            if key.get_base64() != expected_host_key:
                raise paramiko.SSHException(f"host key of {hostname} differs from the one on the console")

    client.set_missing_host_key_policy(FromConsole())
    client.connect(address, username="root", pkey=pkey, timeout=20, allow_agent=False, look_for_keys=False)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=30)
        out = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
        return out
    finally:
        client.close()


def test_tiny_instance_lifecycle(e2e_driver, metadata_server, tiny_boot):
    driver = e2e_driver
    instance_id = ids.new_instance_id()
    pkey, public_key = key_pair()
    metadata_server.data[instance_id] = {
        "meta-data/instance-id": instance_id.encode(),
        "meta-data/public-keys/0/openssh-key": public_key.encode(),
        "user-data": b"#!/bin/sh\necho \"user-data says hello from $(hostname)\"\n",
    }
    events: queue.Queue = queue.Queue()
    subscription = driver.subscribe(events.put)

    # Launch and wait for the guest to say it is up.
    info = driver.launch(LaunchRequest(instance_id, OWNER, "t2.nano", tiny_boot, image_id="ami-0e2e0e2e"))
    assert info.state.state == "running"
    line = driver.wait_for_console(instance_id, BOOT_COMPLETE, timeout=BOOT_TIMEOUT).decode()
    assert f"boot complete instance-id={instance_id} ip={info.private_ip}" in line
    console = driver.console_output(instance_id).decode(errors="replace")
    assert f"metadata: instance-id {instance_id}" in console
    assert f"user-data says hello from {instance_id}" in console  # the DHCP host name is the instance id
    assert "user-data exited with status 0" in console
    # It reached us through the 169.254.169.254 redirect, from its own address.
    assert (info.private_ip, "/latest/meta-data/instance-id") in metadata_server.requests
    assert driver.metadata_redirect.installed()
    assert METADATA_ADDRESS in driver.metadata_redirect.ruleset()

    # Its web page and SSH (with the key from the metadata service) work from the host.
    page = urllib.request.urlopen(f"http://{info.private_ip}/", timeout=10).read().decode()
    assert f"instance-id: {instance_id}" in page
    host_key = host_key_from_console(console)
    assert ssh(info.private_ip, pkey, host_key, "cat /run/instance-id") == instance_id
    ssh(info.private_ip, pkey, host_key, "echo kept-across-stop > /data/marker")

    # A clean stop (ACPI power button -> the guest powers off) keeps the root disk.
    assert driver.stop(instance_id, timeout=60).state == "shutoff"
    assert "silvereye-tiny: shutting down" in driver.console_output(instance_id).decode(errors="replace")
    offset = driver.console_size(instance_id)
    assert driver.start(instance_id).state == "running"
    driver.wait_for_console(instance_id, BOOT_COMPLETE, timeout=BOOT_TIMEOUT, offset=offset)
    second_boot = driver.console_read(instance_id, offset).decode(errors="replace")
    assert "formatting" not in second_boot
    assert driver.describe(instance_id).private_ip == info.private_ip
    host_key = host_key_from_console(second_boot)
    assert ssh(info.private_ip, pkey, host_key, "cat /data/marker").strip() == "kept-across-stop"

    # Lifecycle events told the story.
    seen = []
    deadline = time.monotonic() + 10
    while ("stopped", "shutdown") not in seen and time.monotonic() < deadline:
        try:
            ev = events.get(timeout=1)
        except queue.Empty:
            continue
        if ev.instance_id == instance_id:
            seen.append((ev.event, ev.detail))
    subscription.cancel()
    assert ("started", "booted") in seen and ("stopped", "shutdown") in seen

    # Terminate: domain, files and DHCP reservation all go.
    directory = driver.instance_dir(instance_id)
    assert (directory / "root.qcow2").exists()
    assert driver.terminate(instance_id) is True
    conn = driver.nodes[0].connection()
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName(info.domain_name)
    assert not directory.exists()
    assert all(r.name != instance_id for r in driver.network.reservations(conn))
    assert info.mac not in conn.networkLookupByName(driver.network.name).XMLDesc(0)
    deadline = time.monotonic() + 10  # dnsmasq tells libvirt's lease helper a moment later
    while info.private_ip in driver.network.leased_addresses(conn) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert info.private_ip not in driver.network.leased_addresses(conn)  # dhcp_release freed it
    assert driver.orphans().empty()
