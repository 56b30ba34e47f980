"""Applying a plan: forgets in state, stops through the worker pool, every outcome
committed before it is reported.

- ``forget`` changes only touch state (no API call): ``FORGET_BATCH`` of them per
  transaction (forgetting 100,000 records is seconds, not minutes), each batch
  committed before any of its outcomes is reported, and logged as one line that
  names every address in it.
- ``stop`` changes run on the pool (``reconciler.engine.pool``): rate-limited,
  retried, halted at once by a fatal (credential) error. Each is sent only if its
  ``stopAt`` has come by the clock when a worker takes it; one that has not (a
  saved plan applied on a machine whose clock is behind the planner's) is not sent
  and is reported ``waiting``, as it would be planned now.
- ``wait`` changes are never sent: they are counted as ``waiting``.
- Results travel to the calling thread, which commits each converged outcome to
  the state store *before* it logs or reports it — so nothing reported is ever
  lost, and a SIGKILL loses at most the calls in flight.
- ``halt`` (set on SIGINT / SIGTERM) stops new calls; in-flight ones get a bounded
  drain time, then whatever finished is committed and the run returns.

Time comes from the halt's clock; records are stamped with its wall time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from reconciler.clock import Halt, rfc3339
from reconciler.domain import (
    Action,
    CallError,
    Change,
    ErrorClass,
    Outcome,
    Plan,
    Record,
    TaskResult,
)
from reconciler.engine.pool import (
    Done,
    EngineSettings,
    Progress,
    ProgressMeter,
    TaskApi,
    run_pool,
)
from reconciler.instant import Instant, due
from reconciler.ratelimit import LOCAL_QUOTA, Quota
from reconciler.state import StateStore

log = structlog.get_logger("reconciler.engine")

#: Forgets removed from state in one transaction.
FORGET_BATCH = 1000
#: The API whose quota apply's calls draw on.
STOP_ACTION = "StopStreamIngest"


class ApplyObserver(Protocol):
    """Who is told of each outcome (after its commit) and of progress."""

    def on_result(self, result: TaskResult) -> None: ...

    def on_progress(self, progress: Progress) -> None: ...


@dataclass(frozen=True)
class ApplyReport:
    counts: Mapping[str, int]
    fatal: CallError | None
    interrupted: bool
    not_attempted: int
    elapsed: float

    @property
    def failed(self) -> int:
        return self.counts[Outcome.FAILED.value]

    @property
    def waiting(self) -> int:
        return self.counts[Outcome.WAITING.value]

    @classmethod
    def empty(cls, plan: Plan, *, interrupted: bool = False, not_attempted: int = 0) -> ApplyReport:
        """The report of an apply of ``plan`` that did nothing: there was nothing to do
        (but wait), or (with ``interrupted``) a signal came before the first change."""
        counts = {outcome.value: 0 for outcome in Outcome}
        counts[Outcome.WAITING.value] = plan.count(Action.WAIT)
        return cls(
            counts=counts,
            fatal=None,
            interrupted=interrupted,
            not_attempted=not_attempted,
            elapsed=0.0,
        )


def apply_plan(
    plan: Plan,
    *,
    store: StateStore,
    api_factory: Callable[[], TaskApi],
    observer: ApplyObserver,
    halt: Halt,
    settings: EngineSettings | None = None,
    quota: Quota = LOCAL_QUOTA,
    rand: Callable[[], float] | None = None,
) -> ApplyReport:
    """Carry out ``plan``, drawing send slots from ``quota``; see the module docstring
    for the guarantees."""
    settings = settings or EngineSettings()
    clock = halt.clock
    started = clock.monotonic()
    counts = dict(ApplyReport.empty(plan).counts)  # the plan's waits are counted already

    def report(result: TaskResult) -> None:
        counts[result.outcome.value] += 1
        _log_result(result)
        observer.on_result(result)

    forgets = [c for c in plan.changes if c.action is Action.FORGET]
    stops = [c for c in plan.changes if c.action is Action.STOP]
    for start in range(0, len(forgets), FORGET_BATCH):
        if halt.is_set():
            break
        batch = forgets[start : start + FORGET_BATCH]
        addresses = [change.address for change in batch]
        store.remove(addresses)
        # One log line per committed batch, naming every address: a forget is
        # bookkeeping, not a call, and 100,000 per-task lines would cost more than
        # the forgets themselves.
        log.info("tasks forgotten", action="forget", count=len(batch), addresses=addresses)
        counts[Outcome.FORGOTTEN.value] += len(batch)
        for change in batch:
            observer.on_result(TaskResult(change=change, outcome=Outcome.FORGOTTEN))
    forgotten = counts[Outcome.FORGOTTEN.value]

    meter = ProgressMeter(len(stops), halt)

    def ready(change: Change) -> bool:
        return due(change.stop_at, Instant.from_seconds(clock.wall()))

    def commit(done: Done[str]) -> None:
        result = _stop_result(done)
        if result.outcome.recorded:
            store.record(_record_of(result, time=rfc3339(clock.wall())))
        meter.count(failed=result.outcome is Outcome.FAILED)
        report(result)

    fatal: CallError | None = None
    if stops and not halt.is_set():
        fatal = run_pool(
            stops,
            _call_stop,
            commit,
            api_factory=api_factory,
            settings=settings,
            halt=halt,
            meter=meter,
            observer=observer,
            action=STOP_ACTION,
            quota=quota,
            rand=rand,
            ready=ready,
        )
    return ApplyReport(
        counts=counts,
        fatal=fatal,
        interrupted=halt.is_set() and fatal is None,
        not_attempted=len(stops) - meter.done + (len(forgets) - forgotten),
        elapsed=clock.monotonic() - started,
    )


def _call_stop(api: TaskApi, change: Change) -> str:
    return api.stop(sdk_app_id=change.sdk_app_id, task_id=change.task_id, region=change.region)


def _record_of(result: TaskResult, *, time: str) -> Record:
    change = result.change
    return Record(
        address=change.address,
        sdk_app_id=change.sdk_app_id,
        task_id=change.task_id,
        region=change.region,
        outcome=result.outcome,
        request_id=result.request_id,
        time=time,
        source=change.source,
    )


def _stop_result(done: Done[str]) -> TaskResult:
    if done.not_ready:
        return TaskResult(done.change, Outcome.WAITING)
    if done.error is None:
        return TaskResult(
            done.change, Outcome.STOPPED, request_id=done.value, attempts=done.attempts
        )
    if done.error_class is ErrorClass.CONVERGED:
        return TaskResult(
            done.change,
            Outcome.ALREADY_STOPPED,
            request_id=done.error.request_id,
            attempts=done.attempts,
        )
    return TaskResult(done.change, Outcome.FAILED, error=done.error, attempts=done.attempts)


def _log_result(result: TaskResult) -> None:
    """The canonical log line of one task outcome.

    A failed task is an outcome like the others (the view shows it, the summary
    counts it, the exit code says it), so its line is at info too: on a terminal,
    where logs show warnings and errors only, each task then takes one line."""
    fields: dict[str, object] = {
        "address": result.change.address,
        "action": result.change.action.value,
        "region": result.change.region,
        "outcome": result.outcome.value,
    }
    if result.change.stop_at is not None:
        fields["stop_at"] = result.change.stop_at.text()
    if result.request_id:
        fields["request_id"] = result.request_id
    if result.attempts > 1:
        fields["attempts"] = result.attempts
    if result.error is not None:
        log.info("task failed", code=result.error.code, error=result.error.message, **fields)
    else:
        log.info("task " + result.outcome.value, **fields)
