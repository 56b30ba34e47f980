"""Unit and property tests of the pure planner and its JSON document."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.domain import (
    EMPTY_STATE,
    Action,
    DesiredTask,
    LiveStatus,
    Outcome,
    Record,
    StateSnapshot,
)
from reconciler.errors import PlanFileError
from reconciler.instant import Instant
from reconciler.planner import (
    make_plan,
    plan_from_json,
    plan_to_json,
    with_live_status,
)

NOW = Instant.from_seconds(1_700_000_000)


def task(app: int, task_id: str, region: str = "ap-singapore") -> DesiredTask:
    return DesiredTask(sdk_app_id=app, task_id=task_id, region=region, source="m.yaml:1")


def record(app: int, task_id: str) -> Record:
    return Record(
        address=f"{app}/{task_id}",
        sdk_app_id=app,
        task_id=task_id,
        region="ap-singapore",
        outcome=Outcome.STOPPED,
        request_id="r",
        time="2026-01-01T00:00:00Z",
        source="m.yaml:1",
    )


def state(*records: Record, serial: int = 3) -> StateSnapshot:
    return StateSnapshot(lineage="L", serial=serial, records={r.address: r for r in records})


def test_stop_forget_unchanged() -> None:
    plan = make_plan(
        [task(1, "a"), task(1, "b")], state(record(1, "b"), record(2, "gone")), now=NOW
    )
    assert [(c.action, c.address) for c in plan.changes] == [
        (Action.STOP, "1/a"),
        (Action.FORGET, "2/gone"),
    ]
    assert plan.unchanged == 1
    assert (plan.lineage, plan.serial) == ("L", 3)


def test_no_state_plan_records_null_lineage_and_serial_zero() -> None:
    plan = make_plan([task(1, "a")], EMPTY_STATE, now=NOW)
    doc = plan_to_json(plan)
    assert doc["state"] == {"lineage": None, "serial": 0}
    assert doc["summary"] == {"stop": 1, "wait": 0, "forget": 0, "unchanged": 0}
    assert doc["changes"] == [
        {
            "address": "1/a",
            "action": "stop",
            "sdkAppId": 1,
            "taskId": "a",
            "region": "ap-singapore",
            "source": "m.yaml:1",
        }
    ]


def test_targets_limit_the_plan() -> None:
    plan = make_plan(
        [task(1, "a"), task(1, "b")], state(record(2, "gone")), targets={"1/b", "2/gone"}, now=NOW
    )
    assert [c.address for c in plan.changes] == ["1/b", "2/gone"]


def test_action_symbols() -> None:
    assert Action.STOP.symbol == "-"
    assert Action.FORGET.symbol == "~"


def test_document_round_trip_with_live() -> None:
    plan = make_plan([task(1, "a/b"), task(2, "c", "ap-jakarta")], state(record(3, "x")), now=NOW)
    plan = with_live_status(plan, {"1/a/b": LiveStatus.IN_PROGRESS})
    text = json.dumps(plan_to_json(plan))
    again = plan_from_json(json.loads(text))
    assert again == plan
    assert again.changes[0].task_id == "b" or again.changes[0].task_id == "a/b"


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"format_version": 9},
        {"format_version": 1},
        {"format_version": 1, "state": {}},
        {"format_version": 1, "state": {"lineage": None, "serial": -1}, "changes": []},
        {
            "format_version": 1,
            "state": {"lineage": None, "serial": 0},
            "changes": [{"address": "x"}],
        },
    ],
)
def test_bad_documents_are_refused_with_one_error(doc: object) -> None:
    with pytest.raises(PlanFileError):
        plan_from_json(doc)


addresses = st.tuples(st.integers(1, 5), st.sampled_from(["a", "b", "c", "d", "e/f"]))


@settings(max_examples=200, deadline=None)
@given(declared=st.sets(addresses, max_size=12), recorded=st.sets(addresses, max_size=12))
def test_planning_again_after_a_successful_apply_is_empty(
    declared: set[tuple[int, str]], recorded: set[tuple[int, str]]
) -> None:
    desired = [task(app, t) for app, t in sorted(declared)]
    before = state(*(record(app, t) for app, t in sorted(recorded)))
    plan = make_plan(desired, before, now=NOW)
    # "apply": record every stop, drop every forget
    after = dict(before.records)
    for change in plan.changes:
        if change.action is Action.STOP:
            after[change.address] = record(change.sdk_app_id, change.task_id)
        else:
            del after[change.address]
    replan = make_plan(
        desired, StateSnapshot("L", before.serial + len(plan.changes), after), now=NOW
    )
    assert replan.changes == ()
    assert replan.unchanged == len(declared)
    assert plan.count(Action.STOP) == len(declared - recorded)
    assert plan.count(Action.FORGET) == len(recorded - declared)
