import pytest

from silvereye.services.ec2 import install
from tests.unit.ec2.harness import Ec2Server, image_files


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One in-process server on the test driver per test module."""
    s = Ec2Server(tmp_path_factory.mktemp("ec2")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def acme(server):
    return server.account("acme")


@pytest.fixture(scope="module")
def other(server):
    return server.account("other")


@pytest.fixture(scope="module")
def ec2(server, acme):
    return server.client("ec2", acme)


@pytest.fixture(scope="module")
def image(server, tmp_path_factory):
    """A public kernel+ramdisk+root image owned by the admin account, installed as `silvereye install` does."""
    files = image_files(tmp_path_factory.mktemp("image"))
    return install.install_image(server.config, server.store, "test-tiny", root=files["root"], root_format="qcow2",
                                 kernel=files["kernel"], ramdisk=files["ramdisk"],
                                 kernel_cmdline="console=ttyS0 root=/dev/vda")
