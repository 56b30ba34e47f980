"""Each command's views in-process: human and JSON renderings written to string
streams, for plans, outcomes, summaries, state and errors."""

from __future__ import annotations

import io
import json

from reconciler.domain import (
    Action,
    CallError,
    Change,
    Outcome,
    Plan,
    Problem,
    Record,
    StateSnapshot,
    TaskResult,
)
from reconciler.engine import ApplyReport
from reconciler.errors import ManifestsInvalid, StateError
from reconciler.results import ApplyResult, ApplyStatus
from reconciler.views import (
    ApplyHuman,
    ApplyJson,
    PlanHuman,
    PlanJson,
    StateHuman,
    Streams,
    ValidateJson,
)

STOP = Change(Action.STOP, 1400000001, "task-a", "ap-singapore", "manifests/a.yaml:9")
FORGET = Change(Action.FORGET, 1400000001, "old", "ap-mumbai", "manifests/b.yaml:3")
PLAN = Plan(lineage="lin-1", serial=7, changes=(STOP, FORGET), unchanged=4)


def streams() -> Streams:
    return Streams(out=io.StringIO(), err=io.StringIO())


def text(stream: object) -> str:
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def report(**counts: int) -> ApplyReport:
    base = {outcome.value: 0 for outcome in Outcome}
    return ApplyReport({**base, **counts}, None, False, 0, 1.25)


def test_plan_human_lists_changes_with_symbols_and_a_summary() -> None:
    s = streams()
    PlanHuman(s).planned(PLAN, saved_to="plan.json")
    out = text(s.out)
    assert "- 1400000001/task-a" in out and "ap-singapore" in out
    assert "(manifests/a.yaml:9)" in out
    assert "~ 1400000001/old" in out and "no API call" in out
    assert "Plan: 1 to stop, 1 to forget, 4 unchanged." in out
    assert "reconciler apply plan.json" in out


def test_plan_human_with_no_changes() -> None:
    s = streams()
    PlanHuman(s).planned(Plan("l", 3, (), 12))
    assert text(s.out).startswith("No changes.") and "12 tasks already stopped" in text(s.out)


def test_plan_json_is_the_plan_document() -> None:
    s = streams()
    PlanJson(s).planned(PLAN)
    doc = json.loads(text(s.out))
    assert doc["state"] == {"lineage": "lin-1", "serial": 7}
    assert doc["summary"] == {"stop": 1, "wait": 0, "forget": 1, "unchanged": 4}
    assert doc["changes"][0]["address"] == "1400000001/task-a"


def test_apply_human_prints_each_outcome_and_the_summary() -> None:
    s = streams()
    view = ApplyHuman(s)
    view.planned(PLAN)
    view.on_result(TaskResult(STOP, Outcome.STOPPED, request_id="req-1"))
    failed = CallError("InvalidParameter.TaskId", "no such task")
    view.on_result(TaskResult(STOP, Outcome.FAILED, error=failed))
    view.applied(ApplyResult(ApplyStatus.APPLIED, PLAN, report(stopped=1, failed=1), "run"))
    out = text(s.out)
    assert "  - 1400000001/task-a  stopped          RequestId req-1\n" in out
    assert "  - 1400000001/task-a  failed           InvalidParameter.TaskId: no such task\n" in out
    assert "\x1b" not in out  # no colour off a terminal
    assert "Apply finished with failures: 1 stopped" in out


def test_apply_human_declined() -> None:
    s = streams()
    ApplyHuman(s).applied(ApplyResult(ApplyStatus.DECLINED, PLAN, ApplyReport.empty(PLAN), "run"))
    assert text(s.out).strip() == "Apply cancelled."


def test_apply_json_events_and_summary() -> None:
    s = streams()
    view = ApplyJson(s)
    view.planned(PLAN)
    view.on_result(TaskResult(STOP, Outcome.ALREADY_STOPPED, request_id="r"))
    view.applied(ApplyResult(ApplyStatus.APPLIED, PLAN, report(already_stopped=1), "run"))
    lines = [json.loads(line) for line in text(s.out).splitlines()]
    assert lines[0] == {"type": "already_stopped", "address": STOP.address, "requestId": "r"}
    assert lines[1]["type"] == "summary" and lines[1]["already_stopped"] == 1


def test_errors_list_problems_then_one_line() -> None:
    s = streams()
    problem = Problem("m.yaml", 3, 7, "unknown key 'taskID'", "did you mean 'taskId'?")
    PlanHuman(s).error(ManifestsInvalid([problem]))
    assert text(s.err).splitlines() == [
        "m.yaml:3:7: unknown key 'taskID'; did you mean 'taskId'?",
        "Error: 1 problem in the manifests; nothing was planned or changed",
    ]
    assert text(s.out) == ""


def test_validate_json_reports_problems_as_data() -> None:
    s = streams()
    problem = Problem("m.yaml", 1, 1, "bad")
    ValidateJson(s).error(ManifestsInvalid([problem]))
    doc = json.loads(text(s.out).splitlines()[0])
    assert doc["valid"] is False and doc["problems"][0]["line"] == 1


def test_state_views() -> None:
    record = Record(
        "1/a", 1, "a", "ap-jakarta", Outcome.STOPPED, "r", "2026-01-01T00:00:00Z", "m:1"
    )
    snapshot = StateSnapshot("lin", 2, {"1/b": record, "1/a": record})
    s = streams()
    view = StateHuman(s)
    view.listed(snapshot)
    view.shown(record)
    assert text(s.out).splitlines()[:2] == ["1/a", "1/b"]
    assert '"region": "ap-jakarta"' in text(s.out)
    view.error(StateError("state x: disk full"))
    assert text(s.err) == "Error: state x: disk full\n"
