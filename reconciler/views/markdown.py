"""``plan --markdown`` and ``show --markdown``: a pull-request comment body.

- The first line is the summary (``Plan: 3 to stop, 2 waiting, 1 to forget, 4
  unchanged.`` or ``No changes.``), so a notification or a collapsed comment says
  it all; a ``--max-stops`` warning follows it as a quote.
- The changes follow in a ``diff`` block, the action symbol in column 0 (``-``
  stop, ``@`` wait, ``~`` forget) so diff highlighting colours them, each with its
  source ``FILE:LINE`` (a wait with its due time, UTC, and how far ahead it was
  when planned), grouped by manifest file; past ``FOLD_AFTER`` changes a table
  gives each file's counts and each file's block is folded in a ``<details>``
  element headed by its counts.
- The body never exceeds ``LIMIT`` characters (GitHub refuses comments over
  65,536): past it, the changes left out are counted and the way to see them all
  is named.
- A footer names the state (lineage, serial) and the tool's version.
- An error renders as a comment too — manifest problems as a list of
  ``FILE:LINE:COL`` — so a broken pull request gets a readable one.
"""

from __future__ import annotations

import html
import re

from reconciler import __version__
from reconciler.domain import Change, Plan
from reconciler.engine import Progress
from reconciler.errors import ReconcilerError
from reconciler.planner import StopBudget
from reconciler.views.base import View, plural
from reconciler.views.plan import (
    ACTION_LOOKS,
    address_width,
    budget_warning,
    by_file,
    change_line,
    counts_text,
    shown_actions,
    summary_line,
)

LIMIT = 65_000
FOLD_AFTER = 20
#: Room kept for the closing of an open block and the note on what was left out.
_NOTE_ROOM = 600
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|#])")


def escape(text: str) -> str:
    """Plain text that Markdown and HTML leave as it is."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def footer(plan: Plan | None) -> str:
    tool = f"trtc-ingest-reconciler {__version__}"
    if plan is None:
        return f"<sub>{tool}</sub>"
    if plan.lineage is None:
        return f"<sub>{tool} · no state yet (serial {plan.serial})</sub>"
    return f"<sub>{tool} · state lineage <code>{plan.lineage}</code>, serial {plan.serial}</sub>"


class _Body:
    """Markdown text that refuses to grow past its budget."""

    def __init__(self, budget: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.budget = budget

    def add(self, text: str, *, force: bool = False) -> bool:
        """Append a line; refused past the budget unless ``force`` (a block's closing or
        the note on what was left out, which the budget keeps room for)."""
        if not force and self.size + len(text) + 1 > self.budget:
            return False
        self.parts.append(text)
        self.size += len(text) + 1
        return True

    def text(self) -> str:
        return "\n".join(self.parts)


def plan_markdown(
    plan: Plan, *, see_all: str, limit: int = LIMIT, budget: StopBudget | None = None
) -> str:
    """The comment body for ``plan``; ``see_all`` is the command that lists it whole."""
    end = footer(plan)
    if not plan.changes:
        return "\n".join(
            [
                "No changes.",
                "",
                "The recorded state matches the manifests "
                f"({plural(plan.unchanged, 'task')} already stopped).",
                "",
                end,
            ]
        )
    body = _Body(limit - len(end) - _NOTE_ROOM)
    body.add(summary_line(plan))
    body.add("")
    warning = budget_warning(budget)
    if warning is not None:
        body.add(f"> **{escape(warning)}**")
        body.add("")
    width = address_width(plan.changes)
    fold = len(plan.changes) > FOLD_AFTER
    shown = _folded(body, plan, width) if fold else _unfolded(body, plan, width)
    left_out = len(plan.changes) - shown
    if left_out:
        body.add(
            f"**{left_out:,} of {len(plan.changes):,} changes are not shown**: a comment holds "
            f"at most {limit:,} characters. See them all with `{see_all}`.",
            force=True,
        )
        body.add("", force=True)
    return body.text() + "\n" + end


def _unfolded(body: _Body, plan: Plan, width: int) -> int:
    """One diff block, a hunk header per file. How many changes it shows."""
    body.add("```diff")
    shown = 0
    for file, changes in by_file(plan.changes):
        if not body.add(f"@@ {file}: {counts_text(changes)} @@"):
            break
        count = _lines(body, changes, width, plan)
        shown += count
        if count < len(changes):
            break
    body.add("```", force=True)
    body.add("", force=True)
    return shown


def _folded(body: _Body, plan: Plan, width: int) -> int:
    """A table of the files and their counts, then a folded diff block per file.
    How many changes the blocks show."""
    groups = by_file(plan.changes)
    _file_table(body, groups)
    shown = 0
    for file, changes in groups:
        summary = f"{_code(file)}: {counts_text(changes)}"
        if not body.add(f"<details><summary>{summary}</summary>\n\n```diff"):
            break
        count = _lines(body, changes, width, plan)
        shown += count
        body.add("```\n\n</details>", force=True)
        if count < len(changes):
            break
    body.add("", force=True)
    return shown


def _file_table(body: _Body, groups: list[tuple[str, list[Change]]]) -> None:
    """Which file asks for what, first: it stays whole when the blocks are cut."""
    actions = shown_actions(change for _, changes in groups for change in changes)
    body.add("| manifest file | " + " | ".join(ACTION_LOOKS[a].label for a in actions) + " |")
    body.add("|---|" + "--:|" * len(actions))
    for file, changes in groups:
        counts = [sum(c.action is action for c in changes) for action in actions]
        cells = " | ".join(str(count) for count in counts)
        if not body.add(f"| {_code(file)} | {cells} |"):
            break
    body.add("")


def _code(text: str) -> str:
    """Inline code that holds any text (``|`` too, inside a table)."""
    return f"<code>{html.escape(text).replace('|', '&#124;')}</code>"


def _lines(body: _Body, changes: list[Change], width: int, plan: Plan) -> int:
    count = 0
    for change in changes:
        if not body.add(change_line(change, width, now=plan.timestamp)):
            break
        count += 1
    return count


def error_markdown(exc: ReconcilerError, *, limit: int = LIMIT) -> str:
    """An error as a comment: what failed, then each problem at ``FILE:LINE:COL``."""
    end = footer(None)
    body = _Body(limit - len(end) - _NOTE_ROOM)
    body.add(f"Plan failed: {escape(str(exc))}")
    body.add("")
    listed = 0
    for problem in exc.problems:
        place = f"{problem.file}:{problem.line}:{problem.col}"
        hint = f" ({escape(problem.hint)})" if problem.hint else ""
        if not body.add(f"- `{place}` {escape(problem.message)}{hint}"):
            break
        listed += 1
    if exc.problems:
        body.add("", force=True)
    if listed < len(exc.problems):
        body.add(f"**{len(exc.problems) - listed:,} more problems are not shown.**", force=True)
        body.add("", force=True)
    return body.text() + "\n" + end


class PlanMarkdown(View):
    """Writes the comment body on stdout; errors go there too (and to stderr)."""

    def on_progress(self, progress: Progress) -> None:
        pass

    def planned(
        self, plan: Plan, *, saved_to: str | None = None, budget: StopBudget | None = None
    ) -> None:
        see_all = f"reconciler show {saved_to}" if saved_to else "reconciler plan"
        self.print(plan_markdown(plan, see_all=see_all, budget=budget))

    def shown(self, plan: Plan, *, path: str | None = None) -> None:
        self.print(plan_markdown(plan, see_all=f"reconciler show {path or 'PLANFILE'}"))

    def error(self, exc: ReconcilerError) -> None:
        self.print(error_markdown(exc))
        super().error(exc)
