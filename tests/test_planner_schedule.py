"""The planner on fake time: a declared task waits while its stopAt is ahead and is a
stop from that instant on; the plan document carries waits, stopAts, the time it
was made and its manifests, and reads back; ``next_stop`` and the stop budget that
``--max-stops`` judges."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.domain import EMPTY_STATE, Action, DesiredTask, LiveStatus, Outcome, Record
from reconciler.domain import StateSnapshot as Snapshot
from reconciler.errors import PlanFileError
from reconciler.instant import Instant, parse_time
from reconciler.planner import (
    make_plan,
    next_stop,
    plan_from_json,
    plan_to_json,
    stop_budget,
    with_live_status,
)

NOW = parse_time("2026-12-05T12:46:12Z")
FINAL = parse_time("2026-12-05T22:00:00+07:00")  # 15:00:00Z, 2h 13m 48s after NOW
PAST = parse_time("2026-12-01T00:00:00Z")


def task(name: str, stop_at: Instant | None = None, *, file: str = "m.yaml") -> DesiredTask:
    return DesiredTask(1, name, "ap-jakarta", f"{file}:1", stop_at=stop_at)


def recorded(name: str) -> Record:
    return Record(f"1/{name}", 1, name, "ap-jakarta", Outcome.STOPPED, "r", "t", "m.yaml:1")


def test_a_task_waits_until_its_stop_at_and_is_a_stop_from_that_instant() -> None:
    desired = [task("now"), task("past", PAST), task("final", FINAL)]
    before = make_plan(desired, EMPTY_STATE, now=NOW)
    assert [(c.task_id, c.action, c.stop_at) for c in before.changes] == [
        ("final", Action.WAIT, FINAL),
        ("now", Action.STOP, None),
        ("past", Action.STOP, PAST),
    ]
    assert before.timestamp == NOW
    at = make_plan(desired, EMPTY_STATE, now=FINAL)
    assert [c.action for c in at.changes] == [Action.STOP] * 3
    just_before = make_plan(desired, EMPTY_STATE, now=Instant(FINAL.ns - 1))
    assert just_before.changes[0].action is Action.WAIT


def test_waits_alone_are_no_changes_and_recorded_tasks_never_wait() -> None:
    state = Snapshot("L", 1, {"1/done": recorded("done")})
    plan = make_plan([task("final", FINAL), task("done", FINAL)], state, now=NOW)
    assert [c.action for c in plan.changes] == [Action.WAIT]
    assert plan.unchanged == 1
    assert not plan.has_changes  # an apply now would do nothing
    assert plan.count(Action.WAIT) == 1


def test_the_document_carries_waits_stop_ats_its_time_and_manifests() -> None:
    plan = dataclasses.replace(
        make_plan([task("final", FINAL), task("past", PAST)], EMPTY_STATE, now=NOW),
        manifests=("manifests",),
    )
    doc = plan_to_json(plan)
    assert doc["timestamp"] == "2026-12-05T12:46:12Z"
    assert doc["manifests"] == ["manifests"]
    assert doc["changes"] == [
        {
            "address": "1/final",
            "action": "wait",
            "sdkAppId": 1,
            "taskId": "final",
            "region": "ap-jakarta",
            "source": "m.yaml:1",
            "stopAt": "2026-12-05T15:00:00Z",
        },
        {
            "address": "1/past",
            "action": "stop",
            "sdkAppId": 1,
            "taskId": "past",
            "region": "ap-jakarta",
            "source": "m.yaml:1",
            "stopAt": "2026-12-01T00:00:00Z",
        },
    ]
    assert doc["summary"] == {"stop": 1, "wait": 1, "forget": 0, "unchanged": 0}
    assert plan_from_json(doc) == plan


def test_a_plan_document_without_the_new_fields_still_reads() -> None:
    plan = plan_from_json(
        {"format_version": 1, "state": {"lineage": None, "serial": 0}, "changes": []}
    )
    assert (plan.timestamp, plan.manifests) == (None, ())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"action": "wait"}, "1/a waits, but has no stopAt"),
        ({"action": "wait", "stopAt": "2026-12-05"}, "stopAt '2026-12-05' is a date"),
        ({"action": "stop", "stopAt": "2026-12-05T22:00:00"}, "has no UTC offset"),
        ({"action": "stop", "stopAt": 1796482800}, "stopAt must be an RFC 3339 string"),
        ({"action": "wait", "stopAt": "2026-12-05T15:00:00Z", "region": "mars"}, "region"),
    ],
)
def test_a_saved_wait_or_stop_at_is_checked(change: dict[str, object], message: str) -> None:
    item = {"address": "1/a", "region": "ap-jakarta", "source": "m:1", **change}
    doc = {"format_version": 1, "state": {"lineage": None, "serial": 0}, "changes": [item]}
    with pytest.raises(PlanFileError, match=message):
        plan_from_json(doc)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timestamp": "yesterday"}, "timestamp 'yesterday' is not an RFC 3339 time"),
        ({"manifests": "manifests"}, "manifests must be a list of paths"),
        ({"manifests": [1]}, "manifests must be a list of paths"),
    ],
)
def test_a_saved_timestamp_and_manifests_are_checked(
    extra: dict[str, object], message: str
) -> None:
    doc = {"format_version": 1, "state": {"lineage": None, "serial": 0}, "changes": [], **extra}
    with pytest.raises(PlanFileError, match=message):
        plan_from_json(doc)


def test_next_stop_is_the_earliest_stop_at_still_ahead() -> None:
    later = parse_time("2026-12-06T00:00:00Z")
    plan = make_plan([task("b", later), task("a", FINAL), task("c", PAST)], EMPTY_STATE, now=NOW)
    assert next_stop(plan, NOW) == FINAL
    assert next_stop(plan, FINAL) == later  # the first one has come
    assert next_stop(plan, later) is None
    assert next_stop(make_plan([task("x")], EMPTY_STATE, now=NOW), NOW) is None


def test_refreshing_keeps_the_stop_at() -> None:
    plan = make_plan([task("final", FINAL)], EMPTY_STATE, now=NOW)
    live = with_live_status(plan, {"1/final": LiveStatus.IN_PROGRESS})
    assert live.changes[0].stop_at == FINAL
    assert live.changes[0].live is LiveStatus.IN_PROGRESS
    assert live.timestamp == NOW


def test_the_stop_budget_counts_stops_not_waits_and_names_the_biggest_files() -> None:
    desired = [
        *(task(f"a{i}", file="manifests/a.yaml") for i in range(3)),
        *(task(f"b{i}", file="manifests/b.yaml") for i in range(5)),
        task("c", file="manifests/c.yaml"),
        task("d", file="manifests/d.yaml"),
        *(task(f"w{i}", FINAL, file="manifests/w.yaml") for i in range(9)),
    ]
    plan = make_plan(desired, EMPTY_STATE, now=NOW)
    budget = stop_budget(plan, 9)
    assert (budget.stops, budget.exceeded) == (10, True)
    assert budget.top == (("manifests/b.yaml", 5), ("manifests/a.yaml", 3), ("manifests/c.yaml", 1))
    assert budget.describe() == (
        "10 tasks to stop, more than --max-stops 9; most from manifests/b.yaml (5), "
        "manifests/a.yaml (3), manifests/c.yaml (1)"
    )
    assert not stop_budget(plan, 10).exceeded  # at the limit is within it
    assert stop_budget(plan, 0).to_json()["exceeded"] is True
    assert not stop_budget(make_plan(desired[-9:], EMPTY_STATE, now=NOW), 0).exceeded


offsets = st.integers(min_value=-10_000, max_value=10_000)


@given(st.lists(st.one_of(st.none(), offsets), max_size=30), offsets, st.integers(0, 20_000))
def test_time_only_turns_waits_into_stops(
    schedule: list[int | None], now_at: int, later_by: int
) -> None:
    desired = [
        task(f"t{i}", None if at is None else Instant(NOW.ns + at * 10**9))
        for i, at in enumerate(schedule)
    ]
    now = Instant(NOW.ns + now_at * 10**9)
    plan = make_plan(desired, EMPTY_STATE, now=now)
    for change in plan.changes:
        due = change.stop_at is None or change.stop_at <= now
        assert change.action is (Action.STOP if due else Action.WAIT)
    # applying the stops, then planning again at the same time, leaves only the waits
    stopped = {c.address: recorded(c.task_id) for c in plan.changes if c.action is Action.STOP}
    again = make_plan(desired, Snapshot("L", 1, stopped), now=now)
    assert [c.action for c in again.changes] == [Action.WAIT] * plan.count(Action.WAIT)
    # later, a wait may become a stop; a stop never becomes a wait
    after = make_plan(desired, EMPTY_STATE, now=Instant(now.ns + later_by * 10**9))
    for first, second in zip(plan.changes, after.changes, strict=True):
        assert first.action is not Action.STOP or second.action is Action.STOP
