"""End to end on shared state and on a schedule — issue 5's acceptance: the CLI as a
subprocess against a real PostgreSQL (see conftest) and the emulator; the lock between
two runners; moving a local state to PostgreSQL with pull / push; and ``reconciler
run --interval`` picking up new manifests, surviving a failing cycle, writing
Prometheus metrics and stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    APP,
    SINCE,
    EmulatorProcess,
    a,
    cli_env,
    end,
    listed,
    manifest,
    no_traceback,
    pull,
    reconciler,
    seed,
    start,
    stop_calls,
    wait_for,
    write,
)


@pytest.fixture
def pg_env(
    tmp_path: Path, emulator: EmulatorProcess, postgres_state_location: Callable[..., str]
) -> dict[str, str]:
    """The CLI's environment with RECONCILER_STATE a fresh PostgreSQL state."""
    return cli_env(tmp_path, emulator, RECONCILER_STATE=postgres_state_location())


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` atomically, so a running loop never reads it half-written."""
    tmp = write(path.with_name(path.name + ".tmp"), text)
    os.replace(tmp, path)


def metrics(path: Path) -> dict[str, float]:
    """The samples of a Prometheus text file ({} while it does not exist yet)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def cycles(path: Path, result: str = "success") -> float:
    return metrics(path).get(f'reconciler_cycles_total{{result="{result}"}}', 0.0)


def log_events(stderr: str) -> list[dict[str, Any]]:
    events = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def terminate(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """SIGTERM the loop; it must exit within 5 s. (code, stdout, stderr)."""
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"run did not exit within 5 s of SIGTERM:\n{err}") from None
    assert time.monotonic() - started < 5
    return proc.returncode, out, err


# --- apply, list and independent states -------------------------------------------


def test_apply_and_state_list_on_postgres_with_independent_state_names(
    tmp_path: Path,
    emulator: EmulatorProcess,
    pg_env: dict[str, str],
    postgres_state_location: Callable[..., str],
) -> None:
    emulator.add_tasks(seed(["a", "b"]) + seed(["c"], status="Finished"))
    path = manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "c"])
    applied = reconciler("apply", "--auto-approve", env=pg_env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "2 stopped, 1 already stopped, 0 failed" in applied.stdout
    assert listed(pg_env, tmp_path) == [a("a"), a("b"), a("c")]
    assert not (tmp_path / "state.db").exists() and not (tmp_path / ".reconciler").exists()
    again = reconciler("plan", "--detailed-exitcode", env=pg_env, cwd=tmp_path)
    assert again.returncode == 0 and "No changes." in again.stdout
    team_a = pull(pg_env, tmp_path)
    assert team_a["serial"] == 3

    # another state= name in the same database: its own records, lineage and serial
    other = postgres_state_location("team-b")
    assert listed(pg_env, tmp_path, "--state", other) == []
    manifest(path, ["a"])
    applied = reconciler("apply", "--auto-approve", "--state", other, env=pg_env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "0 stopped, 1 already stopped" in applied.stdout
    team_b = pull(pg_env, tmp_path, "--state", other)
    assert [r["address"] for r in team_b["records"]] == [a("a")]
    assert team_b["lineage"] != team_a["lineage"] and team_b["serial"] == 1
    assert pull(pg_env, tmp_path) == team_a
    removed = reconciler("state", "rm", a("a"), "--state", other, env=pg_env, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert listed(pg_env, tmp_path, "--state", other) == []
    assert listed(pg_env, tmp_path) == [a("a"), a("b"), a("c")]
    assert emulator.effective_stops() == {a("a"): 1, a("b"): 1}


# --- the lock --------------------------------------------------------------------------


def test_second_runner_fails_fast_and_a_killed_holder_does_not_block(
    tmp_path: Path,
    emulator: EmulatorProcess,
    pg_env: dict[str, str],
    postgres_state_location: Callable[..., str],
) -> None:
    tasks = [f"t{i:02}" for i in range(20)]
    emulator.add_tasks(seed(tasks))
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    emulator.configure(latency=0.5)
    first = start("apply", "--auto-approve", "--parallelism", "1", env=pg_env, cwd=tmp_path)
    try:
        wait_for(lambda: stop_calls(emulator) >= 1, what="the first apply to begin")
        began = time.monotonic()
        second = reconciler("apply", "--auto-approve", env=pg_env, cwd=tmp_path)
        assert time.monotonic() - began < 5
        assert first.poll() is None, "the first apply ended too early to test the lock"
        assert second.returncode == 1
        assert no_traceback(second)
        message = second.stderr
        assert "is locked by apply" in message
        assert f"on host {socket.gethostname()}, pid {first.pid}" in message
        assert re.search(SINCE, message), message

        waited = reconciler(
            "apply", "--auto-approve", "--lock-timeout", "1", env=pg_env, cwd=tmp_path
        )
        assert waited.returncode == 1 and "after waiting 1" in waited.stderr
        assert f"pid {first.pid}" in waited.stderr
        assert first.poll() is None, "the first apply ended too early to test the lock"

        # the lock is per state name: another state in the same database is free
        other = postgres_state_location()
        free = reconciler(
            "state",
            "push",
            "-",
            "--state",
            other,
            env=pg_env,
            cwd=tmp_path,
            input=json.dumps({"format_version": 1, "lineage": "l-1", "serial": 1, "records": []}),
        )
        assert free.returncode == 0, free.stderr

        first.send_signal(signal.SIGKILL)  # mid-apply, holding the lock
        first.wait(30)
    finally:
        end(first)
    emulator.configure(latency=0.0)
    recorded = listed(pg_env, tmp_path)
    assert len(recorded) < len(tasks)
    began = time.monotonic()
    rest = reconciler("apply", "--auto-approve", env=pg_env, cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    assert time.monotonic() - began < 30
    assert listed(pg_env, tmp_path) == [a(t) for t in tasks]
    # only what was not recorded was planned again; nothing was stopped twice
    assert f"{len(tasks) - len(recorded)} to stop" in rest.stdout
    assert emulator.effective_stops() == {a(t): 1 for t in tasks}


# --- moving a local state to PostgreSQL --------------------------------------------


def test_migrate_local_state_to_postgres_with_pull_and_push(
    tmp_path: Path,
    emulator: EmulatorProcess,
    postgres_state_location: Callable[..., str],
) -> None:
    env = cli_env(tmp_path, emulator)  # SQLite: state.db
    emulator.add_tasks(seed(["a", "b", "late"]) + seed(["c"], status="Finished"))
    path = manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "c"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    pulled = reconciler("state", "pull", env=env, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    (tmp_path / "state.json").write_text(pulled.stdout)
    local = json.loads(pulled.stdout)

    pg = postgres_state_location()
    pushed = reconciler("state", "push", "state.json", "--state", pg, env=env, cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    assert "Pushed 3 records" in pushed.stdout
    plan = reconciler("plan", "--detailed-exitcode", "--state", pg, env=env, cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes." in plan.stdout
    assert pull(env, tmp_path, "--state", pg) == local

    # the migrated state is the one used from now on
    manifest(path, ["a", "b", "c", "late"])
    applied = reconciler("apply", "--auto-approve", "--state", pg, env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "1 stopped, 0 already stopped" in applied.stdout
    assert listed(env, tmp_path, "--state", pg) == [a("a"), a("b"), a("c"), a("late")]
    assert emulator.effective_stops() == {a("a"): 1, a("b"): 1, a("late"): 1}
    assert emulator.stats()["errors"].get("FailedOperation.TaskFinished") == 1  # c, once


# --- run --interval ----------------------------------------------------------------


def test_run_loop_picks_up_new_manifests_and_stops_on_sigterm(
    tmp_path: Path, emulator: EmulatorProcess, pg_env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a", "b", "c"]))
    manifest(tmp_path / "manifests" / "first.yaml", ["a", "b"])
    prom = tmp_path / "m.prom"
    loop = start(
        "run",
        "manifests",
        "--interval",
        "1s",
        "--metrics-file",
        str(prom),
        env=pg_env,
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: cycles(prom) >= 1, what="the first cycle")
        assert emulator.effective_stops() == {a("a"): 1, a("b"): 1}

        second = tmp_path / "manifests" / "second.yaml"
        replace_file(second, manifest(tmp_path / "staging" / "second.yaml", ["c"]).read_text())
        wait_for(lambda: a("c") in emulator.effective_stops(), what="the new task's stop")
        seen_at = cycles(prom)  # the cycle that stopped it may still be finishing
        wait_for(lambda: cycles(prom) >= seen_at + 2, what="two more cycles")
        assert loop.poll() is None

        stats = emulator.stats()
        assert stats["effective_stops"] == {a("a"): 1, a("b"): 1, a("c"): 1}
        assert stats["errors"].get("FailedOperation.TaskFinished", 0) == 0
        assert stats["calls"]["StopStreamIngest"] == 3

        text = prom.read_text()
        for name in ("reconciler_last_run_success", "reconciler_cycles_total"):
            assert f"# HELP {name} " in text and f"# TYPE {name} " in text
        assert "# TYPE reconciler_cycles_total counter" in text
        samples = metrics(prom)
        assert samples["reconciler_last_run_success"] == 1
        assert samples['reconciler_cycles_total{result="failure"}'] == 0
        assert samples['reconciler_tasks_total{outcome="stopped"}'] == 3
        assert abs(samples["reconciler_last_run_timestamp_seconds"] - time.time()) < 60
        code, out, err = terminate(loop)
    finally:
        end(loop)
    assert code == 0, err
    assert no_traceback(subprocess.CompletedProcess(loop.args, code, out, err)), err
    events = [e.get("event") for e in log_events(err)]
    assert "cycle finished" in events and events[-1] == "reconciliation loop stopped"
    assert listed(pg_env, tmp_path) == [a("a"), a("b"), a("c")]


def test_run_loop_survives_a_failing_cycle(tmp_path: Path, emulator: EmulatorProcess) -> None:
    env = cli_env(tmp_path, emulator)  # SQLite
    emulator.add_tasks(seed(["a", "d"]))
    manifest(tmp_path / "manifests" / "a.yaml", ["a"])
    prom = tmp_path / "m.prom"
    loop = start("run", "--interval", "1s", "--metrics-file", str(prom), env=env, cwd=tmp_path)
    try:
        wait_for(lambda: cycles(prom) >= 1, what="the first cycle")
        assert emulator.effective_stops() == {a("a"): 1}

        bad = tmp_path / "manifests" / "d.yaml"
        replace_file(
            bad,
            f"apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec:\n  region: ap-singapore\n"
            f"  sdkAppId: {APP}\n  tasks:\n    - d\n    - 12345\n",
        )
        wait_for(lambda: cycles(prom, "failure") >= 1, what="a failing cycle")
        assert metrics(prom)["reconciler_last_run_success"] == 0
        assert loop.poll() is None, "a failing cycle ended the loop"
        assert emulator.effective_stops() == {a("a"): 1}  # nothing half-applied

        replace_file(bad, manifest(tmp_path / "staging" / "d.yaml", ["d"]).read_text())
        wait_for(lambda: a("d") in emulator.effective_stops(), what="the fixed manifest's stop")
        failures = cycles(prom, "failure")
        wait_for(lambda: metrics(prom).get("reconciler_last_run_success") == 1, what="a success")
        assert cycles(prom, "failure") == failures
        code, out, err = terminate(loop)
    finally:
        end(loop)
    assert code == 0, err
    assert "Traceback" not in out + err
    failed = [e for e in log_events(err) if e.get("event") == "cycle failed"]
    assert failed, err
    assert "problem" in failed[0]["error"] and failed[0]["level"] == "error"
    problems = [e["problem"] for e in log_events(err) if e.get("event") == "manifest problem"]
    assert problems and problems[0].startswith("manifests/d.yaml:8:7: "), problems
    assert "quote" in problems[0]
    assert "cycle failed" not in out
    assert emulator.effective_stops() == {a("a"): 1, a("d"): 1}
    assert emulator.stats()["errors"].get("FailedOperation.TaskFinished", 0) == 0
    assert listed(env, tmp_path) == [a("a"), a("d")]
