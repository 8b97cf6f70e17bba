"""A whole silvereye cloud for EC2's end-to-end tests: the real server, real libvirt, QEMU under TCG.

Each cloud gets names of its own (network ``ec2-e2e-<tag>``, bridge
``ee<tag>``, a free /24, data under ``/tmp/ec2-e2e-<tag>``, nftables table
``ec2_e2e_<tag>``) and is removed whatever happens to the test: the server
is killed, every domain on its network terminated, the network and its
metadata redirect deleted, the files removed.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest

from silvereye import config
from silvereye.compute import ComputeDriver
from silvereye.compute.network import free_subnet
from silvereye.compute.security_groups import SecurityGroupFirewall
from tests.fixtures.server import RunningServer, free_port

BOOT_TIMEOUT = 240  # seconds; a tiny guest takes 3-10 s alone under TCG, more on a busy 2-core machine
BOOT_LINE = "silvereye-tiny: boot complete"


class Ec2Cloud:
    def __init__(self, *, domain_type: str = "qemu"):
        self.tag = secrets.token_hex(3)
        self.root = Path(f"/tmp/ec2-e2e-{self.tag}")
        self.root.mkdir(mode=0o755)
        os.chmod(self.root, 0o755)  # QEMU runs as libvirt-qemu and must reach the disks
        self.network = f"ec2-e2e-{self.tag}"
        self.server = RunningServer(self.root, extra={
            "compute": {"libvirt_uri": "qemu:///system", "domain_type": domain_type},
            "network": {"name": self.network, "bridge": f"ee{self.tag}", "subnet": free_subnet(),
                        "metadata_port": free_port()},
        })

    def start(self) -> "Ec2Cloud":
        self.server.start()
        return self

    @property
    def cfg(self):  # noqa: ANN201
        return config.load(self.server.config_path)

    def install_tiny(self) -> dict[str, Any]:
        return json.loads(self.server.cli("images", "install", "tiny", "--json", timeout=900).stdout)

    def driver(self) -> ComputeDriver:
        return ComputeDriver(self.cfg, metadata_redirect=False)

    def destroy(self) -> None:
        self.server.kill()
        drv = ComputeDriver(self.cfg)
        SecurityGroupFirewall.for_driver(drv)  # the server's security-group table goes with the network
        try:
            for info in drv.list_instances():
                if info.network == self.network:
                    drv.terminate(info.instance_id)
            drv.teardown()
        finally:
            drv.close()
            shutil.rmtree(self.root, ignore_errors=True)


def _cloud(domain_type: str):  # noqa: ANN202 - a fixture's generator
    c = Ec2Cloud(domain_type=domain_type).start()
    try:
        yield c
    finally:
        c.destroy()


@pytest.fixture
def cloud(libvirt_system):  # noqa: ANN201
    """A running cloud whose instances run under TCG (domain type qemu)."""
    yield from _cloud("qemu")


@pytest.fixture
def auto_cloud(libvirt_system):  # noqa: ANN201
    """A running cloud with the default domain type, auto: the KVM probe decides."""
    yield from _cloud("auto")


def instance(ec2, iid: str) -> dict[str, Any]:
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def wait_state(ec2, iid: str, state: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = instance(ec2, iid)
        if found["State"]["Name"] == state:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{iid} is {found['State']['Name']}, not {state}, after {timeout} s: {found.get('StateReason')}")
        time.sleep(0.5)


def wait_console(ec2, iid: str, text: str, *, after: int = 0, timeout: float = BOOT_TIMEOUT) -> str:
    """GetConsoleOutput until ``text`` shows up (counting only its occurrences after the first ``after``)."""
    deadline = time.monotonic() + timeout
    while True:
        output = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output", "")
        if output.count(text) > after:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f"{iid} did not print {text!r} in {timeout} s; console ends: {output[-600:]!r}")
        time.sleep(1)


def host_key_from_console(console: str) -> str:
    blocks = re.findall(r"-----BEGIN SSH HOST KEY KEYS-----\r?\n(.*?)\r?\n-----END SSH HOST KEY KEYS-----", console, re.S)
    assert blocks, "the console shows no host key"
    return blocks[-1].split()[1]


def ssh(address: str, private_key_pem: str, host_key: str, command: str, *, timeout: float = 60) -> str:
    """Run ``command`` as root over SSH with a key pair's private key, trusting only ``host_key``."""
    pkey = paramiko.RSAKey.from_private_key(io.StringIO(private_key_pem)) if "RSA" in private_key_pem.split("\n")[0] \
        else paramiko.Ed25519Key.from_private_key(io.StringIO(private_key_pem))

    class FromConsole(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, _client, hostname, key):
            if key.get_base64() != host_key:
                raise paramiko.SSHException(f"host key of {hostname} differs from the one on its console")

    deadline = time.monotonic() + timeout
    while True:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(FromConsole())
        try:
            client.connect(address, username="root", pkey=pkey, timeout=15, allow_agent=False, look_for_keys=False)
            _, stdout, stderr = client.exec_command(command, timeout=60)
            out = stdout.read().decode()
            status = stdout.channel.recv_exit_status()
            assert status == 0, f"{command!r} exited {status}: {stderr.read().decode()}"
            return out
        except (paramiko.SSHException, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
        finally:
            client.close()
