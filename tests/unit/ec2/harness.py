"""The real gateway with EC2 on libvirt's test driver, served by uvicorn in a thread of the test process.

Every layer a client meets is real -- HTTP, SigV4, the EC2 codec, IAM's
policies, the store, S3 for image parts, the compute driver on libvirt's
``test://`` driver (a real libvirt API without a hypervisor) -- so boto3
clients talk to it as to a cloud. What a test driver cannot do (boot a
guest, serve DHCP) is left to the e2e tests under QEMU.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import botocore.exceptions
import pytest
import uvicorn

from silvereye.config import from_dict
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.app import Gateway
from silvereye.services.iam.access import IamAccess
from silvereye.services.iam.credentials import StoreCredentialResolver
from silvereye.services.registry import load_services
from silvereye.store import open_store
from tests.unit.s3.harness import InProcessServer, free_port

REGION = "silvereye-1"
ZONES = ["silvereye-1a", "silvereye-1b"]
# A test-driver node: 4 CPUs, 16 GiB, no domains; a fresh one for every connection.
TEST_NODE = Path(__file__).resolve().parents[1] / "compute" / "testnode.xml"


def ec2_config(root: Path, *, node_xml: Path = TEST_NODE, subnet: str = "10.214.0.0/24", **extra: Any):
    tag = secrets.token_hex(3)
    data = {
        "region": REGION, "availability_zones": ZONES, "dns_domain": "cloud.test",
        "data_dir": str(root / "data"), "log_dir": str(root / "log"),
        "api": {"listen": "127.0.0.1", "port": free_port(), "public_host": "127.0.0.1"},
        "compute": {"libvirt_uri": f"test://{node_xml}", "domain_type": "qemu"},
        "network": {"name": f"ec2-unit-{tag}", "bridge": f"eu{tag}", "subnet": subnet, "metadata_port": free_port()},
    }
    data.update(extra)
    return from_dict(data)


class Ec2Server(InProcessServer):
    """S3's in-process server (accounts, users, clients), configured for EC2 on the test driver."""

    def __init__(self, root: Path, **config: Any):  # the parent's, with EC2's configuration
        self.root = root
        self.config = ec2_config(root, **config)
        self.port = self.config.api.port
        services = load_services()  # importing them registers their tables' migrations
        self.store = open_store(self.config.store_url)
        self.gateway = Gateway(config=self.config, services=services, store=self.store,
                               resolver=StoreCredentialResolver(self.store), access=IamAccess(self.store), threads=8)
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.gateway, host="127.0.0.1", port=self.port, loop="asyncio",
                                                     http="httptools", lifespan="on", log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="ec2-test-server", daemon=True)

    def start(self) -> "Ec2Server":
        super().start()
        return self

    def stop(self) -> None:
        rt = self.runtime
        rt.idle(timeout=30)
        for info in rt.driver.list_instances():
            rt.driver.terminate(info.instance_id)
        super().stop()
        rt.driver.teardown()

    @property
    def runtime(self):  # noqa: ANN201
        return runtime_for(self.store)

    def settle(self, timeout: float = 30) -> None:
        """Wait until the background work (launches, stops...) is done."""
        assert self.runtime.idle(timeout=timeout), "background work did not finish"


def image_files(directory: Path) -> dict[str, Path]:
    """A kernel, a ramdisk (opaque blobs: the test driver boots nothing) and a 32 MiB qcow2 root disk."""
    directory.mkdir(parents=True, exist_ok=True)
    kernel, ramdisk, root = directory / "vmlinuz", directory / "initrd.img", directory / "root.qcow2"
    kernel.write_bytes(b"kernel " + secrets.token_bytes(64))
    ramdisk.write_bytes(b"ramdisk " + secrets.token_bytes(64))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "32M"], check=True)
    return {"kernel": kernel, "ramdisk": ramdisk, "root": root}


@contextlib.contextmanager
def aws_error(code: str, status: int | None = None, match: str | None = None) -> Iterator[pytest.ExceptionInfo]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        yield info
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if status is not None:
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    if match is not None:
        assert match in error["Message"], error["Message"]
