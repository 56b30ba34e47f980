"""Views: how plans, outcomes, summaries and problems are shown.

One interface, two renderings: ``HumanView`` (Terraform-style text, a live
progress line on a terminal) and ``JsonView`` (one JSON document for a plan, one
JSON object per line for apply events). Views only write; they decide nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

from reconciler.domain import Action, Outcome, Plan, Record, StateSnapshot, TaskResult
from reconciler.engine import ApplyReport, Progress
from reconciler.manifest import LoadResult, Problem
from reconciler.planner import plan_summary, plan_to_json
from reconciler.trtc import describe_fatal


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class View:
    """What every command can show; the base writes nothing but problems."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def problems(self, problems: Sequence[Problem]) -> None:
        for problem in problems:
            print(str(problem), file=self.err)

    def error(self, message: str) -> None:
        print(f"Error: {message}", file=self.err)

    def validated(self, result: LoadResult) -> None:
        raise NotImplementedError

    def plan(self, plan: Plan) -> None:
        raise NotImplementedError

    def on_result(self, result: TaskResult) -> None:
        raise NotImplementedError

    def on_progress(self, progress: Progress) -> None:
        pass

    def apply_summary(self, report: ApplyReport) -> None:
        raise NotImplementedError


class HumanView(View):
    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, progress: bool | None = None
    ) -> None:
        super().__init__(out, err)
        self._progress = _isatty(self.err) if progress is None else progress
        self._progress_shown = False
        self._progress_line = ""

    def validated(self, result: LoadResult) -> None:
        print(
            f"Success! {_plural(len(result.tasks), 'task')} in "
            f"{_plural(len(result.files), 'file')}, no problems.",
            file=self.out,
        )

    def plan(self, plan: Plan) -> None:
        if not plan.changes:
            print(
                "No changes. The recorded state matches the manifests "
                f"({_plural(plan.unchanged, 'task')} already stopped).",
                file=self.out,
            )
            return
        width = max(len(change.address) for change in plan.changes)
        lines = ["Reconciler will perform the following actions:", ""]
        for change in plan.changes:
            if change.action is Action.STOP:
                detail = f"stop    {change.region:<12}"
                if change.live is not None:
                    detail += f"  [live: {change.live.value}]"
                detail += f"  ({change.source})"
            else:
                detail = "forget  (removed from state; no API call)"
            lines.append(f"  {change.action.symbol} {change.address:<{width}}  {detail}")
        summary = plan_summary(plan)
        lines += [
            "",
            f"Plan: {summary['stop']} to stop, {summary['forget']} to forget, "
            f"{summary['unchanged']} unchanged.",
        ]
        print("\n".join(lines), file=self.out)

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
        print(text, file=self.out, flush=True)
        self._draw_progress()  # keep the live line under the results

    def on_progress(self, progress: Progress) -> None:
        if not self._progress or progress.total == 0:
            return
        eta = _duration(progress.eta) if progress.eta is not None else "?"
        self._progress_line = (
            f"[{progress.done}/{progress.total}] in flight {progress.in_flight} · "
            f"failed {progress.failed} · {progress.rate:.1f}/s · ETA {eta}"
        )
        self._draw_progress()

    def apply_summary(self, report: ApplyReport) -> None:
        self._clear_progress()
        self._progress_line = ""
        counts = report.counts
        parts = (
            f"{counts['stopped']} stopped, {counts['already_stopped']} already stopped, "
            f"{counts['failed']} failed, {counts['forgotten']} forgotten"
        )
        if report.fatal is not None:
            head = "Apply stopped"
        elif report.interrupted:
            head = "Apply interrupted"
        elif report.failed:
            head = "Apply finished with failures"
        else:
            head = "Apply complete!"
        tail = f"; {report.not_attempted} not attempted" if report.not_attempted else ""
        print(f"{head} {parts}{tail} ({report.elapsed:.1f}s).", file=self.out)
        if report.fatal is not None:
            self.error(describe_fatal(report.fatal))

    def state_list(self, snapshot: StateSnapshot) -> None:
        for address in sorted(snapshot.records):
            print(address, file=self.out)

    def record(self, record: Record) -> None:
        print(json.dumps(record.to_json(), indent=2), file=self.out)

    def message(self, text: str) -> None:
        print(text, file=self.out)


class JsonView(View):
    def _emit(self, doc: object) -> None:
        print(json.dumps(doc, separators=(",", ":")), file=self.out, flush=True)

    def validated(self, result: LoadResult) -> None:
        self._emit({"valid": True, "tasks": len(result.tasks), "files": len(result.files)})

    def invalid(self, problems: Sequence[Problem]) -> None:
        self._emit(
            {
                "valid": False,
                "problems": [
                    {
                        "file": p.file,
                        "line": p.line,
                        "col": p.col,
                        "message": p.message,
                        "hint": p.hint,
                    }
                    for p in problems
                ],
            }
        )

    def plan(self, plan: Plan) -> None:
        # Compact on purpose: ``indent`` switches json to its pure-Python encoder,
        # several times slower on a 100,000-task plan.
        print(json.dumps(plan_to_json(plan), separators=(",", ":")), file=self.out)

    def on_result(self, result: TaskResult) -> None:
        event: dict[str, object] = {
            "type": result.outcome.value,
            "address": result.change.address,
            "requestId": result.request_id,
        }
        if result.error is not None:
            event["error"] = {"code": result.error.code, "message": result.error.message}
        self._emit(event)

    def apply_summary(self, report: ApplyReport) -> None:
        summary: dict[str, object] = {"type": "summary", **report.counts}
        summary["interrupted"] = report.interrupted
        summary["not_attempted"] = report.not_attempted
        if report.fatal is not None:
            summary["error"] = {"code": report.fatal.code, "message": describe_fatal(report.fatal)}
        self._emit(summary)
