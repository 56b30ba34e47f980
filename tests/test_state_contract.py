"""The state store contract: one suite every backend (SQLite, PostgreSQL) passes,
plus the few checks that only make sense for one backend."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.clock import SYSTEM_CLOCK
from reconciler.domain import EMPTY_STATE, LockHolder, Outcome, Record, StateSnapshot
from reconciler.errors import LockBusy, StateConflict, StateError, StoreUnavailable
from reconciler.state import DEFAULT_LOCATION, StateStore, current_holder, open_store
from reconciler.state.interface import dump_holder, load_holder
from reconciler.state.sqlite import SqliteStore
from reconciler.state.urls import redact_location

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def holder_for(operation: str, run_id: str) -> LockHolder:
    """This process as the lock holder for ``operation``."""
    return current_holder(operation, run_id, clock=SYSTEM_CLOCK)


def make_record(
    task: str = "task-a",
    *,
    sdk_app_id: int = 1400000001,
    outcome: Outcome = Outcome.STOPPED,
    request_id: str | None = "req-1",
) -> Record:
    return Record(
        address=f"{sdk_app_id}/{task}",
        sdk_app_id=sdk_app_id,
        task_id=task,
        region="ap-singapore",
        outcome=outcome,
        request_id=request_id,
        time="2024-05-01T12:00:00Z",
        source="manifests/a.yaml:9",
    )


def snapshot(lineage: str | None, serial: int, *records: Record) -> StateSnapshot:
    return StateSnapshot(lineage=lineage, serial=serial, records={r.address: r for r in records})


@pytest.fixture
def open_at() -> Iterator[Callable[[str], StateStore]]:
    """Open stores at a location; all are closed after the test."""
    opened: list[StateStore] = []

    def open_(location: str) -> StateStore:
        store = open_store(location)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(state_location: str, open_at: Callable[[str], StateStore]) -> StateStore:
    return open_at(state_location)


def spawn(code: str, location: str) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter with ``LOCATION`` set; stdout is a pipe."""
    env = {**os.environ, "LOCATION": location, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )


HOLD_LOCK = """
import os, sys, time
from reconciler.clock import SYSTEM_CLOCK
from reconciler.state import current_holder, open_store
holder = current_holder("apply", "child-run", clock=SYSTEM_CLOCK)
with open_store(os.environ["LOCATION"]).lock(holder):
    print("locked", flush=True)
    time.sleep(60)
"""

RECORD_FOREVER = """
import os
from reconciler.domain import Outcome, Record
from reconciler.state import open_store
store = open_store(os.environ["LOCATION"])
for i in range(100000):
    record = Record(f"1/t{i}", 1, f"t{i}", "ap-jakarta", Outcome.STOPPED, None,
                    "2024-05-01T12:00:00Z", "m.yaml:1")
    store.record(record)
    print(record.address, flush=True)
"""


# -- the contract: every backend ---------------------------------------------


def test_empty_store_reads_empty_state(store: StateStore) -> None:
    assert store.read() == EMPTY_STATE


def test_record_reads_back_equal(store: StateStore) -> None:
    record = make_record()
    assert store.record(record) == 1
    state = store.read()
    assert state.records == {record.address: record}
    assert state.lineage is not None
    assert state.serial == 1


def test_record_round_trips_every_field(store: StateStore) -> None:
    records = [
        make_record("a", sdk_app_id=2**63 - 1, outcome=Outcome.ALREADY_STOPPED, request_id=None),
        make_record("b/with/slashes", sdk_app_id=1, request_id="ünïcode-✓"),
    ]
    for record in records:
        store.record(record)
    assert store.read().records == {r.address: r for r in records}


def test_serial_bumps_per_commit_and_lineage_is_fixed(store: StateStore) -> None:
    serials = [store.record(make_record(f"t{i}")) for i in range(3)]
    assert serials == [1, 2, 3]
    lineage = store.read().lineage
    store.record(make_record("t3"))
    state = store.read()
    assert (state.lineage, state.serial) == (lineage, 4)


def test_record_upserts_by_address(store: StateStore) -> None:
    store.record(make_record(request_id="first"))
    newer = make_record(outcome=Outcome.ALREADY_STOPPED, request_id="second")
    assert store.record(newer) == 2
    assert store.read().records == {newer.address: newer}


def test_record_refuses_an_outcome_that_is_never_recorded(store: StateStore) -> None:
    with pytest.raises(ValueError):
        store.record(make_record(outcome=Outcome.FAILED))
    assert store.read() == EMPTY_STATE


def test_remove_deletes_in_one_commit_and_ignores_unknown(store: StateStore) -> None:
    a, b, c = (make_record(t) for t in "abc")
    for record in (a, b, c):
        store.record(record)
    assert store.remove([a.address, c.address, "1/unknown"]) == 4
    assert store.read().records == {b.address: b}
    assert store.remove(["1/unknown"]) == 4  # nothing deleted, no commit
    assert store.read().serial == 4


def test_remove_on_empty_store_changes_nothing(store: StateStore) -> None:
    assert store.remove(["1/a"]) == 0
    assert store.read() == EMPTY_STATE


def test_remove_of_nothing_changes_nothing(store: StateStore) -> None:
    store.record(make_record())
    assert store.remove([]) == 1
    assert store.read().serial == 1


def test_push_to_empty_store_accepts_any_lineage(store: StateStore) -> None:
    pushed = snapshot("lineage-from-elsewhere", 7, make_record("a"), make_record("b"))
    store.push(pushed)
    assert store.read() == pushed


def test_push_to_empty_store_with_serial_zero_gets_serial_one(store: StateStore) -> None:
    store.push(snapshot("L", 0, make_record()))
    assert store.read().serial == 1


def test_push_replaces_records_and_takes_the_newer_serial(store: StateStore) -> None:
    store.record(make_record("old"))
    lineage = store.read().lineage
    new = make_record("new")
    store.push(snapshot(lineage, 10, new))
    assert store.read() == snapshot(lineage, 10, new)


def test_push_of_the_current_serial_bumps_it(store: StateStore) -> None:
    store.record(make_record("a"))
    store.record(make_record("b"))
    pulled = store.read()
    store.push(pulled)  # same lineage, same serial: accepted, and now newer than any plan
    assert store.read() == snapshot(pulled.lineage, 3, *pulled.records.values())


def test_push_refuses_a_different_lineage(store: StateStore) -> None:
    store.record(make_record())
    before = store.read()
    with pytest.raises(StateConflict, match="--force") as caught:
        store.push(snapshot("another-lineage", 99, make_record("x")))
    assert "lineage" in str(caught.value)
    assert store.read() == before


def test_push_refuses_an_older_serial(store: StateStore) -> None:
    for task in "abc":
        store.record(make_record(task))
    before = store.read()
    with pytest.raises(StateConflict, match="--force") as caught:
        store.push(snapshot(before.lineage, 2, make_record("x")))
    assert "serial" in str(caught.value)
    assert store.read() == before


def test_push_force_overrides_lineage_and_serial(store: StateStore) -> None:
    for task in "abc":
        store.record(make_record(task))
    forced = make_record("forced")
    store.push(snapshot("another-lineage", 1, forced), force=True)
    assert store.read() == snapshot("another-lineage", 4, forced)


def test_push_refuses_a_state_without_lineage(store: StateStore) -> None:
    with pytest.raises(StateError, match="no lineage"):
        store.push(EMPTY_STATE)
    assert store.read() == EMPTY_STATE


def test_a_record_is_visible_to_another_store_once_returned(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    writer, reader = open_at(state_location), open_at(state_location)
    assert reader.read() == EMPTY_STATE
    record = make_record()
    writer.record(record)
    assert reader.read().records == {record.address: record}
    writer.remove([record.address])
    assert reader.read().records == {}


def test_second_locker_fails_at_once_naming_the_holder(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    holder = holder_for("apply", "run-1")
    with open_at(state_location).lock(holder):
        started = time.monotonic()
        other = open_at(state_location)
        with pytest.raises(LockBusy) as caught, other.lock(holder_for("plan", "run-2")):
            pytest.fail("took a lock that was held")
        assert time.monotonic() - started < 1.0
    assert caught.value.holder == holder
    message = str(caught.value)
    for part in (holder.host, str(holder.pid), holder.since, "apply"):
        assert part in message
    assert "\n" not in message


def test_lock_timeout_waits_then_fails(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    with open_at(state_location).lock(holder_for("apply", "run-1")):
        started = time.monotonic()
        other = open_at(state_location)
        with (
            pytest.raises(LockBusy) as caught,
            other.lock(holder_for("plan", "run-2"), timeout=0.6),
        ):
            pytest.fail("took a lock that was held")
        waited = time.monotonic() - started
    assert 0.55 <= waited < 3.0
    assert caught.value.waited >= 0.5
    assert "--lock-timeout" in str(caught.value)


def test_lock_timeout_succeeds_when_the_holder_lets_go(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    released = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with open_at(state_location).lock(holder_for("apply", "run-1")):
            held.set()
            time.sleep(0.3)
        released.set()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with open_at(state_location).lock(holder_for("plan", "run-2"), timeout=10):
        assert released.is_set()
    thread.join()


def test_released_lock_can_be_retaken(store: StateStore, state_location: str) -> None:
    holder = holder_for("apply", "run-1")
    with store.lock(holder):
        pass
    with store.lock(holder):
        pass
    other = open_store(state_location)
    try:
        with other.lock(holder):
            pass
    finally:
        other.close()


def test_lock_is_released_when_the_block_raises(store: StateStore) -> None:
    holder = holder_for("apply", "run-1")
    with pytest.raises(RuntimeError), store.lock(holder):
        raise RuntimeError("boom")
    with store.lock(holder, timeout=0):
        pass


def test_the_lock_does_not_block_readers(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    writer = open_at(state_location)
    with writer.lock(holder_for("apply", "run-1")):
        writer.record(make_record())
        assert len(open_at(state_location).read().records) == 1


def test_a_killed_holder_does_not_block_the_next_locker(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    child = spawn(HOLD_LOCK, state_location)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        store = open_at(state_location)
        with pytest.raises(LockBusy) as caught, store.lock(holder_for("plan", "run-2")):
            pytest.fail("took a lock that was held")
        assert caught.value.holder is not None
        assert caught.value.holder.pid == child.pid
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    # PostgreSQL notices the dead client within moments; the OS at once.
    with store.lock(holder_for("plan", "run-2"), timeout=10):
        pass


def test_records_returned_before_a_sigkill_survive_it(
    state_location: str, open_at: Callable[[str], StateStore]
) -> None:
    child = spawn(RECORD_FOREVER, state_location)
    assert child.stdout is not None
    reported = [child.stdout.readline().strip() for _ in range(25)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    reported.extend(line.strip() for line in child.stdout)  # what was in the pipe
    child.stdout.close()
    state = open_at(state_location).read()
    assert set(reported) <= set(state.records)
    assert state.serial == len(state.records)


# A model of the contract: random operations must agree with a plain dict.
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.sampled_from("abcde"), st.sampled_from(list(Outcome)[:2])),
        st.tuples(st.just("remove"), st.sets(st.sampled_from("abcdez"), max_size=3)),
    ),
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=_operations)
def test_random_operations_agree_with_a_model(
    new_state_location: Callable[[], str], operations: list[tuple[object, ...]]
) -> None:
    store = open_store(new_state_location())
    try:
        model: dict[str, Record] = {}
        serial = 0
        for operation in operations:
            if operation[0] == "record":
                _, task, outcome = operation
                assert isinstance(task, str) and isinstance(outcome, Outcome)
                record = make_record(task, outcome=outcome)
                model[record.address] = record
                serial += 1
                assert store.record(record) == serial
            else:
                _, tasks = operation
                assert isinstance(tasks, set)
                addresses = [make_record(t).address for t in sorted(tasks)]
                if any(a in model for a in addresses):
                    serial += 1
                for address in addresses:
                    model.pop(address, None)
                assert store.remove(addresses) == serial
        state = store.read()
        assert state.records == model
        assert state.serial == serial
    finally:
        store.close()


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


def test_sqlite_reads_100k_records_fast(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    records = [make_record(f"task-{i}") for i in range(100_000)]
    store.push(snapshot("L", 1, *records))
    store.close()
    reader = open_store(str(tmp_path / "state.db"))
    started = time.monotonic()
    state = reader.read()
    elapsed = time.monotonic() - started
    reader.close()
    assert len(state.records) == 100_000
    assert elapsed < 1.0


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
