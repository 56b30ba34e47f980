"""The blast-radius guard through the CLI against the emulator: ``--max-stops N``
(or ``RECONCILER_MAX_STOPS``) makes ``apply`` refuse, before any call, write or
forget, a plan that stops more than N tasks — naming the count and the manifests
that ask for the most; ``plan`` warns the same (text, JSON, Markdown); a ``run``
cycle it refuses is a failed cycle, not the end of the loop."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.support import (
    EmulatorProcess,
    a,
    addresses,
    end,
    error_lines,
    listed,
    manifest,
    names,
    reconciler,
    seed,
    start,
)
from tests.test_metrics_endpoint import Lines

WARNING = (
    "Warning: 5 tasks to stop, more than --max-stops 4; most from manifests/pasted.yaml (3), "
    "manifests/extra.yaml (2): apply --max-stops 4 will refuse this plan."
)


def after_a_bad_merge(tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]) -> None:
    """Two tasks stopped and recorded; then a merge that pastes five running tasks into
    two manifests, drops one of the recorded (to forget) and schedules one for 2099."""
    emulator.add_tasks(seed(["d1", "d2", *names("p", 3), *names("x", 2)]))
    manifest(tmp_path / "manifests" / "done.yaml", ["d1", "d2"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    manifest(tmp_path / "manifests" / "done.yaml", ["d1"])
    manifest(tmp_path / "manifests" / "pasted.yaml", names("p", 3))
    manifest(tmp_path / "manifests" / "extra.yaml", names("x", 2))
    manifest(
        tmp_path / "manifests" / "later.yaml", ["later"], stop_at={"later": "2099-01-01T00:00:00Z"}
    )


def test_apply_refuses_more_stops_than_allowed_before_anything(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    after_a_bad_merge(tmp_path, emulator, env)
    calls = emulator.stats()["calls"]
    before = listed(env, tmp_path)

    result = reconciler("apply", "--auto-approve", "--max-stops", "4", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Plan: 5 to stop, 1 waiting, 1 to forget, 1 unchanged." in result.stdout
    (message,) = error_lines(result)
    assert message == (
        "Error: refusing to apply: 5 tasks to stop, more than --max-stops 4; most from "
        "manifests/pasted.yaml (3), manifests/extra.yaml (2); nothing was stopped or "
        "forgotten (check the manifests, or raise --max-stops if this is meant)"
    )
    assert emulator.stats()["calls"] == calls  # no call at all
    assert listed(env, tmp_path) == before  # nothing recorded, nothing forgotten

    as_json = reconciler(
        "apply", "--auto-approve", "--json", env={**env, "RECONCILER_MAX_STOPS": "4"}, cwd=tmp_path
    )
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"] == "too_many_stops"

    flag_wins = reconciler(
        "apply",
        "--auto-approve",
        "--max-stops",
        "5",  # at the limit: allowed (the waiting task does not count)
        env={**env, "RECONCILER_MAX_STOPS": "0"},
        cwd=tmp_path,
    )
    assert flag_wins.returncode == 0, flag_wins.stderr
    assert sorted(listed(env, tmp_path)) == sorted(
        [a("d1"), *addresses(names("p", 3)), *addresses(names("x", 2))]
    )


def test_plan_warns_in_every_view_and_a_saved_plan_meets_the_guard(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    after_a_bad_merge(tmp_path, emulator, env)
    guarded = {**env, "RECONCILER_MAX_STOPS": "4"}

    human = reconciler(
        "plan", "--out", "plan.json", "--detailed-exitcode", env=guarded, cwd=tmp_path
    )
    assert human.returncode == 2, human.stderr  # a warning, not an error
    assert WARNING in human.stdout
    doc = json.loads(reconciler("plan", "--json", env=guarded, cwd=tmp_path).stdout)
    assert doc["maxStops"] == {
        "limit": 4,
        "stops": 5,
        "exceeded": True,
        "manifests": [
            {"file": "manifests/pasted.yaml", "stops": 3},
            {"file": "manifests/extra.yaml", "stops": 2},
        ],
    }
    markdown = reconciler("plan", "--markdown", env=guarded, cwd=tmp_path).stdout
    assert markdown.splitlines()[2] == f"> **{WARNING}**"
    quiet = reconciler("plan", "--json", env=env, cwd=tmp_path)
    assert "maxStops" not in json.loads(quiet.stdout)  # no limit given, nothing said

    refused = reconciler("apply", "plan.json", "--max-stops", "4", env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "refusing to apply: 5 tasks" in refused.stderr
    assert reconciler("apply", "plan.json", env=env, cwd=tmp_path).returncode == 0


def test_a_bad_limit_is_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    for args, extra, text in [
        (["--max-stops", "-1"], {}, "must be at least 0, got -1"),
        (["--max-stops", "many"], {}, "expected a whole number"),
        ([], {"RECONCILER_MAX_STOPS": "ten"}, "RECONCILER_MAX_STOPS='ten'"),
    ]:
        result = reconciler("plan", *args, env={**env, **extra}, cwd=tmp_path)
        assert result.returncode == 1 and text in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_run_cycle_over_the_limit_fails_and_the_loop_goes_on(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    tasks = names("r", 3)
    emulator.add_tasks(seed(tasks))
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    args = ["run", "--interval", "1h", "--max-stops", "2", "--log-format", "json"]
    proc = start(*args, env=env, cwd=tmp_path)
    assert proc.stderr is not None
    logs = Lines(proc.stderr)
    try:
        failed = logs.first("cycle failed")
        assert "refusing to apply: 3 tasks to stop, more than --max-stops 2" in str(failed["error"])
        assert emulator.stats()["calls"] == {}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0  # a service: the refusal did not end it
    finally:
        end(proc)
