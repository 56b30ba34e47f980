"""End to end: the reconciler CLI as a subprocess, the official SDK over real HTTP to
the emulator, a real SQLite state. Issue 2's acceptance, run by a machine."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from tests.support import (
    APP,
    EmulatorProcess,
    cli_env,
    manifest,
    no_traceback,
    reconciler,
    reported,
    seed,
    write,
)


def test_plan_apply_replan(tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]) -> None:
    manifest(tmp_path / "manifests" / "sg.yaml", ["a", "b"])
    write(
        tmp_path / "manifests" / "more" / "jk.yml",
        f"""
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-jakarta
          sdkAppId: {APP}
          tasks:
            - taskId: c
              note: moved to another region
            - taskId: d
              sdkAppId: 1400000002
              region: ap-mumbai
        """,
    )
    emulator.add_tasks(
        seed(["a", "b"])
        + seed(["c"], region="ap-jakarta")
        + seed(["d"], region="ap-mumbai", app=1400000002)
        + seed(["other"])  # not declared: must never be stopped
    )
    plan = reconciler("plan", "--detailed-exitcode", env=env, cwd=tmp_path)
    assert plan.returncode == 2, plan.stderr
    for address in (f"{APP}/a", f"{APP}/b", f"{APP}/c", "1400000002/d"):
        assert f"- {address}" in plan.stdout
    assert "Plan: 4 to stop, 0 to forget, 0 unchanged." in plan.stdout
    assert "other" not in plan.stdout
    assert emulator.stats()["calls"].get("StopStreamIngest", 0) == 0

    applied = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete! 4 stopped, 0 already stopped, 0 failed, 0 forgotten" in applied.stdout
    assert emulator.effective_stops() == {
        f"{APP}/a": 1,
        f"{APP}/b": 1,
        f"{APP}/c": 1,
        "1400000002/d": 1,
    }
    # each in its own region: the emulator refuses a stop sent to another region
    assert emulator.stats()["calls"]["StopStreamIngest"] == 4

    again = reconciler("plan", "--detailed-exitcode", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout
    listed = reconciler("state", "list", env=env, cwd=tmp_path)
    assert listed.stdout.split() == sorted([f"{APP}/a", f"{APP}/b", f"{APP}/c", "1400000002/d"])
    shown = json.loads(reconciler("state", "show", "1400000002/d", env=env, cwd=tmp_path).stdout)
    assert shown["region"] == "ap-mumbai" and shown["outcome"] == "stopped"
    assert shown["requestId"] and shown["source"].endswith("jk.yml:9")
    assert shown["time"].endswith("Z")


def test_finished_task_is_already_stopped_and_unknown_fails_alone(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["live", "ended", "nosuch"])
    emulator.add_tasks(seed(["live"]) + seed(["ended"], status="Finished"))
    result = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = reported(result.stdout)
    assert lines[f"{APP}/ended"][0] == "already stopped"
    assert lines[f"{APP}/nosuch"][0] == "failed"
    assert lines[f"{APP}/nosuch"][1].startswith("InvalidParameter.TaskId: ")
    assert lines[f"{APP}/live"][0] == "stopped" and lines[f"{APP}/live"][1].startswith("RequestId")
    assert no_traceback(result)
    state = json.loads(reconciler("state", "pull", env=env, cwd=tmp_path).stdout)
    outcomes = {r["address"]: r["outcome"] for r in state["records"]}
    assert outcomes == {f"{APP}/live": "stopped", f"{APP}/ended": "already_stopped"}
    # the failed task is planned again next time
    plan = reconciler("plan", "--json", env=env, cwd=tmp_path)
    assert [c["address"] for c in json.loads(plan.stdout)["changes"]] == [f"{APP}/nosuch"]


def test_removed_task_is_forgotten_without_an_api_call(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    path = manifest(tmp_path / "manifests" / "m.yaml", ["x", "y"])
    emulator.add_tasks(seed(["x", "y"]))
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    calls = emulator.stats()["calls"]
    manifest(path, ["x"])
    plan = reconciler("plan", env=env, cwd=tmp_path)
    assert f"~ {APP}/y" in plan.stdout and "1 to forget" in plan.stdout
    result = reconciler("apply", "--auto-approve", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0] == {"type": "forgotten", "address": f"{APP}/y", "requestId": None}
    assert events[-1]["type"] == "summary" and events[-1]["forgotten"] == 1
    assert emulator.stats()["calls"] == calls
    assert reconciler("state", "list", env=env, cwd=tmp_path).stdout.split() == [f"{APP}/x"]


def test_invalid_manifest_changes_nothing(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "good.yaml", ["ok"])
    emulator.add_tasks(seed(["ok"]))
    write(
        tmp_path / "manifests" / "bad.yaml",
        """
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-singapore
          sdkAppId: 1400000001
          tasks:
            - taskID: typo
            - 12345
        """,
    )
    for command in (["plan"], ["apply", "--auto-approve"], ["validate"]):
        result = reconciler(*command, env=env, cwd=tmp_path)
        assert result.returncode == 1, command
        assert "manifests/bad.yaml:7:" in result.stderr
        assert "taskId" in result.stderr
        assert "manifests/bad.yaml:8:" in result.stderr and "quote" in result.stderr
        assert no_traceback(result)
    assert emulator.stats()["calls"].get("StopStreamIngest", 0) == 0
    assert not (tmp_path / "state.db").exists()
    assert not (tmp_path / "state.db.lock").exists()  # refused before any lock was taken


def test_apply_without_terminal_or_approval_fails_at_once(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    started = time.monotonic()
    result = reconciler("apply", env=env, cwd=tmp_path)
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert emulator.stats()["calls"].get("StopStreamIngest", 0) == 0


def test_prompt_declined_and_accepted(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    import pty
    import subprocess
    import sys

    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))

    def with_terminal(answer: bytes) -> tuple[int, str]:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        os.close(follower)
        os.write(leader, answer)
        out, _ = proc.communicate(timeout=60)
        os.close(leader)
        return proc.returncode, out.decode()

    code, out = with_terminal(b"no\n")
    assert code == 3 and "Apply cancelled." in out
    assert emulator.stats()["calls"].get("StopStreamIngest", 0) == 0
    code, out = with_terminal(b"yes\n")
    assert code == 0 and "1 stopped" in out


def test_state_file_is_owner_only(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))
    env = dict(env)
    del env["RECONCILER_STATE"]
    assert reconciler("state", "rm", "1/zz", env=env, cwd=tmp_path).returncode == 1
    result = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    db = tmp_path / ".reconciler" / "state.db"
    assert db.exists(), result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_bad_flags_and_endpoint(tmp_path: Path, env: dict[str, str]) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    for args in (
        ["apply", "--auto-approve", "--endpoint", "http://example.com"],
        ["apply", "--auto-approve", "--rate", "0"],
        ["plan", "--target", "not-an-address"],
        ["run", "--interval", "soon"],
        ["run", "--interval", "0s"],
        ["apply", "--auto-approve", "--retry-deadline", "0"],
        ["nonsense"],
    ):
        result = reconciler(*args, env=env, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stderr)
        assert no_traceback(result), result.stderr
        assert result.stderr.strip()


def test_no_credentials_one_message(tmp_path: Path, emulator: EmulatorProcess) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    env = cli_env(tmp_path, emulator)
    del env["TENCENTCLOUD_SECRET_ID"], env["TENCENTCLOUD_SECRET_KEY"]
    result = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no Tencent Cloud credentials found" in result.stderr
    assert no_traceback(result)


def test_schema_and_python_dash_m(tmp_path: Path, env: dict[str, str]) -> None:
    result = reconciler("schema", env=env, cwd=tmp_path)
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert os.environ.get("PATH") is not None
