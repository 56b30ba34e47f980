"""``plan``: Terraform-style lines and a summary (human), or the plan document (JSON)."""

from __future__ import annotations

from reconciler.domain import Action, Change, Plan
from reconciler.engine import Progress
from reconciler.planner import plan_summary, plan_to_json
from reconciler.views.base import JsonLines, View, plural


def plan_lines(plan: Plan) -> list[str]:
    """The plan as a person reads it: one line per change, then a summary."""
    if not plan.changes:
        return [
            "No changes. The recorded state matches the manifests "
            f"({plural(plan.unchanged, 'task')} already stopped)."
        ]
    width = max(len(change.address) for change in plan.changes)
    lines = ["Reconciler will perform the following actions:", ""]
    lines += [_change_line(change, width) for change in plan.changes]
    summary = plan_summary(plan)
    lines += [
        "",
        f"Plan: {summary['stop']} to stop, {summary['forget']} to forget, "
        f"{summary['unchanged']} unchanged.",
    ]
    return lines


def _change_line(change: Change, width: int) -> str:
    if change.action is Action.STOP:
        detail = f"stop    {change.region:<12}"
        if change.live is not None:
            detail += f"  [live: {change.live.value}]"
        detail += f"  ({change.source})"
    else:
        detail = "forget  (removed from state; no API call)"
    return f"  {change.action.symbol} {change.address:<{width}}  {detail}"


class PlanHuman(View):
    def on_progress(self, progress: Progress) -> None:
        pass

    def planned(self, plan: Plan, *, saved_to: str | None = None) -> None:
        self.print("\n".join(plan_lines(plan)))
        if saved_to is not None:
            self.print(
                f"\nSaved the plan to {saved_to}. To apply exactly it: reconciler apply {saved_to}"
            )


class PlanJson(View):
    def on_progress(self, progress: Progress) -> None:
        pass

    def planned(self, plan: Plan, *, saved_to: str | None = None) -> None:
        JsonLines(self.out).emit(plan_to_json(plan))


PlanView = PlanHuman | PlanJson
