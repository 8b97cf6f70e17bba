"""Durable state: SQLite (WAL) by default, PostgreSQL by URL, the same code on both.

Services declare their tables with SQLAlchemy Core on :data:`metadata` and
register versioned migrations with :func:`register_migrations`; the store
applies what is pending at start-up. Handlers use :meth:`Store.write` for a
transaction that must commit before the response is sent (a mutating request
never answers before its change is durable), and :meth:`Store.read` for
consistent reads.

Why SQLite's transactions are driven by hand: Python's sqlite3 module starts
transactions lazily and never with ``BEGIN IMMEDIATE``, so a read-then-write
transaction can fail to upgrade its lock under concurrency. We take the write
lock up front for writes (SQLAlchemy's documented pysqlite recipe).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from silvereye.errors import SilvereyeError

metadata = sa.MetaData()

Migration = Callable[[Connection], None]
_MIGRATIONS: dict[str, list[Migration]] = {}

schema_versions = sa.Table(
    "schema_versions",
    metadata,
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


def register_migrations(component: str, migrations: list[Migration]) -> None:
    """Declare a component's schema history; migration i brings it to version i+1."""
    _MIGRATIONS[component] = migrations


def create_tables(*tables: sa.Table) -> Migration:
    """A migration that creates these tables (and their indexes)."""

    def migrate(conn: Connection) -> None:
        for t in tables:
            t.create(conn, checkfirst=True)

    return migrate


class Store:
    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(url, echo)
        elif self.dialect == "postgresql":
            if sa.engine.make_url(url).drivername == "postgresql":
                url = url.replace("postgresql://", "postgresql+psycopg://", 1)
            self.engine = sa.create_engine(url, echo=echo, pool_size=8, max_overflow=16, pool_pre_ping=True)
        else:
            raise SilvereyeError(f"store url {url!r}: only sqlite:/// and postgresql:// are supported")
        self._write_engine = self.engine.execution_options(x_begin="IMMEDIATE") if self.dialect == "sqlite" else self.engine
        self._local = threading.local()
        # SQLite has one writer at a time; threads of this process queue here, in order and woken at once,
        # rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @staticmethod
    def _sqlite_engine(url: str, echo: bool) -> Engine:
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            import os

            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=16,
            max_overflow=16,
            poolclass=sa.pool.QueuePool,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed mutation survives power loss, not just a crash.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("x_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine

    # -- transactions ------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends (rolled back on error).

        Nested use in one thread joins the outer transaction, so a handler can
        call helpers that open their own ``write()`` blocks.
        """
        outer = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self._write_lock or contextlib.nullcontext():
            with self._write_engine.begin() as conn:
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (joins an enclosing write in this thread)."""
        outer = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    # -- schema ------------------------------------------------------------

    def migrate(self) -> dict[str, tuple[int, int]]:
        """Apply pending migrations; returns {component: (from_version, to_version)}."""
        applied: dict[str, tuple[int, int]] = {}
        with self.write() as conn:
            if self.dialect == "postgresql":
                # Several frontends may start at once against one database.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(872873)")
            schema_versions.create(conn, checkfirst=True)
            current = {r.component: r.version for r in conn.execute(sa.select(schema_versions))}
            for component, migrations in sorted(_MIGRATIONS.items()):
                have = current.get(component, 0)
                if have > len(migrations):
                    raise SilvereyeError(
                        f"the database has {component} schema version {have}, newer than this silvereye knows "
                        f"({len(migrations)}); upgrade silvereye"
                    )
                for i in range(have, len(migrations)):
                    migrations[i](conn)
                if have < len(migrations):
                    if have == 0:
                        conn.execute(sa.insert(schema_versions).values(component=component, version=len(migrations)))
                    else:
                        conn.execute(
                            sa.update(schema_versions)
                            .where(schema_versions.c.component == component)
                            .values(version=len(migrations))
                        )
                    applied[component] = (have, len(migrations))
        return applied

    def versions(self) -> dict[str, int]:
        with self.read() as conn:
            if not sa.inspect(conn).has_table("schema_versions"):
                return {}
            return {r.component: r.version for r in conn.execute(sa.select(schema_versions))}

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Open the store and bring its schema up to date."""
    store = Store(url)
    store.migrate()
    return store
