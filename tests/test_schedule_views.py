"""How scheduled stops and the blast-radius guard read, in-process: spans ahead, wait
lines relative to the plan's time, a plan of waits only, the ``--max-stops``
warning, the folded Markdown table's wait column, a stop left waiting at apply,
and a ``run`` cycle line that names the next stop."""

from __future__ import annotations

import io

import pytest

from reconciler.domain import Action, Change, Outcome, Plan, TaskResult
from reconciler.instant import Instant, parse_time
from reconciler.planner import stop_budget
from reconciler.results import CycleResult
from reconciler.views import PlanHuman, Streams
from reconciler.views.apply import outcome_line
from reconciler.views.clock import ahead, until
from reconciler.views.markdown import plan_markdown
from reconciler.views.plan import plan_lines
from reconciler.views.run import cycle_line

NOW = parse_time("2026-12-05T12:46:12Z")
FINAL = parse_time("2026-12-05T15:00:00Z")


def change(action: Action, name: str, stop_at: Instant | None = None, file: str = "a") -> Change:
    return Change(action, 1, name, "ap-jakarta", f"manifests/{file}.yaml:9", stop_at=stop_at)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.4, "1s"),  # due in 0.4 s is not "in 0s"
        (45, "45s"),
        (60, "1m"),
        (125, "2m 5s"),
        (3600, "1h"),
        (2 * 3600 + 13 * 60 + 48, "2h 13m"),
        (3 * 86_400 + 4 * 3600 + 59, "3d 4h"),
        (86_400 + 30, "1d"),
        (-5, "0s"),
    ],
)
def test_spans_ahead_in_their_two_largest_units(seconds: float, text: str) -> None:
    assert ahead(seconds) == text


def test_until_reads_in_utc_from_the_plans_time() -> None:
    assert until(FINAL, NOW) == "until 2026-12-05T15:00:00Z, in 2h 13m"
    assert until(FINAL, None) == "until 2026-12-05T15:00:00Z"  # an older plan: no time


def test_a_plan_of_waits_only_says_there_is_nothing_to_do_now() -> None:
    plan = Plan("L", 1, (change(Action.WAIT, "final", FINAL),), 2, timestamp=NOW)
    lines = plan_lines(plan)
    assert lines[0] == "Nothing to do now; these tasks wait for their stopAt:"
    assert lines[2] == (
        "  @ 1/final  wait    ap-jakarta    until 2026-12-05T15:00:00Z, in 2h 13m"
        "  (manifests/a.yaml:9)"
    )
    assert lines[-1] == "Plan: 0 to stop, 1 waiting, 0 to forget, 2 unchanged."


def test_the_plan_warns_past_max_stops_and_not_at_it() -> None:
    plan = Plan("L", 1, (change(Action.STOP, "a"), change(Action.STOP, "b", file="b")), 0)
    for limit, warned in ((1, True), (2, False)):
        out = io.StringIO()
        PlanHuman(Streams(out=out, err=io.StringIO())).planned(
            plan, budget=stop_budget(plan, limit)
        )
        assert ("Warning: 2 tasks to stop, more than --max-stops 1" in out.getvalue()) is warned
    body = plan_markdown(plan, see_all="reconciler plan", budget=stop_budget(plan, 1))
    assert body.splitlines()[2].startswith("> **Warning: 2 tasks to stop, more than --max-stops 1")


def test_the_folded_table_has_a_wait_column_only_when_something_waits() -> None:
    stops = [change(Action.STOP, f"s{i}", file=f"f{i % 3}") for i in range(25)]
    plain = Plan("L", 1, tuple(stops), 0, timestamp=NOW)
    assert "| manifest file | stop | forget |" in plan_markdown(plain, see_all="x")
    waits = (*stops, change(Action.WAIT, "w", FINAL, file="f0"))
    body = plan_markdown(Plan("L", 1, waits, 0, timestamp=NOW), see_all="x")
    assert "| manifest file | stop | wait | forget |" in body
    assert "| <code>manifests/f0.yaml</code> | 9 | 1 | 0 |" in body


def test_a_stop_left_waiting_at_apply_reads_as_the_wait_it_still_is() -> None:
    result = TaskResult(change(Action.STOP, "early", FINAL), Outcome.WAITING)
    assert outcome_line(result, 8) == (
        "  @ 1/early   waiting          until 2026-12-05T15:00:00Z: not due yet by this "
        "machine's clock, not sent"
    )


def test_a_cycle_line_names_the_next_stop() -> None:
    counts = {o.value: 0 for o in Outcome} | {"stopped": 1, "waiting": 2}
    result = CycleResult(True, counts, 3, NOW.seconds, 0.2, next_stop=FINAL)
    text, _ = cycle_line(4, result)
    assert text == (
        "Cycle 4 at 2026-12-05T12:46:12Z: 1 stopped, 0 already stopped, 0 failed, 0 forgotten, "
        "2 waiting (0.2s). Next stop 2026-12-05T15:00:00Z (in 2h 13m)."
    )
