"""Elastic IPs on a tiny instance under real QEMU.

The public side is a network namespace the test makes, on a veth whose host
end is the configured public interface: the host and that "outside" reach the
instance's web page through the elastic address (through libvirt's NAT
network, which turns away new inbound connections unless silvereye lets DNAT'd
ones in), the instance's own connections leave with it, security groups judge
what comes in through it by its real source, and all of it stops on
disassociate, terminate and teardown.
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
import sys
import urllib.request

import pytest

from silvereye.compute.elastic_ips import ElasticIPs
from silvereye.compute.network import free_subnet
from silvereye.compute.security_groups import ALLOW_ALL_EGRESS, Rule, SecurityGroupFirewall
from tests.e2e.test_compute_secgroups import WEB, boot, host_reaches  # noqa: F401  (the boot fixture)

pytestmark = pytest.mark.e2e

# Answers one HTTP GET with the address the connection came from.
PEER_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); print("up", flush=True)
while True:
    c, a = s.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(a[0]), a[0].encode())); c.close()
"""


@pytest.fixture
def outside(e2e_cfg):
    """A namespace at .2 of a free /24 of 198.18.0.0/15; the host end (.1) is the public interface,
    the range .16-.20 is configured as the elastic IPs."""
    tag = secrets.token_hex(3)
    ns, dev = f"netstore-e2e-{tag}", f"nse{tag}"
    net = ipaddress.IPv4Network(free_subnet("198.18.0.0/15"))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    server = None
    try:
        for argv in (["ip", "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", ns],
                     ["ip", "addr", "add", f"{net[1]}/24", "dev", dev],
                     ["ip", "link", "set", dev, "up"],
                     ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                     ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{net[2]}/24", "dev", "eth0"],
                     ["ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"]):
            subprocess.run(argv, check=True)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PEER_SERVER, str(net[2]), "8080"],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "up"
        e2e_cfg.network.interface = dev
        e2e_cfg.network.public_range = f"{net[16]}-{net[20]}"
        yield ns, net
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", dev], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def from_outside(ns: str, url: str) -> str | None:
    r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "-m", "3", url], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def test_an_elastic_ip_reaches_the_instance_until_it_is_disassociated(e2e_driver, boot, outside):
    ns, net = outside
    eips = ElasticIPs.for_driver(e2e_driver)  # the driver's terminate and teardown clean up after it
    eips.setup()
    (guest,) = boot(1)
    public = eips.addresses[1]
    seen_from_guest = f"timeout 5 wget -q -O - http://{net[2]}:8080/"
    assert not host_reaches(public, timeout=1)
    assert guest.check(seen_from_guest) == str(net[1])  # libvirt's masquerade: the host's public address

    eips.associate(public, guest.instance_id, guest.ip)
    assert eips.interface_addresses() == {public}
    page = urllib.request.urlopen(f"http://{public}/", timeout=10).read().decode()
    assert f"instance-id: {guest.instance_id}" in page  # from the host itself
    assert f"instance-id: {guest.instance_id}" in (from_outside(ns, f"http://{public}/") or "")  # from outside
    assert guest.check(seen_from_guest) == public  # the instance goes out as its elastic IP

    # Security groups judge what comes in through the elastic IP by its real source.
    fw = SecurityGroupFirewall.for_driver(e2e_driver)
    fw.create_group(WEB, [ALLOW_ALL_EGRESS])
    fw.set_instance_groups(guest.instance_id, guest.ip, [WEB])
    fw.setup()
    assert from_outside(ns, f"http://{public}/") is None
    fw.authorize(WEB, [Rule("ingress", "tcp", 80, 80, cidr=str(net))])
    assert from_outside(ns, f"http://{public}/") is not None
    assert guest.check(seen_from_guest) == public  # egress still open
    fw.teardown()

    assert eips.disassociate(public).instance_id == guest.instance_id
    assert not host_reaches(public, timeout=1)
    assert from_outside(ns, f"http://{public}/") is None
    assert guest.check(seen_from_guest) == str(net[1])

    # Terminating the instance takes its association (and the address) with it.
    eips.associate(public, guest.instance_id, guest.ip)
    assert from_outside(ns, f"http://{public}/") is not None
    e2e_driver.terminate(guest.instance_id)
    assert eips.associations() == {} and eips.interface_addresses() == set()
    assert f"ip daddr {public}" not in subprocess.run(["nft", "list", "table", "ip", eips.table],
                                                      capture_output=True, text=True).stdout

    eips.teardown()
    assert not eips.installed()
    assert eips.chain not in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
