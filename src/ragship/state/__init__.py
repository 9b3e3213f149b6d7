"""The service's shared state store: one database that every server process (and every replica on other machines)
reads and writes, so that what one replica counts the others see. SQLite in the home by default (embedded,
nothing to start; shared by the processes of one machine), PostgreSQL when `state.url` names one (shared by
machines). SQLAlchemy Core speaks both; Alembic builds and upgrades the schema on first use (ADR 0016).

Held here (state/tables.py): API keys, upload jobs, the query log and feedback, improvement runs, the monitor's
drift references, source syncs, alert states and the alert outbox, incidents, the events log, and the rate-limit
log (one row per admitted request, per key; a sliding-window log, exact across processes because each key's
check-and-insert runs under a per-key lock in one transaction). Each table has one owner module that alone reads
and writes it (tables.OWNERS): the rate-limit log's is this one (State.admit). The schema is upgraded by Alembic
(state/migrate.py, state/migrations). A home's files from before the store (keys.json, jobs/, monitor.sqlite) are
imported once (state/legacy.py)."""

from __future__ import annotations

import math
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ragship.errors import HomeFileDamaged, StateUnavailable
from ragship.home import Home
from ragship.state import legacy, migrate
from ragship.state.tables import RATE_HITS


def engine_url(url: str | None, home: Path) -> str:
    """SQLAlchemy's URL for `state.url`: postgresql:// is driven by psycopg 3; none is HOME/state.sqlite."""
    if not url:
        return f"sqlite:///{Home(home).state_sqlite.resolve()}"
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, rest = url.split("://", 1)
    if "@" in rest:
        user, host = rest.rsplit("@", 1)
        rest = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else rest
    return f"{scheme}://{rest}"


class State:
    def __init__(self, url: str | None, home: Path):
        self.home = Path(home)
        self.url = engine_url(url, home)
        self.sqlite = self.url.startswith("sqlite")
        if self.sqlite:
            Path(home).mkdir(parents=True, exist_ok=True)
        self._engine = _sqlite_engine(self.url) if self.sqlite else create_engine(
            self.url, pool_pre_ping=True, pool_size=4, max_overflow=8, connect_args={"connect_timeout": 5})
        self._schema = threading.Lock()
        self._ready = False

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def connect(self, read: bool = False) -> Iterator[Connection]:
        """A transaction on the store (`read`: one that only reads, which on SQLite does not take the write lock);
        StateUnavailable (naming the store, password hidden) when it fails."""
        try:
            with self._engine.connect() as c:
                with c.execution_options(ragship_read=read).begin():
                    yield c
        except SQLAlchemyError as e:
            raise _unavailable(self.url, e) from None

    @contextmanager
    def ready(self, read: bool = False) -> Iterator[Connection]:
        """A transaction on the store, its schema upgraded first (once per process)."""
        self.ensure_schema()
        with self.connect(read) as c:
            yield c

    def rows(self, statement) -> list[tuple]:
        """The rows `statement` reads, in a read-only transaction. For a table's owner (STYLE.md "Storage"):
        tests/state/test_table_owners.py checks that no other module names its table."""
        with self.ready(read=True) as c:
            return [tuple(r) for r in c.execute(statement)]

    def write(self, statement, params: Any = None) -> int:
        """Run `statement` in a transaction of its own; the number of rows it changed."""
        with self.ready() as c:
            return c.execute(statement, params).rowcount

    def ensure_schema(self) -> None:
        if self._ready:  # every request asks: no lock once the schema is there
            return
        with self._schema:
            if not self._ready:
                with self.connect() as c:
                    if not self.sqlite:  # replicas starting together upgrade once
                        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id("ragship schema")})
                    migrate.upgrade(c)
                legacy.import_home(self, self.home)
                self._ready = True

    def exclusive(self, c: Connection, name: str) -> None:
        """Serialize transaction `c` with every other that names `name`, in any process: a PostgreSQL advisory lock
        held to its end (SQLite's writing transactions are BEGIN IMMEDIATE: one writer at a time already)."""
        if not self.sqlite:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(name)})

    # -- rate limits ---------------------------------------------------------------------------------------------
    def admit(self, key_id: str, limits: tuple[tuple[int, float], ...], now: float | None = None) -> int:
        """Count a request of `key_id` (at `now`, default the clock's time) against each (requests, window seconds)
        limit: 0 when it is admitted (and recorded), else the seconds until the oldest request it must wait for
        leaves its window."""
        longest = max(window for _, window in limits)
        with self.ready() as c:
            self.exclusive(c, key_id)
            at = time.time() if now is None else now
            waits = [_wait(c, key_id, at, n, window) for n, window in limits]
            if any(waits):
                return max(waits)
            c.execute(RATE_HITS.delete().where(RATE_HITS.c.key_id == key_id, RATE_HITS.c.at < at - longest))
            c.execute(RATE_HITS.insert().values(key_id=key_id, at=at))
            return 0


def _wait(c: Connection, key_id: str, at: float, n: int, window: float) -> int:
    mine = (RATE_HITS.c.key_id == key_id, RATE_HITS.c.at > at - window)
    if c.execute(select(func.count()).where(*mine)).scalar_one() < n:
        return 0
    nth_newest = c.execute(select(RATE_HITS.c.at).where(*mine).order_by(RATE_HITS.c.at.desc())
                           .offset(n - 1).limit(1)).scalar_one()
    return max(1, math.ceil(nth_newest + window - at))


CORRUPT_SQLITE = ("file is not a database", "database disk image is malformed")


def _unavailable(url: str, e: SQLAlchemyError) -> StateUnavailable | HomeFileDamaged:
    """The error for a failed transaction: a damaged SQLite file is HomeFileDamaged naming it (exit 6, doctor),
    anything else StateUnavailable naming the store."""
    reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300]
    if url.startswith("sqlite") and any(m in reason for m in CORRUPT_SQLITE):
        path = url.split(":///", 1)[-1]
        return HomeFileDamaged(f"{path} is damaged ({reason}): restore it from a backup, or move it aside to start "
                            "with no keys, jobs, query log or alerts; `ragship doctor` explains")
    return StateUnavailable(f"the state store {redact(url)} failed ({type(e).__name__}: {reason}); check that it "
                            "is running and reachable, and `state.url` in ragship.toml")


def _sqlite_engine(url: str) -> Engine:
    """SQLite for several processes: WAL (readers never block), and every writing transaction BEGIN IMMEDIATE so
    a check-then-insert holds the write lock from its first read (pysqlite's own BEGIN is deferred); one that
    only reads begins deferred and never waits for a writer."""
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi, _record) -> None:
        dbapi.isolation_level = None  # we issue BEGIN ourselves
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("ragship_read") else "BEGIN IMMEDIATE")

    return engine


def _lock_id(name: str) -> int:
    """A PostgreSQL advisory-lock key for `name`, the same in every process (hash() is salted per process)."""
    return zlib.crc32(name.encode())
