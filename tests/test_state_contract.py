"""The state store contract: one suite every backend (SQLite, PostgreSQL) passes."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.domain import EMPTY_STATE, Outcome, Record
from reconciler.errors import LockBusy, StateConflict, StateError
from reconciler.state import StateStore, open_store
from tests.state_support import (
    HOLD_LOCK,
    RECORD_FOREVER,
    holder_for,
    make_record,
    snapshot,
    spawn,
)

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
