"""End-to-end fixtures: real libvirt (qemu:///system), real QEMU under TCG, the tiny image.

Everything a test creates carries a per-run tag (network ``compute-e2e-<tag>``,
bridge ``ce<tag>``, a free /24 chosen at random, data under
``/tmp/compute-e2e-<tag>``) and is removed at the end even when the test
fails: instances are terminated, the network and its nftables table deleted.
"""

from __future__ import annotations

import http.server
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from silvereye import config
from silvereye.compute import BootSource, ComputeDriver
from silvereye.compute.network import free_subnet
from silvereye.images import tiny



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_image():
    """The tiny image, built once (and cached across runs)."""
    return tiny.build()


@pytest.fixture(scope="session")
def libvirt_system():
    r = subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("libvirtd does not answer on qemu:///system; run tools/start-daemons")


@pytest.fixture
def e2e_cfg(libvirt_system):
    tag = secrets.token_hex(3)
    data = Path(f"/tmp/compute-e2e-{tag}")
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # QEMU runs as libvirt-qemu and must reach the disks
    cfg = config.from_dict(
        {
            "data_dir": str(data),
            "compute": {"libvirt_uri": "qemu:///system", "domain_type": "qemu"},
            "network": {
                "name": f"compute-e2e-{tag}",
                "bridge": f"ce{tag}",
                "subnet": free_subnet(),
                "metadata_port": free_port(),
            },
        }
    )
    yield cfg
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def driver_for(e2e_cfg):
    """driver_for(nodes=None) -> a set-up driver; its instances, network and redirect go after the test."""
    drivers: list[ComputeDriver] = []

    def make(nodes=None) -> ComputeDriver:
        drv = ComputeDriver(e2e_cfg, nodes=nodes)
        drivers.append(drv)
        drv.setup()
        return drv

    yield make
    # Only this test's instances: on a shared libvirt other silvereye domains
    # (another test run, a real cloud) are none of our business.
    subnet = ipaddress.ip_network(e2e_cfg.network.subnet)
    for drv in drivers:
        try:
            for info in drv.list_instances():
                if info.private_ip and ipaddress.ip_address(info.private_ip) in subnet:
                    drv.terminate(info.instance_id)
        finally:
            drv.teardown()
            drv.close()


@pytest.fixture
def e2e_driver(driver_for):
    """A driver on this host's libvirt with its network and metadata redirect up."""
    return driver_for()


class MetadataServer:
    """A stand-in for the metadata service: answers each instance about itself, found by source address.

    ``data[instance_id]`` maps a path under /latest/ to the body; every request is
    recorded as (source address, path).
    """

    def __init__(self, driver: ComputeDriver, address: str, port: int):
        self.driver = driver
        self.data: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                source = self.client_address[0]
                server.requests.append((source, self.path))
                owner = next((i for i in server.driver.list_instances() if i.private_ip == source), None)
                body = None
                if owner is not None and self.path.startswith("/latest/"):
                    body = server.data.get(owner.instance_id, {}).get(self.path[len("/latest/"):])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def metadata_server_for(e2e_cfg):
    """metadata_server_for(driver) -> a MetadataServer on that driver's bridge, closed after the test."""
    servers = []

    def start(driver: ComputeDriver) -> MetadataServer:
        server = MetadataServer(driver, str(driver.network.gateway), e2e_cfg.network.metadata_port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def metadata_server(e2e_driver, metadata_server_for):
    return metadata_server_for(e2e_driver)


@pytest.fixture
def loopback_port():
    return free_port()


@pytest.fixture
def tiny_boot(e2e_driver, tiny_image) -> BootSource:
    """The tiny image imported into the driver's cache, as a kernel+ramdisk+root boot source."""
    images = e2e_driver.images
    return BootSource(
        root=images.add(tiny_image.root, "qcow2"),
        kernel=images.add_blob(tiny_image.kernel),
        ramdisk=images.add_blob(tiny_image.ramdisk),
        kernel_cmdline=tiny_image.kernel_cmdline,
    )
