"""Security groups on tiny instances under real QEMU, as a user would meet them.

Three instances: a web server, a client and a bystander, each with a root
shell over SSH (allowed from the host by an "ssh" group, as one would set it
up). Port 80 of the web server is closed to everyone until a rule opens it,
opens within a second of the rule, closes again on revoke; a rule naming the
clients' group lets only clients in; an instance changing groups live; ICMP
rules; egress rules that never cut an instance off its metadata.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import paramiko
import pytest

from silvereye.compute import LaunchRequest, ids
from silvereye.compute.security_groups import ALLOW_ALL_EGRESS, Rule, SecurityGroupFirewall
from silvereye.images.tiny import BOOT_COMPLETE
from tests.e2e.test_compute_tiny import host_key_from_console, key_pair

pytestmark = pytest.mark.e2e

OWNER = "210987654321"
BOOT_TIMEOUT = 120
SSH, WEB, CLIENTS, OTHERS = "sg-000000aa", "sg-000000bb", "sg-000000cc", "sg-000000dd"


def ssh_client(address: str, pkey: paramiko.PKey, host_key: str) -> paramiko.SSHClient:
    """Root on a guest, accepting only the host key its console printed."""
    client = paramiko.SSHClient()

    class FromConsole(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, _client, hostname, key):
            if key.get_base64() != host_key:
                raise paramiko.SSHException(f"host key of {hostname} differs from the console's")

    client.set_missing_host_key_policy(FromConsole())
    client.connect(address, username="root", pkey=pkey, timeout=20, allow_agent=False, look_for_keys=False)
    return client


@dataclass
class Guest:
    """A booted tiny instance and a root shell on it."""

    instance_id: str
    ip: str
    client: paramiko.SSHClient
    pkey: paramiko.PKey

    def reconnect(self, driver, console_offset: int) -> None:
        """A new shell after a reboot (a new host key, printed on the console from ``console_offset``)."""
        self.client.close()
        console = driver.console_read(self.instance_id, console_offset).decode(errors="replace")
        self.client = ssh_client(self.ip, self.pkey, host_key_from_console(console))

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, str]:
        chan_in, out, err = self.client.exec_command(command, timeout=timeout)
        if stdin is not None:
            chan_in.write(stdin)
            chan_in.channel.shutdown_write()
        text = out.read().decode(errors="replace")
        return out.channel.recv_exit_status(), text + err.read().decode(errors="replace")

    def check(self, command: str, **kw) -> str:
        status, text = self.run(command, **kw)
        assert status == 0, f"{command!r} on {self.instance_id} exited {status}: {text}"
        return text

    def reaches(self, address: str, port: int = 80) -> bool:
        return self.run(f"timeout 2 wget -q -O /dev/null http://{address}:{port}/")[0] == 0

    def pings(self, address: str) -> bool:
        return self.run(f"ping -c 1 -W 1 {address}")[0] == 0


@pytest.fixture
def boot(e2e_driver, metadata_server, tiny_boot):
    """boot(n, register=None) -> n running Guests; ``register(info)`` runs right after each launch."""
    pkey, public_key = key_pair()
    guests: list[Guest] = []

    def start(n: int, register=None) -> list[Guest]:
        infos = []
        for _ in range(n):
            instance_id = ids.new_instance_id()
            metadata_server.data[instance_id] = {
                "meta-data/instance-id": instance_id.encode(),
                "meta-data/public-keys/0/openssh-key": public_key.encode(),
            }
            info = e2e_driver.launch(LaunchRequest(instance_id, OWNER, "t2.nano", tiny_boot))
            if register is not None:
                register(info)
            infos.append(info)
        started = []
        for info in infos:
            e2e_driver.wait_for_console(info.instance_id, BOOT_COMPLETE, timeout=BOOT_TIMEOUT)
            console = e2e_driver.console_output(info.instance_id).decode(errors="replace")
            client = ssh_client(info.private_ip, pkey, host_key_from_console(console))
            started.append(Guest(info.instance_id, info.private_ip, client, pkey))
        guests.extend(started)
        return started

    yield start
    for guest in guests:
        guest.client.close()


def host_reaches(address: str, port: int = 80, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def seconds_until(predicate, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
    return time.monotonic() - start


def tcp(port: int, peer: str) -> Rule:
    return Rule("ingress", "tcp", port, port, **({"group_id": peer} if peer.startswith("sg-") else {"cidr": peer}))


def test_security_groups_are_enforced_live(e2e_driver, boot, record_property):
    gateway = str(e2e_driver.network.gateway)
    fw = SecurityGroupFirewall.for_driver(e2e_driver)  # the driver's teardown removes its table
    fw.create_group(SSH, [tcp(22, f"{gateway}/32")])
    for group in (WEB, CLIENTS, OTHERS):
        fw.create_group(group, [ALLOW_ALL_EGRESS])
    fw.setup()
    roles = iter([WEB, CLIENTS, OTHERS])
    web, client, other = boot(3, lambda info: fw.set_instance_groups(info.instance_id, info.private_ip,
                                                                      [SSH, next(roles)]))

    # Closed to the host and to other instances until a rule opens it.
    assert not host_reaches(web.ip)
    assert not client.reaches(web.ip)

    fw.authorize(WEB, [tcp(80, "0.0.0.0/0")])
    opened = seconds_until(lambda: host_reaches(web.ip))
    assert opened < 1.0
    assert client.reaches(web.ip) and other.reaches(web.ip)
    assert f"instance-id: {web.instance_id}" in client.check(f"timeout 5 wget -q -O - http://{web.ip}/")

    fw.revoke(WEB, [tcp(80, "0.0.0.0/0")])
    closed = seconds_until(lambda: not host_reaches(web.ip))
    assert closed < 1.0
    assert not client.reaches(web.ip)
    record_property("rule_change_seconds", {"open": round(opened, 3), "close": round(closed, 3)})

    # A rule naming a group admits its members only.
    fw.authorize(WEB, [tcp(80, CLIENTS)])
    assert client.reaches(web.ip)
    assert not other.reaches(web.ip)
    assert not host_reaches(web.ip)

    # Groups change on a running instance.
    fw.set_instance_groups(other.instance_id, other.ip, [SSH, OTHERS, CLIENTS])
    assert other.reaches(web.ip)
    fw.set_instance_groups(other.instance_id, other.ip, [SSH, OTHERS])
    assert not other.reaches(web.ip)

    # ICMP: echo requests from clients only.
    assert not client.pings(web.ip)
    fw.authorize(WEB, [Rule("ingress", "icmp", 8, -1, group_id=CLIENTS)])
    assert client.pings(web.ip)
    assert not other.pings(web.ip)

    # Egress: without it a client reaches nothing, yet its own metadata, DHCP and DNS still work.
    fw.revoke(CLIENTS, [ALLOW_ALL_EGRESS])
    assert not client.reaches(web.ip)
    assert client.check("timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id") == \
        client.instance_id
    fw.authorize(CLIENTS, [Rule("egress", "tcp", 80, 80, group_id=WEB)])
    assert client.reaches(web.ip)
    assert not client.pings(web.ip)  # egress allows web traffic only

    # Teardown removes every rule: the instance is as open as it was before.
    fw.teardown()
    assert not fw.installed()
    assert host_reaches(web.ip) and other.reaches(web.ip)
