import hashlib

import pytest

from tests.unit.s3.harness import InProcessServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One in-process server per test module (each test makes its own buckets)."""
    s = InProcessServer(tmp_path_factory.mktemp("s3")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def acme(server):
    return server.account("acme")


@pytest.fixture(scope="module")
def other(server):
    return server.account("other")


@pytest.fixture(scope="module")
def s3(server, acme):
    return server.client("s3", acme)


@pytest.fixture
def bucket(s3, request):
    """A fresh bucket named after the test."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    words = "".join(c if c.isalnum() else "-" for c in request.node.originalname.lower().removeprefix("test_"))
    name = f"{words[:45].strip('-')}-{digest}"
    s3.create_bucket(Bucket=name)
    return name
