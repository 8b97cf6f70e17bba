from tests.unit.iam.conftest import h, store  # noqa: F401 - the same fixtures: an account on SQLite
