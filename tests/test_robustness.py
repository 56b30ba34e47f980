"""In-process checks of the pieces that keep a run bounded: the circuit breaker, the
database call guard, batched forgets (commit before report), interrupted cycles in
the metrics, the connection-level classification of real SDK failures, the shared
TaskId / address rules, and the bounded reader."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from reconciler.clock import SYSTEM_CLOCK, Halt
from reconciler.credentials.renewing import Issued, RenewingCredential
from reconciler.domain import (
    CallError,
    DesiredTask,
    ErrorClass,
    InvalidValue,
    LiveStatus,
    Outcome,
    TaskResult,
    check_serial,
    parse_address,
    task_id_problem,
)
from reconciler.engine import EngineSettings, Progress, apply_plan
from reconciler.errors import CloudCallError, InputError, Interrupted
from reconciler.instant import Instant
from reconciler.planner import make_plan
from reconciler.reading import InputTooLarge, read_bytes
from reconciler.runloop import CycleResult, LoopSettings, run_loop
from reconciler.state import StateStore, open_store
from reconciler.state.guard import CallGuard, GuardTripped
from reconciler.trtc import UNREACHABLE_CODE, ClientSettings, TrtcApi
from reconciler.trtc import Endpoint as TrtcEndpoint
from tests.fakes import FakeClock
from tests.state_support import make_record, snapshot

NOW = Instant.from_seconds(1_700_000_000)  # no task here has a stopAt: any time will do


class Unreachable:
    """An API whose every call never reaches the endpoint, counting the calls."""

    calls = 0
    lock = threading.Lock()

    def stop(self, *, sdk_app_id: int, task_id: str, region: str) -> str:
        with Unreachable.lock:
            Unreachable.calls += 1
        error = CallError("ClientNetworkError", "cannot connect: [Errno 111] Connection refused")
        raise CloudCallError(error, ErrorClass.UNREACHABLE)

    def describe(self, *, sdk_app_id: int, task_id: str, region: str) -> LiveStatus:
        raise AssertionError("not used")


class Quiet:
    def __init__(self) -> None:
        self.results: list[TaskResult] = []

    def on_result(self, result: TaskResult) -> None:
        self.results.append(result)

    def on_progress(self, progress: Progress) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store(str(tmp_path / "state.db"))


def desired(count: int) -> list[DesiredTask]:
    return [DesiredTask(1, f"t{i}", "ap-singapore", "m.yaml:1") for i in range(count)]


def test_the_breaker_stops_a_run_whose_every_call_is_unreachable(store: StateStore) -> None:
    Unreachable.calls = 0
    report = apply_plan(
        make_plan(desired(1000), store.read(), now=NOW),
        store=store,
        api_factory=Unreachable,
        observer=Quiet(),
        halt=Halt(FakeClock()),
        settings=EngineSettings(parallelism=4, breaker_threshold=20),
        rand=lambda: 0.5,
    )
    assert report.fatal is not None and report.fatal.code == UNREACHABLE_CODE
    assert "20 calls in a row" in report.fatal.message
    assert Unreachable.calls < 30  # not 1,000 tasks times 8 attempts
    assert report.not_attempted > 990
    assert store.read().records == {}


def test_the_guard_cuts_a_stalled_call_at_its_timeout_and_after_a_halt() -> None:
    halt = Halt()
    guard = CallGuard(halt, timeout=0.3, grace=0.2, tick=0.02)
    stalled = threading.Event()
    with guard.call(stalled.set) as call:
        assert stalled.wait(5)  # the watchdog's cancel unblocked the "driver"
    assert call.cut == "timeout" and not guard.tripped
    stalled.clear()
    threading.Timer(0.05, halt.set).start()
    with guard.call(stalled.set, timeout=60) as call:
        assert stalled.wait(5)
    assert call.cut == "halt" and guard.tripped
    with pytest.raises(GuardTripped), guard.call(stalled.set):
        pass
    guard.close()


def test_a_quick_call_is_never_cut() -> None:
    guard = CallGuard(Halt(), timeout=5, grace=1, tick=0.01)
    for _ in range(100):
        with guard.call(lambda: pytest.fail("cut")) as call:
            pass
        assert call.cut is None
    guard.close()


def test_forgets_commit_in_batches_before_they_are_reported(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    store.push(snapshot("L", 1, *(make_record(f"f{i}") for i in range(2500))))
    removed: list[int] = []
    real_remove = store.remove

    def counting_remove(addresses: list[str]) -> int:
        removed.append(len(addresses))
        return real_remove(addresses)

    committed = sqlite3.connect(store.display)  # another connection sees only commits

    class Checking(Quiet):
        def on_result(self, result: TaskResult) -> None:
            row = committed.execute(
                "SELECT 1 FROM records WHERE address = ?", (result.change.address,)
            ).fetchone()
            assert row is None, result.change.address
            super().on_result(result)

    store.remove = counting_remove  # type: ignore[method-assign]
    observer = Checking()
    report = apply_plan(
        make_plan([], store.read(), now=NOW),
        store=store,
        api_factory=lambda: pytest.fail("no call for a forget"),
        observer=observer,
        halt=Halt(FakeClock()),
    )
    assert report.counts[Outcome.FORGOTTEN.value] == 2500
    assert removed == [1000, 1000, 500]
    assert store.read().records == {} and store.read().serial == 4


def test_an_interrupted_cycle_is_counted_as_interrupted(tmp_path: Path) -> None:
    counts = {"stopped": 1, "already_stopped": 0, "failed": 0, "forgotten": 0}
    cut = CycleResult(False, counts, 5, 1_700_000_000.0, 0.2, interrupted=True)
    metrics = tmp_path / "m.prom"
    run_loop(
        lambda halt: cut,
        settings=LoopSettings(interval=60),
        halt=Halt(FakeClock()),
        metrics_file=str(metrics),
    )
    text = metrics.read_text()
    assert 'reconciler_cycles_total{result="interrupted"} 1' in text
    assert 'reconciler_cycles_total{result="success"} 0' in text
    assert "reconciler_last_run_success 0" in text


def test_the_sdk_failing_to_connect_is_classified_as_unreachable(tmp_path: Path) -> None:
    issued = Issued("AKIDtest", "key")
    settings = ClientSettings(
        credential=RenewingCredential(lambda: issued, describe="test", clock=SYSTEM_CLOCK),
        endpoint=TrtcEndpoint("http", "127.0.0.1:9"),  # discard: nothing listens
        request_timeout=5,
    )
    with pytest.raises(CloudCallError) as caught:
        TrtcApi(settings).stop(sdk_app_id=1, task_id="a", region="ap-singapore")
    assert caught.value.error_class is ErrorClass.UNREACHABLE
    assert "cannot connect to http://127.0.0.1:9" in caught.value.error.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x\u200by", "U+200B ZERO WIDTH SPACE"),
        ("x\u2066y", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("x\U000e0041", "TAG LATIN CAPITAL LETTER A"),
        ("x\u00ady", "SOFT HYPHEN"),
        ("x\ud800", "lone surrogate"),
        ("x y", "whitespace or a control character"),
    ],
)
def test_task_ids_with_invisible_characters_are_refused(text: str, words: str) -> None:
    problem = task_id_problem(text)
    assert problem is not None and words in problem.message
    assert problem.message.isascii() or problem.message.isprintable()  # shown escaped


def test_addresses_and_serials_follow_the_rules() -> None:
    assert parse_address("1400000001/a/b") == (1400000001, "a/b")
    for bad in ("01/a", "+1/a", "1/", "x/a", "99999999999999999999/a", "1/a\u202e"):
        with pytest.raises(InvalidValue):
            parse_address(bad)
    assert check_serial(2**63 - 1) == 2**63 - 1
    with pytest.raises(InvalidValue, match="out of range"):
        check_serial(2**63)


def test_the_bounded_reader_refuses_big_and_special_files(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2000)
    with pytest.raises(InputTooLarge) as caught:
        read_bytes(str(big), limit=1000, what="test file")
    assert caught.value.size == 2000
    with pytest.raises(InputError, match="not a regular file or a pipe"):
        read_bytes("/dev/zero", limit=1000, what="test file")
    with pytest.raises(InputError, match=r"not a regular file$"):
        read_bytes("/dev/null", limit=10, what="test file", regular_only=True)
    halt = Halt()
    halt.set()
    with pytest.raises(Interrupted):
        read_bytes(str(big), limit=10_000, what="test file", halt=halt)
