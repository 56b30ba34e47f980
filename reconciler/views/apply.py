"""``apply``: the plan, one line per outcome, a live progress line on a terminal,
and a summary (human); one JSON object per outcome and a summary (JSON lines).

Outcome lines line up with the plan's (symbol, address, then what happened) and
are coloured by outcome on a terminal: how each outcome looks is one table
(``OUTCOME_LOOKS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.domain import Outcome, Plan, TaskResult
from reconciler.engine import ApplyReport, Progress
from reconciler.results import ApplyResult, ApplyStatus
from reconciler.views.base import JsonLines, JsonView, Streams, View, duration
from reconciler.views.console import PLAIN, Style
from reconciler.views.plan import address_width, plan_lines


@dataclass(frozen=True)
class OutcomeLook:
    label: str
    color: str


OUTCOME_LOOKS: Mapping[Outcome, OutcomeLook] = {
    Outcome.STOPPED: OutcomeLook("stopped", "green"),
    Outcome.ALREADY_STOPPED: OutcomeLook("already stopped", "cyan"),
    Outcome.FAILED: OutcomeLook("failed", "red"),
    Outcome.FORGOTTEN: OutcomeLook("forgotten", "yellow"),
}
_LABEL_WIDTH = max(len(look.label) for look in OUTCOME_LOOKS.values())


def outcome_line(result: TaskResult, width: int, style: Style = PLAIN) -> str:
    """``  - ADDRESS  stopped          RequestId …`` (failed: the error code and message)."""
    look = OUTCOME_LOOKS[result.outcome]
    change = result.change
    head = style.paint(change.action.symbol, look.color, "bold")
    label = style.paint(f"{look.label:<{_LABEL_WIDTH}}", look.color)
    if result.error is not None:
        detail = style.paint(f"{result.error.code}: {result.error.message}", look.color)
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


def counts_line(report: ApplyReport) -> str:
    counts = report.counts
    text = ", ".join(f"{counts[outcome.value]} {look.label}" for outcome, look in _COUNTED)
    return text + (f"; {report.not_attempted} not attempted" if report.not_attempted else "")


_COUNTED = tuple(OUTCOME_LOOKS.items())


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
        return "Apply stopped", "red"
    if report.interrupted:
        return "Apply interrupted", "yellow"
    if report.failed:
        return "Apply finished with failures", "red"
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
