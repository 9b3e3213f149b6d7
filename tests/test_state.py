"""The shared state store, on both backends: the same rate-limit behaviour from SQLite and PostgreSQL, exact when
several processes count one key at once, and a clear error when the store cannot be reached."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from ragship.errors import StateUnavailable
from ragship.state import State, redact


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return None  # the default: HOME/state.sqlite
    url = request.getfixturevalue("postgres_url")
    State(url, tmp_path).ensure_schema()
    with State(url, tmp_path).connect() as c:  # each test starts from an empty log
        from ragship.state import RATE_HITS

        c.execute(RATE_HITS.delete())
    return url


def test_a_key_is_admitted_up_to_its_limit_then_told_how_long_to_wait(state_url, tmp_path):
    state = State(state_url, tmp_path / "home")
    assert [state.admit("k1", ((3, 60.0),)) for _ in range(3)] == [0, 0, 0]
    wait = state.admit("k1", ((3, 60.0),))
    assert 1 <= wait <= 60
    assert state.admit("k2", ((3, 60.0),)) == 0  # another key has its own count


def test_the_window_moves(state_url, tmp_path):
    state, at = State(state_url, tmp_path / "home"), 1000.0  # an injected clock: no sleeping
    limits = ((2, 1.0),)
    assert state.admit("k", limits, at) == 0 and state.admit("k", limits, at + 0.1) == 0
    assert state.admit("k", limits, at + 0.2) == 1
    assert state.admit("k", limits, at + 1.05) == 0


def test_every_limit_applies(state_url, tmp_path):
    state, at = State(state_url, tmp_path / "home"), 1000.0
    limits = ((5, 1.0), (6, 60.0))  # burst 5 a second, 6 a minute
    assert sum(state.admit("k", limits, at + i / 100) == 0 for i in range(8)) == 5
    later = [state.admit("k", limits, at + 1.1 + i / 100) == 0 for i in range(3)]
    assert later == [True, False, False]  # the minute's 6th, then none


def _count(url: str | None, home: str, attempts: int, admitted) -> None:
    state = State(url, home)
    ok = sum(state.admit("shared", ((50, 60.0),)) == 0 for _ in range(attempts))
    with admitted.get_lock():
        admitted.value += ok


def test_processes_counting_one_key_together_admit_exactly_the_limit(state_url, tmp_path):
    State(state_url, tmp_path / "home").ensure_schema()
    context = multiprocessing.get_context("spawn")
    admitted = context.Value("i", 0)
    procs = [context.Process(target=_count, args=(state_url, str(tmp_path / "home"), 40, admitted))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert admitted.value == 50  # 160 attempts, 4 processes, one limit: never 51, never fewer


def test_an_unreachable_store_is_a_clear_error_without_the_password(tmp_path):
    from conftest import free_port

    state = State(f"postgresql://app:s3cret@127.0.0.1:{free_port()}/db", tmp_path)
    with pytest.raises(StateUnavailable) as e:
        state.admit("k", ((1, 60.0),))
    assert "postgresql+psycopg://app:***@127.0.0.1" in str(e.value) and "s3cret" not in str(e.value)
    assert "state.url" in str(e.value)


def test_redact_keeps_what_names_the_store():
    assert redact("postgresql://u:p@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redact("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


def test_the_migrations_build_exactly_the_tables_the_code_uses(state):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ragship.state import migrate
    from ragship.state.tables import METADATA

    state.ensure_schema()
    with state.connect() as c:
        assert migrate.revision(c) == migrate.head()
        assert compare_metadata(MigrationContext.configure(c), METADATA) == []


def test_a_store_from_before_alembic_is_upgraded_keeping_its_rows(tmp_path):
    import sqlite3

    home = tmp_path / "home"
    home.mkdir()
    with sqlite3.connect(home / "state.sqlite") as db:  # as the first state store made it (no alembic_version)
        db.execute("CREATE TABLE ragship_rate_hits (key_id VARCHAR(64) NOT NULL, at FLOAT NOT NULL)")
        db.execute("INSERT INTO ragship_rate_hits VALUES ('k', ?)", (time.time(),))
    state = State(None, home)
    assert state.admit("k", ((1, 60.0),)) > 0  # the old row still counts
    assert state.admit("other", ((1, 60.0),)) == 0


def test_a_store_newer_than_this_ragship_is_refused(tmp_path):
    from sqlalchemy import text

    from ragship.errors import HomeFileDamaged

    state = State(None, tmp_path)
    state.ensure_schema()
    with state.connect() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(HomeFileDamaged, match="newer than this ragship knows"):
        State(None, tmp_path).ensure_schema()


def test_an_older_homes_keys_are_imported_once_and_a_broken_file_fails_closed(state):
    import json

    from ragship.access import KeyStore
    from ragship.errors import HomeFileDamaged

    secret, record = KeyStore(State(None, state.home / "old")).create("reader", ["red"], "ops")
    state.home.mkdir(parents=True, exist_ok=True)
    old = {"keys": [{**record.__dict__}]}
    (state.home / "keys.json").write_text(json.dumps(old))
    keys = KeyStore(state)
    assert keys.authenticate(secret).groups == {"red"}  # the old home's key works, from the store
    assert not (state.home / "keys.json").exists() and (state.home / "keys.json.imported").exists()
    (state.home / "keys.json").write_text('{"keys": [{"id": 1}]}')  # a damaged file from a backup gone wrong
    with pytest.raises(HomeFileDamaged, match="restore keys.json"):
        KeyStore(State(None if state.sqlite else state.url, state.home)).authenticate(secret)


def test_reading_the_store_does_not_wait_for_a_writer_on_sqlite(tmp_path):
    import sqlite3

    from ragship.access import KeyStore

    keys = KeyStore(State(None, tmp_path))
    secret, _ = keys.create("reader", ["red"])
    writer = sqlite3.connect(tmp_path / "state.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write (a rate-limit check, a log row)
    try:
        t = time.perf_counter()
        assert keys.authenticate(secret).groups == {"red"}  # a read: no write lock needed, so no wait
        assert time.perf_counter() - t < 1.0
    finally:
        writer.execute("ROLLBACK")


def test_a_damaged_sqlite_file_is_state_corrupt_naming_it(tmp_path):
    """Issue 31 item 6: a state.sqlite with a damaged header gave exit 10 and a PostgreSQL hint."""
    from ragship.access import KeyStore
    from ragship.errors import HomeFileDamaged

    state = State(None, tmp_path)
    KeyStore(state).create("admin", [])
    state.close()  # the last connection checkpoints the WAL into the file, as when a process exits
    with (tmp_path / "state.sqlite").open("r+b") as f:
        f.write(b"garbage garbage garbage")
    with pytest.raises(HomeFileDamaged, match=r"state\.sqlite is damaged .*ragship doctor") as e:
        KeyStore(State(None, tmp_path)).records()
    assert e.value.exit_code == 6
