import pytest

from tests.fixtures.server import RunningServer


@pytest.fixture
def server(tmp_path):
    """A fresh silvereye server (SQLite store) for one test."""
    s = RunningServer(tmp_path).start()
    yield s
    s.kill()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for a module's read-mostly tests."""
    s = RunningServer(tmp_path_factory.mktemp("server")).start()
    yield s
    s.kill()
