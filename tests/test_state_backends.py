"""State stores, backend by backend: opening and locations, what only SQLite or only
PostgreSQL does (file modes, schema checks, state names, passwords, migrations)."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.domain import EMPTY_STATE
from reconciler.errors import StoreUnavailable
from reconciler.state import DEFAULT_LOCATION, StateStore, open_store, redact_location
from reconciler.state.interface import dump_holder, load_holder
from reconciler.state.sqlite import SqliteStore
from tests.state_support import (
    holder_for,
    make_record,
    snapshot,
)

# -- opening and locations ---------------------------------------------------


def test_open_store_defaults_to_the_environment_then_the_working_directory(
    tmp_path: Path,
) -> None:
    default = open_store(environ={}, cwd=tmp_path)
    assert isinstance(default, SqliteStore)
    assert default.path == tmp_path / DEFAULT_LOCATION
    assert default.display == DEFAULT_LOCATION
    from_env = open_store(environ={"RECONCILER_STATE": "elsewhere.db"}, cwd=tmp_path)
    assert isinstance(from_env, SqliteStore)
    assert from_env.path == tmp_path / "elsewhere.db"
    explicit = open_store("x.db", environ={"RECONCILER_STATE": "elsewhere.db"}, cwd=tmp_path)
    assert isinstance(explicit, SqliteStore)
    assert explicit.path == tmp_path / "x.db"
    assert list(tmp_path.iterdir()) == []


def test_an_empty_location_is_refused() -> None:
    with pytest.raises(StoreUnavailable, match="empty"):
        open_store("")


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (
            "postgresql://alice:pw@db:5432/app?state=prod",
            "postgresql://alice:***@db:5432/app?state=prod",
        ),
        ("postgres://alice:p%40ss@h1,h2/app", "postgres://alice:***@h1,h2/app"),
        ("postgresql://alice@db/app", "postgresql://alice@db/app"),
        (
            "postgresql://postgres:@/postgres?host=/tmp/x",
            "postgresql://postgres:@/postgres?host=/tmp/x",
        ),
        (
            "postgresql://db/app?user=a&password=pw&state=s",
            "postgresql://db/app?user=a&password=***&state=s",
        ),
        (".reconciler/state.db", ".reconciler/state.db"),
    ],
)
def test_redact_location_hides_passwords(location: str, shown: str) -> None:
    assert redact_location(location) == shown


def test_current_holder_describes_this_process() -> None:
    holder = holder_for("apply", "run-1")
    assert holder.pid == os.getpid()
    assert holder.since.endswith("Z") and "T" in holder.since
    assert load_holder(dump_holder(holder)) == holder
    assert load_holder("") is None
    assert load_holder('{"pid": "x"}') is None


# -- SQLite only -------------------------------------------------------------


def test_sqlite_creates_owner_only_files(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a common, permissive umask: the store must not rely on it
    try:
        store = open_store(environ={}, cwd=tmp_path)
        assert isinstance(store, SqliteStore)
        store.record(make_record())
        with store.lock(holder_for("apply", "run-1")):
            pass
        directory = tmp_path / ".reconciler"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for path in directory.iterdir():  # state.db, its -wal / -shm, state.db.lock
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert {p.name for p in directory.iterdir()} >= {"state.db", "state.db.lock"}
        store.close()
    finally:
        os.umask(old_umask)


def test_sqlite_open_and_read_create_nothing(tmp_path: Path) -> None:
    store = open_store(environ={}, cwd=tmp_path)
    assert store.read() == EMPTY_STATE
    assert store.remove(["1/a"]) == 0
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_sqlite_lock_file_names_the_holder_only_while_held(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    assert isinstance(store, SqliteStore)
    holder = holder_for("apply", "run-1")
    with store.lock(holder):
        assert load_holder(store.lock_path.read_text()) == holder
    assert store.lock_path.read_text() == ""
    assert not store.path.exists()  # locking alone writes no state


def test_sqlite_refuses_a_file_that_is_not_a_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match=r"state\.db"):
        open_store(str(path)).read()


def test_sqlite_reports_an_unusable_path_as_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    blocked = open_store(str(tmp_path / "a-file" / "state.db"))
    assert blocked.read() == EMPTY_STATE
    with pytest.raises(StoreUnavailable, match="a-file"):
        blocked.record(make_record())
    with (
        pytest.raises(StoreUnavailable, match="a-file"),
        blocked.lock(holder_for("a", "r")),
    ):
        pass
    with pytest.raises(StoreUnavailable):
        open_store(str(tmp_path)).read()  # a directory


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "state.db"
    store = open_store(str(path))
    store.record(make_record())
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET schema_version = 99")
    conn.close()
    with pytest.raises(StoreUnavailable, match="newer"):
        open_store(str(path)).read()


def test_sqlite_reads_back_100k_records(tmp_path: Path) -> None:
    """A big state round-trips whole (its speed is measured in benchmarks/, not here)."""
    store = open_store(str(tmp_path / "state.db"))
    records = [make_record(f"task-{i}") for i in range(100_000)]
    store.push(snapshot("L", 1, *records))
    store.close()
    reader = open_store(str(tmp_path / "state.db"))
    state = reader.read()
    reader.close()
    assert len(state.records) == 100_000
    assert state.records["1400000001/task-99999"] == records[-1]


# -- PostgreSQL only ---------------------------------------------------------


def test_postgres_states_in_one_database_are_independent(
    postgres_state_location: Callable[..., str], open_at: Callable[[str], StateStore]
) -> None:
    team_a = open_at(postgres_state_location(f"team-a-{uuid.uuid4().hex}"))
    team_b = open_at(postgres_state_location(f"team-b-{uuid.uuid4().hex}"))
    holder = holder_for("apply", "run-1")
    with team_a.lock(holder), team_b.lock(holder):
        team_a.record(make_record("only-in-a"))
    assert set(team_a.read().records) == {"1400000001/only-in-a"}
    assert team_b.read() == EMPTY_STATE


def test_postgres_default_state_name(postgres_url: str) -> None:
    store = open_store(postgres_url)
    assert getattr(store, "state_name", None) == "default"
    store.close()


@pytest.mark.parametrize(
    "bad", ["state=", "state=has%20space", "state=a&state=b", "state=" + "x" * 129]
)
def test_postgres_refuses_a_bad_state_name(bad: str) -> None:
    with pytest.raises(StoreUnavailable, match="state"):
        open_store(f"postgresql://db/app?{bad}")


@pytest.mark.parametrize(
    "location",
    [
        "postgresql://alice:s3cr%40t-pw@127.0.0.1:1/app?state=x",
        "postgresql://alice@127.0.0.1:1/app?password=s3cr%40t-pw&state=x",
    ],
)
def test_postgres_password_never_shows(location: str) -> None:
    store = open_store(location)
    for shown in (store.display, repr(store)):
        assert "s3cr" not in shown
    with pytest.raises(StoreUnavailable) as caught:
        store.read()
    message = str(caught.value)
    assert "s3cr" not in message
    assert "127.0.0.1" in message and "***" in message
    assert "\n" not in message
    with pytest.raises(StoreUnavailable) as caught, store.lock(holder_for("apply", "x")):
        pass
    assert "s3cr" not in str(caught.value)


def test_postgres_open_and_read_create_no_tables(
    new_postgres_database: Callable[[], str], open_at: Callable[[str], StateStore]
) -> None:
    import psycopg

    url = new_postgres_database()
    store = open_at(url)
    assert store.read() == EMPTY_STATE
    assert store.remove(["1/a"]) == 0
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'reconciler%'"
        ).fetchone()
    assert row == (0,)


def test_postgres_concurrent_first_use_migrates_once(
    new_postgres_database: Callable[[], str],
    postgres_state_location: Callable[..., str],
    open_at: Callable[[str], StateStore],
) -> None:
    url = new_postgres_database()
    stores = [open_at(postgres_state_location(url=url)) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def first_write(store: StateStore) -> None:
        try:
            barrier.wait()
            store.record(make_record())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(s.read().serial == 1 for s in stores)


def test_postgres_refuses_a_newer_schema(
    new_postgres_database: Callable[[], str], open_at: Callable[[str], StateStore]
) -> None:
    import psycopg

    url = new_postgres_database()
    open_at(url).record(make_record())
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO reconciler_schema_version (version) VALUES (99)")
    with pytest.raises(StoreUnavailable, match="newer"):
        open_at(url).read()
