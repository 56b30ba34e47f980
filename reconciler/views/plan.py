"""``plan`` and ``show``: Terraform-style lines and a summary (human), the plan
document (JSON), or a pull-request comment (Markdown, ``views.markdown``).

How each action looks is one table (``ACTION_LOOKS``): its label, its colour, the
detail its line carries and how the summary counts it. A new action is one more row.
A wait's due time reads relative to when the plan was made (``views.clock``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.domain import Action, Change, Plan
from reconciler.engine import Progress
from reconciler.instant import Instant
from reconciler.planner import StopBudget, plan_to_json, source_file
from reconciler.views.base import JsonLines, JsonView, View, duration, plural
from reconciler.views.clock import since, until
from reconciler.views.console import PLAIN, Style

#: Past this many changes, a plan on a terminal is listed under one header per
#: manifest file, with that file's counts.
GROUP_AFTER = 50


@dataclass(frozen=True)
class ActionLook:
    """How one action prints: ``label`` in its line, its colour, the detail after the
    address (given the plan's time), and ``counted`` in the summary (``2 waiting``;
    an ``optional`` count is left out while it is 0)."""

    label: str
    color: str
    detail: Callable[[Change, Instant | None], str]
    counted: str
    optional: bool = False


def _region_and_live(change: Change) -> str:
    live = f"  [live: {change.live.value}]" if change.live is not None else ""
    return f"{change.region:<12}{live}"


def _stop_detail(change: Change, now: Instant | None) -> str:
    due = f"  {since(change.stop_at)}" if change.stop_at is not None else ""
    return _region_and_live(change) + due


def _wait_detail(change: Change, now: Instant | None) -> str:
    assert change.stop_at is not None  # a wait always has one (planner, plan reader)
    return f"{_region_and_live(change)}  {until(change.stop_at, now)}"


ACTION_LOOKS: Mapping[Action, ActionLook] = {
    Action.STOP: ActionLook("stop", "red", _stop_detail, "to stop"),
    Action.WAIT: ActionLook("wait", "blue", _wait_detail, "waiting", optional=True),
    Action.FORGET: ActionLook(
        "forget", "yellow", lambda change, now: "state only, no API call", "to forget"
    ),
}
_LABEL_WIDTH = max(len(look.label) for look in ACTION_LOOKS.values())


def change_line(
    change: Change, width: int, style: Style = PLAIN, *, now: Instant | None = None
) -> str:
    """One change, its action symbol in column 0: ``- ADDRESS  stop    REGION  (SOURCE)``;
    ``now`` is the plan's time, which a wait's "in 2h 13m" counts from."""
    look = ACTION_LOOKS[change.action]
    head = style.paint(f"{change.action.symbol} ", look.color, "bold")
    label = style.paint(f"{look.label:<{_LABEL_WIDTH}}", look.color)
    source = f"  ({change.source})" if change.source else ""
    return f"{head}{change.address:<{width}}  {label}  {look.detail(change, now)}{source}"


def address_width(changes: Iterable[Change]) -> int:
    return max((len(change.address) for change in changes), default=0)


def summary_line(plan: Plan) -> str:
    """``Plan: 3 to stop, 2 waiting, 1 to forget, 4 unchanged.`` (or ``No changes.``)."""
    if not plan.changes:
        return "No changes."
    counts = _counts(plan.changes)
    shown = ", ".join(
        f"{count} {ACTION_LOOKS[action].counted}"
        for action, count in counts.items()
        if count or not ACTION_LOOKS[action].optional
    )
    return f"Plan: {shown}, {plan.unchanged} unchanged."


def counts_text(changes: Iterable[Change]) -> str:
    """``2 to stop, 1 waiting``: the non-zero counts of these changes."""
    return ", ".join(
        f"{count} {ACTION_LOOKS[action].counted}"
        for action, count in _counts(changes).items()
        if count
    )


def shown_actions(changes: Iterable[Change]) -> list[Action]:
    """The actions a table of these changes has a column for (an optional one only
    when some change is of it)."""
    counts = _counts(changes)
    return [action for action, look in ACTION_LOOKS.items() if counts[action] or not look.optional]


def _counts(changes: Iterable[Change]) -> dict[Action, int]:
    counts = dict.fromkeys(ACTION_LOOKS, 0)
    for change in changes:
        counts[change.action] += 1
    return counts


def by_file(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    """Changes grouped by manifest file, files in order, each keeping plan order."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(source_file(change.source) or "(no source)", []).append(change)
    return sorted(groups.items())


def budget_warning(budget: StopBudget | None) -> str | None:
    """The ``--max-stops`` warning of a plan, or None when within the limit."""
    if budget is None or not budget.exceeded:
        return None
    return f"Warning: {budget.describe()}: apply --max-stops {budget.limit} will refuse this plan."


def plan_lines(plan: Plan, *, style: Style = PLAIN, grouped: bool = False) -> list[str]:
    """The plan as a person reads it: one line per change, then a summary; with
    ``grouped`` and more than ``GROUP_AFTER`` changes, under one header per file."""
    if not plan.changes:
        return [
            "No changes. The recorded state matches the manifests "
            f"({plural(plan.unchanged, 'task')} already stopped)."
        ]
    width = address_width(plan.changes)
    now = plan.timestamp
    head = (
        "Reconciler will perform the following actions:"
        if plan.has_changes
        else "Nothing to do now; these tasks wait for their stopAt:"
    )
    lines = [head, ""]
    if grouped and len(plan.changes) > GROUP_AFTER:
        for file, changes in by_file(plan.changes):
            lines.append(style.paint(f"{file}: {counts_text(changes)}", "bold"))
            lines += [f"  {change_line(change, width, style, now=now)}" for change in changes]
            lines.append("")
        lines.pop()
    else:
        lines += [f"  {change_line(change, width, style, now=now)}" for change in plan.changes]
    lines += ["", style.paint(summary_line(plan), "bold")]
    return lines


def refresh_progress(progress: Progress) -> str:
    eta = duration(progress.eta) if progress.eta is not None else "?"
    return (
        f"Refreshing [{progress.done}/{progress.total}] in flight {progress.in_flight} · "
        f"failed {progress.failed} · {progress.rate:.1f}/s · ETA {eta}"
    )


class PlanHuman(View):
    def on_progress(self, progress: Progress) -> None:
        if progress.total:
            self.streams.status.show(refresh_progress(progress))

    def planned(
        self, plan: Plan, *, saved_to: str | None = None, budget: StopBudget | None = None
    ) -> None:
        self.shown(plan)
        warning = budget_warning(budget)
        if warning is not None:
            self.print("\n" + self.style.paint(warning, "yellow", "bold"))
        if saved_to is not None:
            self.print(
                f"\nSaved the plan to {saved_to}. To apply exactly it: reconciler apply {saved_to}"
            )

    def shown(self, plan: Plan, *, path: str | None = None) -> None:
        """A plan, exactly as ``plan`` prints it (``show PLANFILE``)."""
        self.streams.status.clear()
        lines = plan_lines(plan, style=self.style, grouped=self.streams.terminal)
        self.print("\n".join(lines))


class PlanJson(JsonView):
    def on_progress(self, progress: Progress) -> None:
        pass

    def planned(
        self, plan: Plan, *, saved_to: str | None = None, budget: StopBudget | None = None
    ) -> None:
        JsonLines(self.out).emit(plan_to_json(plan, budget=budget))

    def shown(self, plan: Plan, *, path: str | None = None) -> None:
        JsonLines(self.out).emit(plan_to_json(plan))
