"""``run`` on a terminal: one line per cycle and one per task outcome, the
progress line while a cycle applies. Off a terminal a service's stdout stays
silent (its log lines say it all, as JSON on stderr).
"""

from __future__ import annotations

from reconciler.clock import rfc3339
from reconciler.domain import Plan, TaskResult
from reconciler.engine import Progress
from reconciler.results import CycleResult
from reconciler.views.apply import OutcomeView, outcome_counts
from reconciler.views.base import Streams, View, duration
from reconciler.views.clock import ahead


def cycle_line(number: int, result: CycleResult) -> tuple[str, str]:
    """The line for one cycle, and its colour."""
    at = rfc3339(result.finished_at)
    took = duration(result.duration) if result.duration >= 1 else f"{result.duration:.1f}s"
    if result.interrupted:
        return f"Cycle {number} interrupted at {at} ({took}).", "yellow"
    nxt = ""
    if result.next_stop is not None:
        wait = result.next_stop.seconds - result.finished_at
        nxt = f" Next stop {result.next_stop.text()} (in {ahead(wait)})."
    if not result.ok:
        return f"Cycle {number} failed at {at} ({took}): {result.error}{nxt}", "red"
    if not result.planned:
        return f"Cycle {number} at {at}: no changes ({took}).{nxt}", "dim"
    return f"Cycle {number} at {at}: {outcome_counts(result.counts)} ({took}).{nxt}", "green"


class RunHuman(OutcomeView):
    def __init__(self, streams: Streams | None = None) -> None:
        super().__init__(streams)
        self._cycles = 0

    def planned(self, plan: Plan) -> None:
        self.align(plan)

    def cycle_finished(self, result: CycleResult) -> None:
        self._cycles += 1
        self.streams.status.clear()
        text, color = cycle_line(self._cycles, result)
        self.print(self.style.paint(text, color))


class RunQuiet(View):
    """A service's stdout: nothing (logs carry every cycle and outcome)."""

    def planned(self, plan: Plan) -> None:
        pass

    def on_result(self, result: TaskResult) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass

    def cycle_finished(self, result: CycleResult) -> None:
        pass


RunView = RunHuman | RunQuiet
