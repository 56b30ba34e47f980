"""The scheduled loop on fake time: cadence, failure backoff, halts, metrics."""

from __future__ import annotations

from pathlib import Path

from reconciler.clock import Halt
from reconciler.runloop import CycleResult, LoopSettings, next_delay, run_loop
from tests.fakes import FakeClock


def result(ok: bool, stopped: int = 0) -> CycleResult:
    counts = {"stopped": stopped, "already_stopped": 0, "failed": 0 if ok else 1, "forgotten": 0}
    return CycleResult(
        ok=ok,
        counts=counts,
        planned=stopped,
        finished_at=1700000000.0,
        duration=0.5,
        error=None if ok else "boom",
    )


def test_failed_cycles_back_off_and_do_not_end_the_loop(tmp_path: Path) -> None:
    outcomes = iter([result(False), result(False), result(True, 3), result(True)])
    clock = FakeClock()
    halt = Halt(clock)
    metrics = tmp_path / "reconciler.prom"
    ran = run_loop(
        lambda h: next(outcomes),
        settings=LoopSettings(interval=60, max_cycles=4),
        halt=halt,
        metrics_file=str(metrics),
        rand=lambda: 0.0,
    )
    assert ran == 4
    assert clock.waits == [5.0, 10.0, 60.0]
    text = metrics.read_text()
    assert "reconciler_last_run_success 1" in text
    assert 'reconciler_cycles_total{result="failure"} 2' in text
    assert 'reconciler_tasks_total{outcome="stopped"} 3' in text
    assert "reconciler_last_run_timestamp_seconds 1700000000" in text


def test_halt_ends_the_loop() -> None:
    halt = Halt(FakeClock())
    calls = []

    def cycle(h: Halt) -> CycleResult:
        calls.append(1)
        if len(calls) == 3:
            h.set()
        return result(True)

    assert run_loop(cycle, settings=LoopSettings(interval=1), halt=halt) == 3


def test_jitter_and_backoff_cap() -> None:
    settings = LoopSettings(interval=30, jitter=10, failure_backoff=5)
    assert next_delay(settings, 0, lambda: 0.5) == 35
    assert next_delay(settings, 10, lambda: 0.5) == 30
