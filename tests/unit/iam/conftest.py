import pytest

import silvereye.services.iam  # noqa: F401 - registers IAM's migrations
from silvereye.store import open_store
from tests.unit.iam.harness import Harness


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/iam.db")
    yield s
    s.close()


@pytest.fixture
def h(store):
    return Harness(store)
