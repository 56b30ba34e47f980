"""With ``--json``, stdout is JSON whatever happens: results, and errors as one
object (``error``, ``message``, ``problems`` where there are any) — never a bare
text line; ``state list --json``; and ``show PLANFILE``, which prints a saved plan
exactly as ``plan`` did, needing no state, credentials or network."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import APP, EmulatorProcess, cli_env, manifest, reconciler, write


def one_json_object(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    doc: dict[str, Any] = json.loads(lines[0])
    return doc


def broken_manifests(tmp_path: Path) -> None:
    write(
        tmp_path / "manifests" / "bad.yaml",
        f"""
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: mars
          sdkAppId: {APP}
          tasks: [a]
        """,
    )


UNREACHABLE = "postgresql://reconciler@127.0.0.1:1/db?connect_timeout=2"


@pytest.mark.parametrize(
    ("args", "kind", "with_problems"),
    [
        (("validate", "--json"), "manifests_invalid", True),
        (("plan", "--json"), "manifests_invalid", True),
        (("apply", "--json", "--auto-approve"), "manifests_invalid", True),
        (("apply", "--json"), "usage_error", False),  # needs --auto-approve or a plan file
        (("plan", "--json", "--parallelism", "0"), "usage_error", False),
        (("plan", "--json", "--no-such-flag"), "usage_error", False),
        (("show", "--json", "missing.json"), "input_error", False),
        (("show", "--json", "manifests/bad.yaml"), "input_error", False),
        (("show", "--json", "not-a-plan.json"), "plan_file_error", False),
        (("state", "list", "--json", "--state", UNREACHABLE), "store_unavailable", False),
        (("plan", "--json", "--target", "nonsense"), "usage_error", False),
    ],
)
def test_errors_are_one_json_object_on_stdout(
    tmp_path: Path, args: tuple[str, ...], kind: str, with_problems: bool
) -> None:
    broken_manifests(tmp_path)
    (tmp_path / "not-a-plan.json").write_text('{"format_version": 1}')
    result = reconciler(*args, env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    doc = one_json_object(result)
    assert doc["error"] == kind, doc
    assert doc["message"] and "\n" not in doc["message"]
    if with_problems:
        assert doc["problems"][0]["file"] == "manifests/bad.yaml"
        assert {"line", "col", "message"} <= doc["problems"][0].keys()
    else:
        assert "problems" not in doc
    if args[0] == "validate":
        assert doc["valid"] is False
    assert "Traceback" not in result.stderr and "Error:" in result.stderr + result.stdout


def test_apply_json_keeps_stdout_json_when_the_store_is_unreachable(tmp_path: Path) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    env = cli_env(tmp_path, RECONCILER_STATE=UNREACHABLE)
    result = reconciler("apply", "--auto-approve", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert one_json_object(result)["error"] == "store_unavailable"


def test_state_list_json(tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]) -> None:
    empty = reconciler("state", "list", "--json", env=env, cwd=tmp_path)
    assert one_json_object(empty) == {
        "format_version": 1,
        "lineage": None,
        "serial": 0,
        "addresses": [],
    }
    manifest(tmp_path / "manifests" / "m.yaml", ["b", "a"])
    emulator.add_tasks([{"sdkAppId": APP, "taskId": t, "region": "ap-singapore"} for t in "ab"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    doc = one_json_object(reconciler("state", "list", "--json", env=env, cwd=tmp_path))
    assert doc["addresses"] == [f"{APP}/a", f"{APP}/b"]
    assert doc["lineage"] and doc["serial"] >= 1
    text = reconciler("state", "list", env=env, cwd=tmp_path)
    assert text.stdout.split() == doc["addresses"]


def test_show_prints_a_saved_plan_exactly_as_plan_did(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "c"])
    emulator.add_tasks([{"sdkAppId": APP, "taskId": t, "region": "ap-singapore"} for t in "abc"])
    applied = reconciler("apply", "--auto-approve", "--target", f"{APP}/a", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    manifest(tmp_path / "manifests" / "m.yaml", ["b", "c"])  # a is forgotten, b and c stop
    planned = reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    printed, _, saved_note = planned.stdout.rpartition("\n\nSaved the plan to plan.json.")
    assert saved_note

    # No credentials, no state, no endpoint: none is needed.
    bare = {k: v for k, v in env.items() if not k.startswith(("TENCENTCLOUD_", "RECONCILER_"))}
    bare["RECONCILER_STATE"] = str(tmp_path / "absent" / "state.db")
    shown = reconciler("show", "plan.json", env=bare, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == printed + "\n"
    assert "Plan: 2 to stop, 1 to forget, 0 unchanged." in shown.stdout
    assert not (tmp_path / "absent").exists()

    as_json = reconciler("show", "plan.json", "--json", env=bare, cwd=tmp_path)
    assert json.loads(as_json.stdout) == json.loads((tmp_path / "plan.json").read_text())
    assert reconciler("apply", "plan.json", env=env, cwd=tmp_path).returncode == 0
