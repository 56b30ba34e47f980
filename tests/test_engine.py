"""The apply engine against a scripted TRTC API, on fake time, with a real SQLite store.

Covers each error class of the adapter's tree, retries and their bounds, the fatal
halt after at most one round of in-flight calls, commit-before-report, and halts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from reconciler.backoff import RetryPolicy
from reconciler.clock import Halt
from reconciler.domain import (
    EMPTY_STATE,
    DesiredTask,
    LiveStatus,
    Outcome,
    TaskResult,
)
from reconciler.engine import ApplyReport, EngineSettings, Progress, apply_plan, refresh
from reconciler.errors import StateError
from reconciler.instant import Instant
from reconciler.planner import make_plan
from reconciler.ratelimit import RateSettings
from reconciler.state import StateStore, open_store
from tests.fakes import FakeClock, ScriptedCloud

NOW = Instant.from_seconds(1_700_000_000)  # no task here has a stopAt: any time will do


class Recorder:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.results: list[TaskResult] = []
        self.committed_before_report = True

    def on_result(self, result: TaskResult) -> None:
        if result.outcome.recorded:
            seen = open_store(self.store.display).read().records
            self.committed_before_report &= result.change.address in seen
        self.results.append(result)

    def on_progress(self, progress: Progress) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = open_store(str(tmp_path / "state.db"))
    yield s
    s.close()


def tasks(n: int) -> list[DesiredTask]:
    return [
        DesiredTask(1400000001, f"t{i:03d}", "ap-singapore", f"m.yaml:{i + 1}") for i in range(n)
    ]


def run(
    store: StateStore,
    n: int,
    script: Mapping[str, Sequence[str | None]],
    *,
    parallelism: int = 1,
    max_attempts: int = 5,
    on_call: Callable[[int, Halt], None] | None = None,
) -> tuple[ApplyReport, Recorder, list[str]]:
    halt = Halt(FakeClock())
    cloud = ScriptedCloud(script, on_call=(lambda c: on_call(c, halt)) if on_call else None)
    recorder = Recorder(store)
    report = apply_plan(
        make_plan(tasks(n), store.read(), now=NOW),
        store=store,
        api_factory=cloud.api,
        observer=recorder,
        settings=EngineSettings(
            parallelism=parallelism,
            rate=RateSettings(rate=20),
            retry=RetryPolicy(max_attempts=max_attempts, deadline=60.0),
        ),
        halt=halt,
        rand=lambda: 0.5,
    )
    return report, recorder, cloud.calls


def test_success_and_converged_are_recorded_before_reported(store: StateStore) -> None:
    report, recorder, calls = run(store, 3, {"1400000001/t001": ["FailedOperation.TaskFinished"]})
    assert report.counts["stopped"] == 2
    assert report.counts["already_stopped"] == 1
    assert recorder.committed_before_report
    records = store.read().records
    assert records["1400000001/t001"].outcome is Outcome.ALREADY_STOPPED
    assert records["1400000001/t000"].request_id == "req-1400000001/t000"
    assert sorted(calls) == [f"1400000001/t{i:03d}" for i in range(3)]


@pytest.mark.parametrize(
    "code",
    [
        "InternalError",
        "ServerNetworkError",
        "ClientNetworkError",
        "JSONDecodeError",
        "KeyError",
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
    ],
)
def test_transient_errors_are_retried(store: StateStore, code: str) -> None:
    report, recorder, calls = run(store, 2, {"1400000001/t000": [code, code]})
    assert report.counts["stopped"] == 2 and report.failed == 0
    assert calls.count("1400000001/t000") == 3
    assert recorder.results[0].attempts in (1, 3)


@pytest.mark.parametrize(
    "code",
    [
        "InvalidParameter.TaskId",
        "InvalidParameter.SdkAppId",
        "MissingParameter",
        "UnsupportedRegion",
        "InvalidParameter.BodyParamsError",
        "SomethingNew",
    ],
)
def test_task_errors_fail_only_that_task(store: StateStore, code: str) -> None:
    report, recorder, calls = run(store, 4, {"1400000001/t002": [code]})
    assert report.failed == 1
    assert report.counts["stopped"] == 3
    assert calls.count("1400000001/t002") == 1
    failed = [r for r in recorder.results if r.outcome is Outcome.FAILED]
    assert failed[0].error is not None and failed[0].error.code == code
    assert "1400000001/t002" not in store.read().records


def test_retries_are_bounded_by_attempts(store: StateStore) -> None:
    report, _, calls = run(store, 1, {"1400000001/t000": ["InternalError"] * 10}, max_attempts=3)
    assert report.failed == 1
    assert len(calls) == 3


@pytest.mark.parametrize("code", ["AuthFailure.SignatureFailure", "UnauthorizedOperation"])
def test_fatal_error_stops_the_run_after_one_round(store: StateStore, code: str) -> None:
    script = {f"1400000001/t{i:03d}": [code] for i in range(100)}
    report, _, calls = run(store, 100, script, parallelism=4)
    assert report.fatal is not None and report.fatal.code == code
    assert len(calls) <= 4
    assert report.not_attempted >= 96
    assert report.failed == len(calls)
    assert store.read().records == {}


def test_halt_stops_new_calls_and_commits_finished(store: StateStore) -> None:
    def halt_after_five(count: int, halt: Halt) -> None:
        if count == 5:
            halt.set()

    report, _, calls = run(store, 50, {}, parallelism=1, on_call=halt_after_five)
    assert report.interrupted
    assert len(calls) == 5
    assert len(store.read().records) == 5
    assert report.not_attempted == 45


def test_forget_touches_state_only(store: StateStore) -> None:
    run(store, 2, {})
    recorder = Recorder(store)
    plan = make_plan(tasks(1), store.read(), now=NOW)
    report = apply_plan(
        plan,
        store=store,
        api_factory=lambda: pytest.fail("no API call for a forget"),
        observer=recorder,
        halt=Halt(FakeClock()),
    )
    assert report.counts["forgotten"] == 1
    assert list(store.read().records) == ["1400000001/t000"]


def test_refresh_annotates_and_stops_nothing() -> None:
    plan = make_plan(
        [
            DesiredTask(1, "live", "ap-mumbai", "m:1"),
            DesiredTask(1, "gone", "ap-mumbai", "m:2"),
            DesiredTask(1, "bad", "ap-mumbai", "m:3"),
        ],
        EMPTY_STATE,
        now=NOW,
    )
    report = refresh(
        plan.changes,
        api_factory=ScriptedCloud({"1/bad": ["InvalidParameter.TaskId"]}).api,
        halt=Halt(FakeClock()),
    )
    assert report.live == {"1/live": LiveStatus.IN_PROGRESS, "1/gone": LiveStatus.NOT_EXIST}
    assert set(report.errors) == {"1/bad"}


def test_fatal_error_halts_only_its_own_run(store: StateStore) -> None:
    """A credential failure stops this apply, not the caller's halt (a run loop goes on)."""
    halt = Halt(FakeClock())
    script = {f"1400000001/t{i:03d}": ["AuthFailure.SecretIdNotFound"] for i in range(10)}
    report = apply_plan(
        make_plan(tasks(10), store.read(), now=NOW),
        store=store,
        api_factory=ScriptedCloud(script).api,
        observer=Recorder(store),
        settings=EngineSettings(parallelism=2),
        halt=halt,
    )
    assert report.fatal is not None and not report.interrupted
    assert not halt.is_set()


def test_a_failed_commit_stops_the_workers(store: StateStore) -> None:
    class BrokenStore:
        display = store.display

        def __init__(self) -> None:
            self.records = 0

        def record(self, record: object) -> int:
            self.records += 1
            if self.records == 3:
                raise StateError("disk full")
            return self.records

        def remove(self, addresses: object) -> int:
            return 0

    cloud = ScriptedCloud()
    with pytest.raises(StateError):
        apply_plan(
            make_plan(tasks(200), EMPTY_STATE, now=NOW),
            store=BrokenStore(),  # type: ignore[arg-type]
            api_factory=cloud.api,
            observer=Recorder(store),
            settings=EngineSettings(parallelism=4),
            halt=Halt(FakeClock()),
        )
    deadline = threading.Event()
    for _ in range(40):  # the workers leave instead of waiting forever (no thread leak)
        if not any(t.name.startswith("reconciler-worker") for t in threading.enumerate()):
            break
        deadline.wait(0.05)
    assert not any(t.name.startswith("reconciler-worker") for t in threading.enumerate())
    assert len(cloud.calls) <= 3 + 4


def test_after_a_halt_in_flight_calls_are_abandoned_after_the_drain_timeout(
    store: StateStore,
) -> None:
    """A call that never answers cannot hold a halted run: after ``drain_timeout``
    seconds (of fake time) the apply returns with what finished committed."""
    clock = FakeClock()
    halt = Halt(clock)
    stuck = threading.Event()  # never set: the third call hangs

    def on_call(count: int) -> None:
        if count == 3:
            halt.set()
            stuck.wait(30)

    cloud = ScriptedCloud(on_call=on_call)
    report = apply_plan(
        make_plan(tasks(10), store.read(), now=NOW),
        store=store,
        api_factory=cloud.api,
        observer=Recorder(store),
        settings=EngineSettings(parallelism=2, drain_timeout=3.0),
        halt=halt,
    )
    stuck.set()
    assert report.interrupted
    assert clock.monotonic() >= 3.0
    assert report.counts["stopped"] <= 3
    assert len(store.read().records) == report.counts["stopped"]
    assert cloud.calls[2] not in store.read().records  # the call that never answered
