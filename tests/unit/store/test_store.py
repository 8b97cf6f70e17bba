"""The store: the same code and the same answers on SQLite and PostgreSQL."""

import threading

import pytest
import sqlalchemy as sa

from silvereye import store as store_mod
from tests.fixtures.postgres import postgres_server

things = sa.Table(
    "test_things",
    sa.MetaData(),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)
extra = sa.Table("test_extra", sa.MetaData(), sa.Column("id", sa.String(32), primary_key=True))


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    store_mod.register_migrations("test", [store_mod.create_tables(things)])
    url = f"sqlite:///{tmp_path}/s.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = store_mod.open_store(url)
    yield s
    with s.write() as c:
        things.drop(c, checkfirst=True)
        extra.drop(c, checkfirst=True)
        c.execute(sa.delete(store_mod.schema_versions).where(store_mod.schema_versions.c.component == "test"))
    s.close()
    store_mod._MIGRATIONS.pop("test", None)


def test_write_commits_and_error_rolls_back(store):
    with store.write() as c:
        c.execute(sa.insert(things).values(id="a", n=1))
    with pytest.raises(RuntimeError):
        with store.write() as c:
            c.execute(sa.insert(things).values(id="b", n=2))
            raise RuntimeError("half way")
    with store.read() as c:
        assert [r.id for r in c.execute(sa.select(things))] == ["a"]


def test_nested_write_joins_the_outer_transaction(store):
    with pytest.raises(RuntimeError):
        with store.write() as outer:
            outer.execute(sa.insert(things).values(id="x", n=1))
            with store.write() as inner:
                assert inner is outer
                inner.execute(sa.insert(things).values(id="y", n=1))
            raise RuntimeError
    with store.read() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(things)).scalar() == 0


def test_concurrent_increments_are_serialised(store):
    with store.write() as c:
        c.execute(sa.insert(things).values(id="ctr", n=0))

    def bump():
        for _ in range(20):
            with store.write() as c:
                n = c.execute(sa.select(things.c.n).where(things.c.id == "ctr").with_for_update()).scalar()
                c.execute(sa.update(things).where(things.c.id == "ctr").values(n=n + 1))

    ts = [threading.Thread(target=bump) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with store.read() as c:
        assert c.execute(sa.select(things.c.n)).scalar() == 80


def test_migrations_apply_once_and_in_order(store):
    assert store.versions()["test"] == 1
    store_mod.register_migrations("test", [store_mod.create_tables(things), store_mod.create_tables(extra)])
    assert store.migrate() == {"test": (1, 2)}
    assert store.migrate() == {}
    assert store.versions()["test"] == 2
    with store.read() as c:
        assert sa.inspect(c).has_table("test_extra")


def test_newer_schema_than_code_is_refused(store):
    with store.write() as c:
        c.execute(sa.update(store_mod.schema_versions).where(store_mod.schema_versions.c.component == "test").values(version=9))
    with pytest.raises(Exception, match="newer than this silvereye knows"):
        store.migrate()
