"""``apply`` (and ``run`` outcomes): the plan, one line per outcome, a live progress
line on a terminal, and a summary (human); one JSON object per outcome and a
summary (JSON lines).
"""

from __future__ import annotations

from reconciler.domain import Outcome, Plan, TaskResult
from reconciler.engine import ApplyReport, Progress
from reconciler.results import ApplyResult, ApplyStatus
from reconciler.views.base import JsonLines, Streams, View, duration, is_terminal
from reconciler.views.plan import plan_lines


class ApplyHuman(View):
    def __init__(self, streams: Streams | None = None, *, progress: bool | None = None) -> None:
        super().__init__(streams)
        self._progress = is_terminal(self.err) if progress is None else progress
        self._progress_shown = False
        self._progress_line = ""

    def planned(self, plan: Plan) -> None:
        self.print("\n".join(plan_lines(plan)))

    def on_result(self, result: TaskResult) -> None:
        self._clear_progress()
        address = result.change.address
        if result.outcome is Outcome.FAILED and result.error is not None:
            text = f"{address}: failed: {result.error.code}: {result.error.message}"
        elif result.outcome is Outcome.FORGOTTEN:
            text = f"{address}: forgotten"
        else:
            text = f"{address}: {result.outcome.value.replace('_', ' ')}"
            if result.request_id:
                text += f" (RequestId {result.request_id})"
        self.print(text)
        self._draw_progress()  # keep the live line under the results

    def on_progress(self, progress: Progress) -> None:
        if not self._progress or progress.total == 0:
            return
        eta = duration(progress.eta) if progress.eta is not None else "?"
        self._progress_line = (
            f"[{progress.done}/{progress.total}] in flight {progress.in_flight} · "
            f"failed {progress.failed} · {progress.rate:.1f}/s · ETA {eta}"
        )
        self._draw_progress()

    def applied(self, result: ApplyResult) -> None:
        self._clear_progress()
        self._progress_line = ""
        if result.status is ApplyStatus.DECLINED:
            self.print("Apply cancelled.")
            return
        if result.status is ApplyStatus.NO_CHANGES:
            return
        report = result.report
        self.print(f"{_head(report)} {_counts(report)} ({report.elapsed:.1f}s).")
        message = result.fatal_message
        if message is not None:
            print(f"Error: {message}", file=self.err, flush=True)

    def _clear_progress(self) -> None:
        if self._progress_shown:
            self.err.write("\r\033[K")
            self.err.flush()
            self._progress_shown = False

    def _draw_progress(self) -> None:
        if self._progress and self._progress_line:
            self.err.write("\r\033[K" + self._progress_line)
            self.err.flush()
            self._progress_shown = True


def _head(report: ApplyReport) -> str:
    if report.fatal is not None:
        return "Apply stopped"
    if report.interrupted:
        return "Apply interrupted"
    if report.failed:
        return "Apply finished with failures"
    return "Apply complete!"


def _counts(report: ApplyReport) -> str:
    counts = report.counts
    text = (
        f"{counts['stopped']} stopped, {counts['already_stopped']} already stopped, "
        f"{counts['failed']} failed, {counts['forgotten']} forgotten"
    )
    return text + (f"; {report.not_attempted} not attempted" if report.not_attempted else "")


class ApplyJson(View):
    def __init__(self, streams: Streams | None = None) -> None:
        super().__init__(streams)
        self._lines = JsonLines(self.out)

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
        self._lines.emit(event)

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
        self._lines.emit(summary)


ApplyView = ApplyHuman | ApplyJson
