"""``apply``: the plan, one line per outcome, a live progress line on a terminal,
and a summary (human); one JSON object per outcome and a summary (JSON lines).

Outcome lines line up with the plan's (symbol, address, then what happened) and
are coloured by outcome on a terminal: how each outcome looks is one table
(``OUTCOME_LOOKS``). A stop that was not yet due when its call came is shown as
what it still is, a wait (``@``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.domain import Action, Outcome, Plan, TaskResult
from reconciler.engine import ApplyReport, Progress
from reconciler.results import ApplyResult, ApplyStatus
from reconciler.views.base import JsonLines, JsonView, Streams, View, duration
from reconciler.views.clock import until
from reconciler.views.console import PLAIN, Style
from reconciler.views.plan import address_width, plan_lines


@dataclass(frozen=True)
class OutcomeLook:
    """How one outcome prints: its label and colour; an ``optional`` one is left out
    of the counts while it is 0."""

    label: str
    color: str
    optional: bool = False


OUTCOME_LOOKS: Mapping[Outcome, OutcomeLook] = {
    Outcome.STOPPED: OutcomeLook("stopped", "green"),
    Outcome.ALREADY_STOPPED: OutcomeLook("already stopped", "cyan"),
    Outcome.FAILED: OutcomeLook("failed", "red"),
    Outcome.FORGOTTEN: OutcomeLook("forgotten", "yellow"),
    Outcome.WAITING: OutcomeLook("waiting", "blue", optional=True),
}
_LABEL_WIDTH = max(len(look.label) for look in OUTCOME_LOOKS.values())


def outcome_line(result: TaskResult, width: int, style: Style = PLAIN) -> str:
    """``  - ADDRESS  stopped          RequestId …`` (failed: the error code and message)."""
    look = OUTCOME_LOOKS[result.outcome]
    change = result.change
    waiting = result.outcome is Outcome.WAITING
    symbol = Action.WAIT.symbol if waiting else change.action.symbol
    head = style.paint(symbol, look.color, "bold")
    label = style.paint(f"{look.label:<{_LABEL_WIDTH}}", look.color)
    if result.error is not None:
        detail = style.paint(f"{result.error.code}: {result.error.message}", look.color)
    elif waiting and change.stop_at is not None:
        detail = f"{until(change.stop_at, None)}: not due yet by this machine's clock, not sent"
    elif result.request_id:
        detail = f"RequestId {result.request_id}"
    else:
        detail = ""
    return f"  {head} {change.address:<{width}}  {label}  {detail}".rstrip()


def progress_line(progress: Progress) -> str:
    eta = duration(progress.eta) if progress.eta is not None else "?"
    return (
        f"[{progress.done}/{progress.total}] in flight {progress.in_flight} · "
        f"failed {progress.failed} · {progress.rate:.1f}/s · ETA {eta}"
    )


def outcome_counts(counts: Mapping[str, int]) -> str:
    """``2 stopped, 0 already stopped, 0 failed, 1 forgotten, 3 waiting``."""
    return ", ".join(
        f"{counts.get(outcome.value, 0)} {look.label}"
        for outcome, look in OUTCOME_LOOKS.items()
        if counts.get(outcome.value, 0) or not look.optional
    )


def counts_line(report: ApplyReport) -> str:
    text = outcome_counts(report.counts)
    return text + (f"; {report.not_attempted} not attempted" if report.not_attempted else "")


class OutcomeView(View):
    """Shared by ``apply`` and ``run``: outcome lines aligned on the plan's addresses,
    progress on the status line."""

    def __init__(self, streams: Streams | None = None) -> None:
        super().__init__(streams)
        self._width = 0

    def align(self, plan: Plan) -> None:
        self._width = address_width(plan.changes)

    def on_result(self, result: TaskResult) -> None:
        self.print(outcome_line(result, self._width, self.style))

    def on_progress(self, progress: Progress) -> None:
        if progress.total:
            self.streams.status.show(progress_line(progress))


class ApplyHuman(OutcomeView):
    """The plan, a blank line, the outcomes, a blank line, the summary."""

    def __init__(self, streams: Streams | None = None) -> None:
        super().__init__(streams)
        self._results = 0

    def on_result(self, result: TaskResult) -> None:
        if not self._results:
            self.print()
        self._results += 1
        super().on_result(result)

    def planned(self, plan: Plan) -> None:
        self.align(plan)
        self.print("\n".join(plan_lines(plan, style=self.style, grouped=self.streams.terminal)))

    def applied(self, result: ApplyResult) -> None:
        self.streams.status.clear()
        if result.status is ApplyStatus.DECLINED:
            self.print("Apply cancelled.")
            return
        if result.status is ApplyStatus.NO_CHANGES:
            return
        report = result.report
        head, color = _head(report)
        if self._results:
            self.print()
        self.print(
            f"{self.style.paint(head, color, 'bold')} {counts_line(report)} "
            f"({report.elapsed:.1f}s)."
        )
        message = result.fatal_message
        if message is not None:
            print(f"Error: {message}", file=self.err, flush=True)


def _head(report: ApplyReport) -> tuple[str, str]:
    if report.fatal is not None:
        return "Apply stopped:", "red"
    if report.interrupted:
        return "Apply interrupted:", "yellow"
    if report.failed:
        return "Apply finished with failures:", "red"
    return "Apply complete!", "green"


class ApplyJson(JsonView):
    def planned(self, plan: Plan) -> None:
        pass

    def on_result(self, result: TaskResult) -> None:
        event: dict[str, object] = {
            "type": result.outcome.value,
            "address": result.change.address,
            "requestId": result.request_id,
        }
        if result.error is not None:
            event["error"] = {"code": result.error.code, "message": result.error.message}
        if result.change.stop_at is not None:
            event["stopAt"] = result.change.stop_at.text()
        JsonLines(self.out).emit(event)

    def on_progress(self, progress: Progress) -> None:
        pass

    def applied(self, result: ApplyResult) -> None:
        if result.status is ApplyStatus.DECLINED:
            return
        report = result.report
        summary: dict[str, object] = {"type": "summary", **report.counts}
        summary["interrupted"] = report.interrupted
        summary["not_attempted"] = report.not_attempted
        message = result.fatal_message
        if report.fatal is not None and message is not None:
            summary["error"] = {"code": report.fatal.code, "message": message}
        JsonLines(self.out).emit(summary)


ApplyView = ApplyHuman | ApplyJson
