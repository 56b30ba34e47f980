"""End to end: saved plans (exact apply, stale and malformed plans), ``--target``
and ``plan --refresh`` — through the CLI as a subprocess, the official SDK over real
HTTP to the emulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from reconciler.instant import parse_time
from tests.support import (
    APP,
    EmulatorProcess,
    a,
    error_lines,
    listed,
    manifest,
    no_traceback,
    pull,
    reconciler,
    seed,
    stop_calls,
)

# --- saved plans -------------------------------------------------------------------


def test_saved_plan_document_and_exact_apply(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a", "b", "c", "late"]))
    path = manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    before = pull(env, tmp_path)
    manifest(path, ["a", "b", "c"])

    saved = reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert "reconciler apply plan.json" in saved.stdout
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert doc["format_version"] == 1
    assert doc["state"] == {"lineage": before["lineage"], "serial": before["serial"]}
    assert before["lineage"] and before["serial"] >= 1
    assert doc["changes"] == [
        {
            "address": a("b"),
            "action": "stop",
            "sdkAppId": APP,
            "taskId": "b",
            "region": "ap-singapore",
            "source": "manifests/m.yaml:10",
        },
        {
            "address": a("c"),
            "action": "stop",
            "sdkAppId": APP,
            "taskId": "c",
            "region": "ap-singapore",
            "source": "manifests/m.yaml:11",
        },
    ]
    assert doc["summary"] == {"stop": 2, "wait": 0, "forget": 0, "unchanged": 1}
    printed = reconciler("plan", "--json", env=env, cwd=tmp_path)
    printed_doc = json.loads(printed.stdout)
    # --json prints the document --out saves (each with the time it was planned at)
    assert parse_time(printed_doc.pop("timestamp")) >= parse_time(doc.pop("timestamp"))
    assert printed_doc == doc

    # declared after the plan was made: the saved plan does not know it
    manifest(tmp_path / "manifests" / "late.yaml", ["late"])
    applied = reconciler("apply", "plan.json", env=env, cwd=tmp_path)  # stdin: no terminal
    assert applied.returncode == 0, applied.stderr
    assert "Enter a value" not in applied.stdout
    assert "Apply complete! 2 stopped" in applied.stdout
    assert emulator.effective_stops() == {a("a"): 1, a("b"): 1, a("c"): 1}
    assert stop_calls(emulator) == 3
    assert listed(env, tmp_path) == [a("a"), a("b"), a("c")]
    plan = json.loads(reconciler("plan", "--json", env=env, cwd=tmp_path).stdout)
    assert [c["address"] for c in plan["changes"]] == [a("late")]


def test_stale_saved_plans_are_refused_without_a_call(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["x", "y", "z"]))
    path = manifest(tmp_path / "manifests" / "m.yaml", ["x"])
    state_a, state_b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    for state in (state_a, state_b):  # two states, each with its own lineage
        done = reconciler("apply", "--auto-approve", "--state", state, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    b_before = pull(env, tmp_path, "--state", state_b)
    manifest(path, ["x", "y", "z"])
    planned = reconciler("plan", "--out", "p.json", "--state", state_a, env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    calls = emulator.stats()["calls"]

    # another state (another lineage), which has records
    other = reconciler("apply", "p.json", "--state", state_b, env=env, cwd=tmp_path)
    assert other.returncode == 1
    assert "saved plan is stale" in other.stderr and "another state" in other.stderr
    assert no_traceback(other)
    assert emulator.stats()["calls"] == calls
    assert pull(env, tmp_path, "--state", state_b) == b_before

    # the same state, changed since the plan (an older serial)
    between = reconciler(
        "apply", "--auto-approve", "--target", a("y"), "--state", state_a, env=env, cwd=tmp_path
    )
    assert between.returncode == 0, between.stderr
    calls = emulator.stats()["calls"]
    older = reconciler("apply", "p.json", "--state", state_a, env=env, cwd=tmp_path)
    assert older.returncode == 1
    assert "saved plan is stale" in older.stderr and "serial" in older.stderr
    assert no_traceback(older)
    assert emulator.stats()["calls"] == calls
    assert emulator.effective_stops() == {a("x"): 1, a("y"): 1}
    assert listed(env, tmp_path, "--state", state_a) == [a("x"), a("y")]


def test_plan_made_without_state(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    assert reconciler("plan", "--out", "first.json", env=env, cwd=tmp_path).returncode == 0
    doc = json.loads((tmp_path / "first.json").read_text())
    assert doc["state"] == {"lineage": None, "serial": 0}
    assert not (tmp_path / "state.db").exists()  # planning creates no state
    shutil.copy(tmp_path / "first.json", tmp_path / "again.json")

    applied = reconciler("apply", "first.json", env=env, cwd=tmp_path)  # still-empty state
    assert applied.returncode == 0, applied.stderr
    assert emulator.effective_stops() == {a("a"): 1}
    calls = emulator.stats()["calls"]
    stale = reconciler("apply", "again.json", env=env, cwd=tmp_path)  # state exists now
    assert stale.returncode == 1
    assert "saved plan is stale" in stale.stderr
    assert emulator.stats()["calls"] == calls


MALFORMED_PLANS = {
    "syntax": ("{not json", "broken.json:1:2: not valid JSON"),
    "array": ("[1, 2]", "not a plan document"),
    "no-state": ('{"format_version": 1}', "has no 'state' field"),
    "version": ('{"format_version": 99, "state": {}, "changes": []}', "format_version 99"),
    "region": (
        '{"format_version": 1, "state": {"lineage": null, "serial": 0}, "changes": '
        '[{"address": "1400000001/a", "action": "stop", "region": "mars-1"}]}',
        "unknown region 'mars-1'",
    ),
    "address": (
        '{"format_version": 1, "state": {"lineage": null, "serial": 0}, "changes": '
        '[{"address": "no-slash", "action": "stop", "region": "ap-singapore"}]}',
        "not a plan document",
    ),
    "missing": (None, "no such plan file"),
}


def test_malformed_plan_file_is_one_clear_error(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))
    plan_file = tmp_path / "broken.json"
    for case, (content, expected) in MALFORMED_PLANS.items():
        plan_file.unlink(missing_ok=True)
        if content is not None:
            plan_file.write_text(content)
        result = reconciler("apply", "broken.json", env=env, cwd=tmp_path)
        assert result.returncode == 1, case
        assert no_traceback(result), (case, result.stderr)
        errors = error_lines(result)
        assert len(errors) == 1, (case, result.stderr)
        assert errors[0].startswith("Error: broken.json"), (case, errors)
        assert expected in errors[0], (case, errors)
    assert stop_calls(emulator) == 0
    assert not (tmp_path / "state.db").exists()


# --- --target ------------------------------------------------------------------------


def test_target_on_plan_and_apply(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a", "b", "c", "d"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "c", "d"])

    plan = reconciler(
        "plan", "--json", "--target", a("a"), "--target", a("c"), env=env, cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert [c["address"] for c in doc["changes"]] == [a("a"), a("c")]
    assert doc["summary"] == {"stop": 2, "wait": 0, "forget": 0, "unchanged": 0}

    for command in (["plan"], ["apply", "--auto-approve"]):
        nothing = reconciler(
            *command, "--target", a("a"), "--target", a("nosuch"), env=env, cwd=tmp_path
        )
        assert nothing.returncode == 1, command
        assert "--target matches nothing" in nothing.stderr and a("nosuch") in nothing.stderr
        assert a("a") not in error_lines(nothing)[0]  # names only what matched nothing
        assert no_traceback(nothing)
    assert stop_calls(emulator) == 0

    applied = reconciler("apply", "--auto-approve", "--target", a("b"), env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert emulator.effective_stops() == {a("b"): 1}
    assert listed(env, tmp_path) == [a("b")]

    # a saved plan narrowed by --target at apply time
    assert reconciler("plan", "--out", "p.json", env=env, cwd=tmp_path).returncode == 0
    unmatched = reconciler("apply", "p.json", "--target", a("b"), env=env, cwd=tmp_path)
    assert unmatched.returncode == 1  # b is recorded: it is not in the saved plan
    assert "--target matches nothing" in unmatched.stderr and a("b") in unmatched.stderr
    assert stop_calls(emulator) == 1
    narrowed = reconciler("apply", "p.json", "--target", a("d"), env=env, cwd=tmp_path)
    assert narrowed.returncode == 0, narrowed.stderr
    assert emulator.effective_stops() == {a("b"): 1, a("d"): 1}
    assert listed(env, tmp_path) == [a("b"), a("d")]


# --- plan --refresh --------------------------------------------------------------------


def test_plan_refresh_adds_live_status_and_changes_nothing(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["running"]) + seed(["ended"], status="Finished"))
    manifest(tmp_path / "manifests" / "m.yaml", ["running", "ended"])
    plain = json.loads(reconciler("plan", "--json", env=env, cwd=tmp_path).stdout)
    assert all("live" not in change for change in plain["changes"])

    result = reconciler("plan", "--refresh", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    live = {c["address"]: (c["action"], c["live"]) for c in doc["changes"]}
    assert live == {a("running"): ("stop", "InProgress"), a("ended"): ("stop", "NotExist")}
    assert doc["summary"] == plain["summary"]
    calls = emulator.stats()["calls"]
    assert calls.get("DescribeStreamIngest") == 2
    assert calls.get("StopStreamIngest", 0) == 0
    assert emulator.effective_stops() == {}
    assert not (tmp_path / "state.db").exists()

    human = reconciler("plan", "--refresh", env=env, cwd=tmp_path)
    assert "[live: NotExist]" in human.stdout and "[live: InProgress]" in human.stdout
