"""Scheduled reconciliation: ``reconciler run --interval``.

Each cycle re-reads the manifests, plans against the state under its lock, applies
without a prompt, and logs one summary line. A failed cycle never ends the loop:
the next one comes sooner (exponential backoff, capped at the interval). A halt
(SIGINT / SIGTERM) ends the loop after in-flight work is committed. After each
cycle a Prometheus text file can be written atomically for node_exporter's
textfile collector, so a missed or failing schedule can alert.

The clock, the wall clock, the wait and the random source are injected, so the
loop's tests run on fake time.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from reconciler import operations
from reconciler.domain import Outcome, TaskResult
from reconciler.engine import EngineSettings, Halt, Progress
from reconciler.state import LockBusy, StateError, StateStore
from reconciler.trtc import CredentialSource, describe_fatal

log = structlog.get_logger("reconciler.run")


@dataclass(frozen=True, slots=True)
class LoopSettings:
    interval: float
    jitter: float = 0.0
    failure_backoff: float = 5.0  # first retry after a failed cycle; doubles, capped at interval
    max_cycles: int | None = None

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be positive")


@dataclass(frozen=True)
class CycleResult:
    ok: bool
    counts: Mapping[str, int]
    planned: int
    finished_at: float  # wall clock, seconds since the epoch
    duration: float
    error: str | None = None
    interrupted: bool = False


class _Quiet:
    """An apply observer for unattended runs: the engine's log lines say it all."""

    def on_result(self, result: TaskResult) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass


@dataclass(frozen=True)
class Cycle:
    """One reconciliation: load, plan under the lock, apply."""

    paths: Sequence[str]
    open_store: Callable[[], StateStore]
    cloud: operations.CloudSettings
    engine: EngineSettings
    lock_timeout: float = 0.0
    on_credentials: Callable[[CredentialSource], None] | None = None
    wall: Callable[[], float] = field(default=time.time)

    def __call__(self, halt: Halt) -> CycleResult:
        started = time.monotonic()
        counts = {outcome.value: 0 for outcome in Outcome}
        run_id = operations.new_run_id()
        structlog.contextvars.bind_contextvars(run_id=run_id)
        planned = 0
        try:
            desired = operations.read_desired(self.paths)
            holder = operations.lock_holder("run", run_id)
            with (
                contextlib.closing(self.open_store()) as store,
                store.lock(holder, timeout=self.lock_timeout),
            ):
                the_plan = operations.plan(desired, store)
                planned = len(the_plan.changes)
                if the_plan.has_changes and not halt.is_set():
                    report = operations.apply(
                        the_plan,
                        store,
                        self.cloud,
                        observer=_Quiet(),
                        settings=self.engine,
                        halt=halt,
                        on_credentials=self.on_credentials,
                    )
                    counts = dict(report.counts)
                    if report.fatal is not None:
                        raise operations.OperationError(describe_fatal(report.fatal))
                    if report.interrupted:
                        return self._result(True, counts, planned, started, interrupted=True)
                    if report.failed:
                        return self._result(
                            False,
                            counts,
                            planned,
                            started,
                            error=f"{report.failed} task(s) failed",
                        )
        except operations.ManifestsInvalid as exc:
            # No terminal reads a service's stdout: every problem goes to the log.
            for problem in exc.problems:
                log.error("manifest problem", problem=str(problem))
            return self._result(False, counts, planned, started, error=str(exc))
        except (operations.OperationError, StateError, LockBusy) as exc:
            return self._result(False, counts, planned, started, error=str(exc))
        finally:
            gc.unfreeze()  # loading froze this cycle's tasks; let them go with it
        return self._result(True, counts, planned, started)

    def _result(
        self,
        ok: bool,
        counts: Mapping[str, int],
        planned: int,
        started: float,
        *,
        error: str | None = None,
        interrupted: bool = False,
    ) -> CycleResult:
        return CycleResult(
            ok=ok,
            counts=counts,
            planned=planned,
            finished_at=self.wall(),
            duration=time.monotonic() - started,
            error=error,
            interrupted=interrupted,
        )


@dataclass
class _Totals:
    cycles_ok: int = 0
    cycles_failed: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    last_success: float | None = None


def run_loop(
    cycle: Callable[[Halt], CycleResult],
    *,
    settings: LoopSettings,
    halt: Halt,
    metrics_file: str | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """Run cycles until halted (or ``max_cycles``); returns how many ran."""
    totals = _Totals()
    failures_in_a_row = 0
    ran = 0
    log.info("reconciliation loop started", interval=settings.interval, jitter=settings.jitter)
    while not halt.is_set():
        result = cycle(halt)
        ran += 1
        _account(totals, result)
        if metrics_file:
            write_metrics(metrics_file, result, totals)
        fields = {"planned": result.planned, **result.counts, "duration": round(result.duration, 3)}
        if result.ok:
            failures_in_a_row = 0
            log.info("cycle finished", result="success", interrupted=result.interrupted, **fields)
        else:
            failures_in_a_row += 1
            log.error("cycle failed", result="failure", error=result.error, **fields)
        if settings.max_cycles is not None and ran >= settings.max_cycles:
            break
        if result.interrupted:
            break
        delay = next_delay(settings, failures_in_a_row, rand)
        if halt.wait(delay):
            break
    log.info("reconciliation loop stopped", cycles=ran)
    return ran


def next_delay(settings: LoopSettings, failures_in_a_row: int, rand: Callable[[], float]) -> float:
    """The wait before the next cycle: the interval (plus jitter), or a shorter backoff."""
    if failures_in_a_row:
        backoff: float = settings.failure_backoff * 2.0 ** (failures_in_a_row - 1)
        return min(settings.interval, backoff)
    return settings.interval + settings.jitter * rand()


def _account(totals: _Totals, result: CycleResult) -> None:
    if result.ok:
        totals.cycles_ok += 1
        totals.last_success = result.finished_at
    else:
        totals.cycles_failed += 1
    for key, value in result.counts.items():
        totals.outcomes[key] = totals.outcomes.get(key, 0) + value


def render_metrics(result: CycleResult, totals: _Totals) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: Sequence[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(
                f"{name}{labels} {value:g}"
                if isinstance(value, int)
                else f"{name}{labels} {value!r}"
            )

    metric(
        "reconciler_last_run_timestamp_seconds",
        "gauge",
        "Unix time the last reconciliation cycle finished.",
        [("", result.finished_at)],
    )
    metric(
        "reconciler_last_run_success",
        "gauge",
        "1 if the last cycle succeeded, 0 if it failed.",
        [("", int(result.ok))],
    )
    metric(
        "reconciler_last_run_duration_seconds",
        "gauge",
        "How long the last cycle took.",
        [("", round(result.duration, 6))],
    )
    if totals.last_success is not None:
        metric(
            "reconciler_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful cycle.",
            [("", totals.last_success)],
        )
    metric(
        "reconciler_last_run_tasks",
        "gauge",
        "Task outcomes in the last cycle.",
        [(f'{{outcome="{k}"}}', int(v)) for k, v in sorted(result.counts.items())],
    )
    metric(
        "reconciler_tasks_total",
        "counter",
        "Task outcomes since the loop started.",
        [(f'{{outcome="{k}"}}', int(v)) for k, v in sorted(totals.outcomes.items())],
    )
    metric(
        "reconciler_cycles_total",
        "counter",
        "Cycles since the loop started, by result.",
        [('{result="success"}', totals.cycles_ok), ('{result="failure"}', totals.cycles_failed)],
    )
    return "\n".join(lines) + "\n"


def write_metrics(path: str, result: CycleResult, totals: _Totals) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(render_metrics(result, totals), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        log.error("cannot write metrics file", path=path, error=str(exc))
