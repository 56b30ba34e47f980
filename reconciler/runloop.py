"""Scheduled reconciliation: ``reconciler run --interval``.

Each cycle re-reads the manifests, plans against the state under its lock, applies
without a prompt, and logs one summary line. The next cycle comes after the
interval — or sooner, at the earliest ``stopAt`` still ahead in the last plan (a
little after it, so that the task is due by then), so a scheduled stop is sent on
time whatever the interval. A failed cycle never ends the loop:
the next one comes sooner (exponential backoff, capped at the interval). A halt
(SIGINT / SIGTERM) ends the loop after in-flight work is committed; a cycle it cut
short counts as ``interrupted`` — neither a success nor a failure. After each
cycle a Prometheus text file can be written atomically for node_exporter's
textfile collector, so a missed or failing schedule can alert.

Time comes from the halt's clock and the random source is injected, so the loop's
tests run on fake time.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from reconciler.clock import Clock, Halt
from reconciler.domain import Action, Outcome, Plan, TaskResult
from reconciler.engine import Progress
from reconciler.errors import ReconcilerError
from reconciler.instant import Instant
from reconciler.operations import ApplyArgs, Ports, ReconcileUI, reconcile
from reconciler.planner import next_stop
from reconciler.results import ApplyStatus, CycleResult

__all__ = ["Cycle", "CycleResult", "LoopSettings", "run_loop", "write_metrics"]

log = structlog.get_logger("reconciler.run")

#: How long after a stopAt the loop wakes: the cycle's clock must read the time as
#: reached, or it would plan the task as a wait once more.
WAKE_MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class LoopSettings:
    interval: float
    jitter: float = 0.0
    failure_backoff: float = 5.0  # first retry after a failed cycle; doubles, capped at interval
    max_cycles: int | None = None

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be positive")


class Quiet:
    """The UI of an unattended cycle: the engine's log lines say it all."""

    def planned(self, plan: Plan) -> None:
        pass

    def on_result(self, result: TaskResult) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass


@dataclass(frozen=True)
class Cycle:
    """One reconciliation — the same operation as ``apply --auto-approve`` — as a
    ``CycleResult``: any ``ReconcilerError`` is a failed cycle, never the loop's end."""

    args: ApplyArgs
    ports: Ports
    ui: ReconcileUI = field(default_factory=lambda: Quiet())

    def __call__(self, halt: Halt) -> CycleResult:
        clock = halt.clock
        started = clock.monotonic()
        ports = replace(self.ports, halt=halt)
        args = replace(self.args, auto_approve=True, operation="run")
        try:
            result = reconcile(args, ports, self.ui)
            if result.plan.count(Action.WAIT):
                # Credentials and the SDK now, not at the stopAt: the stop is then sent
                # on time, and a credential problem fails this cycle (and alerts) hours
                # before it would cost a stop. The connector keeps what it resolved.
                ports.cloud.connect()
        except ReconcilerError as exc:
            # No terminal reads a service's stdout: every problem goes to the log.
            for problem in exc.problems:
                log.error("manifest problem", problem=str(problem))
            counts: Mapping[str, int] = {outcome.value: 0 for outcome in Outcome}
            duration = clock.monotonic() - started
            return CycleResult(
                False, counts, 0, clock.wall(), duration, str(exc), interrupted=halt.is_set()
            )
        error = result.fatal_message
        if error is None and result.report.failed:
            error = f"{result.report.failed} task(s) failed"
        interrupted = result.status is ApplyStatus.INTERRUPTED
        finished_at = clock.wall()
        return CycleResult(
            ok=error is None and not interrupted,
            counts=dict(result.report.counts),
            planned=len(result.plan.changes),
            finished_at=finished_at,
            duration=clock.monotonic() - started,
            error=error,
            interrupted=interrupted,
            next_stop=next_stop(result.plan, Instant.from_seconds(finished_at)),
        )


@dataclass
class _Totals:
    cycles_ok: int = 0
    cycles_failed: int = 0
    cycles_interrupted: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    last_success: float | None = None
    next_stop: Instant | None = None  # the earliest stopAt ahead, as last planned


def run_loop(
    cycle: Callable[[Halt], CycleResult],
    *,
    settings: LoopSettings,
    halt: Halt,
    metrics_file: str | None = None,
    on_cycle: Callable[[CycleResult, str], None] | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """Run cycles until halted (or ``max_cycles``); returns how many ran.

    After each cycle, ``on_cycle`` gets its result and the metrics text (what the
    metrics file holds)."""
    totals = _Totals()
    failures_in_a_row = 0
    ran = 0
    log.info("reconciliation loop started", interval=settings.interval, jitter=settings.jitter)
    while not halt.is_set():
        result = cycle(halt)
        ran += 1
        _account(totals, result)
        metrics = render_metrics(result, totals)
        if metrics_file:
            write_metrics(metrics_file, metrics)
        if on_cycle is not None:
            on_cycle(result, metrics)
        failures_in_a_row = 0 if result.ok else failures_in_a_row + 1
        delay = next_delay(settings, failures_in_a_row, rand)
        delay = min(delay, _until_next_stop(totals.next_stop, halt.clock, default=delay))
        fields: dict[str, object] = {
            "planned": result.planned,
            **result.counts,
            "duration": round(result.duration, 3),
            "next_cycle_in": round(delay, 3),
        }
        if totals.next_stop is not None:
            fields["next_stop_at"] = totals.next_stop.text()
        if result.interrupted:
            log.warning("cycle interrupted", result="interrupted", error=result.error, **fields)
            break
        if result.ok:
            log.info("cycle finished", result="success", **fields)
        else:
            log.error("cycle failed", result="failure", error=result.error, **fields)
        if settings.max_cycles is not None and ran >= settings.max_cycles:
            break
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


def _until_next_stop(stop: Instant | None, clock: Clock, *, default: float) -> float:
    """Seconds until just after ``stop`` by the wall clock; ``default`` when there is
    none, or it has passed (a cycle at it failed: the failure backoff governs)."""
    if stop is None:
        return default
    left = stop.seconds - clock.wall()
    return left + WAKE_MARGIN if left > 0 else default


def _account(totals: _Totals, result: CycleResult) -> None:
    if result.ok or result.planned:  # it planned: what waits is known afresh
        totals.next_stop = result.next_stop
    if result.interrupted:
        totals.cycles_interrupted += 1
    elif result.ok:
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
        "1 if the last cycle succeeded, 0 if it failed or was interrupted.",
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
    if totals.next_stop is not None:
        metric(
            "reconciler_next_stop_timestamp_seconds",
            "gauge",
            "Unix time of the earliest stopAt still ahead (absent when none waits).",
            [("", totals.next_stop.seconds)],
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
        [
            ('{result="success"}', totals.cycles_ok),
            ('{result="failure"}', totals.cycles_failed),
            ('{result="interrupted"}', totals.cycles_interrupted),
        ],
    )
    return "\n".join(lines) + "\n"


def write_metrics(path: str, text: str) -> None:
    """Replace the metrics file with ``text`` atomically (a scraper never reads half)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        log.error("cannot write metrics file", path=path, error=str(exc))
