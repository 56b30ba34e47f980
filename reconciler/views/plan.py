"""``plan`` and ``show``: Terraform-style lines and a summary (human), the plan
document (JSON), or a pull-request comment (Markdown, ``views.markdown``).

How each action looks is one table (``ACTION_LOOKS``): its label, its colour and
the detail its line carries. A new action is one more row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.domain import Action, Change, Plan
from reconciler.engine import Progress
from reconciler.planner import plan_to_json
from reconciler.views.base import JsonLines, JsonView, View, duration, plural
from reconciler.views.console import PLAIN, Style

#: Past this many changes, a plan on a terminal is listed under one header per
#: manifest file, with that file's counts.
GROUP_AFTER = 50


@dataclass(frozen=True)
class ActionLook:
    """How one action prints: ``label`` in the line and the summary, its colour,
    and the detail after the address."""

    label: str
    color: str
    detail: Callable[[Change], str]


def _stop_detail(change: Change) -> str:
    live = f"  [live: {change.live.value}]" if change.live is not None else ""
    return f"{change.region:<12}{live}"


ACTION_LOOKS: Mapping[Action, ActionLook] = {
    Action.STOP: ActionLook("stop", "red", _stop_detail),
    Action.FORGET: ActionLook("forget", "yellow", lambda change: "state only, no API call"),
}
_LABEL_WIDTH = max(len(look.label) for look in ACTION_LOOKS.values())


def change_line(change: Change, width: int, style: Style = PLAIN) -> str:
    """One change, its action symbol in column 0: ``- ADDRESS  stop    REGION  (SOURCE)``."""
    look = ACTION_LOOKS[change.action]
    head = style.paint(f"{change.action.symbol} ", look.color, "bold")
    label = style.paint(f"{look.label:<{_LABEL_WIDTH}}", look.color)
    source = f"  ({change.source})" if change.source else ""
    return f"{head}{change.address:<{width}}  {label}  {look.detail(change)}{source}"


def address_width(changes: Iterable[Change]) -> int:
    return max((len(change.address) for change in changes), default=0)


def summary_line(plan: Plan) -> str:
    """``Plan: 3 to stop, 1 to forget, 4 unchanged.`` (or the no-changes sentence)."""
    if not plan.changes:
        return "No changes."
    counts = ", ".join(
        f"{plan.count(action)} to {look.label}" for action, look in ACTION_LOOKS.items()
    )
    return f"Plan: {counts}, {plan.unchanged} unchanged."


def counts_text(changes: Iterable[Change]) -> str:
    """``2 to stop, 1 to forget``: the non-zero counts of these changes."""
    counts = dict.fromkeys(ACTION_LOOKS, 0)
    for change in changes:
        counts[change.action] += 1
    return ", ".join(
        f"{count} to {ACTION_LOOKS[action].label}" for action, count in counts.items() if count
    )


def source_file(change: Change) -> str:
    """The manifest file a change comes from (its ``FILE:LINE`` without the line)."""
    path, sep, line = change.source.rpartition(":")
    return path if sep and line.isdigit() else change.source


def by_file(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    """Changes grouped by manifest file, files in order, each keeping plan order."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(source_file(change) or "(no source)", []).append(change)
    return sorted(groups.items())


def plan_lines(plan: Plan, *, style: Style = PLAIN, grouped: bool = False) -> list[str]:
    """The plan as a person reads it: one line per change, then a summary; with
    ``grouped`` and more than ``GROUP_AFTER`` changes, under one header per file."""
    if not plan.changes:
        return [
            "No changes. The recorded state matches the manifests "
            f"({plural(plan.unchanged, 'task')} already stopped)."
        ]
    width = address_width(plan.changes)
    lines = ["Reconciler will perform the following actions:", ""]
    if grouped and len(plan.changes) > GROUP_AFTER:
        for file, changes in by_file(plan.changes):
            lines.append(style.paint(f"{file}: {counts_text(changes)}", "bold"))
            lines += [f"  {change_line(change, width, style)}" for change in changes]
            lines.append("")
        lines.pop()
    else:
        lines += [f"  {change_line(change, width, style)}" for change in plan.changes]
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

    def planned(self, plan: Plan, *, saved_to: str | None = None) -> None:
        self.shown(plan)
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

    def planned(self, plan: Plan, *, saved_to: str | None = None) -> None:
        self.shown(plan)

    def shown(self, plan: Plan, *, path: str | None = None) -> None:
        JsonLines(self.out).emit(plan_to_json(plan))
