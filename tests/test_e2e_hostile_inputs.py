"""Hostile inputs through the CLI: endless and deep files, records and addresses that
break the shared rules, and TaskIds that look like other TaskIds. Each is one clear
message, exit 1, nothing written, no traceback; a read no one feeds is interruptible."""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.reading import MAX_JSON_BYTES, json_depth
from tests.support import (
    APP,
    EmulatorProcess,
    a,
    error_lines,
    has_open,
    interrupt_after,
    manifest,
    no_traceback,
    pull,
    reconciler,
    seed,
    start,
    stop_calls,
    write,
)

ZWSP = "\u200b"
#: Runs a command and appends its peak memory (KiB) to its stderr.
MEASURED = ["/usr/bin/time", "-f", "maxrss=%M"]


def one_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert no_traceback(result), result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def pulled(tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]) -> dict[str, Any]:
    emulator.add_tasks(seed(["a", "b"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    return pull(env, tmp_path)


def push(env: dict[str, str], cwd: Path, doc: object, name: str = "doc.json") -> Any:
    path = write(cwd / name, json.dumps(doc))
    return reconciler("state", "push", str(path), "--force", env=env, cwd=cwd)


def test_pushed_records_follow_the_rules_manifests_follow(
    tmp_path: Path, env: dict[str, str], pulled: dict[str, Any]
) -> None:
    def broken(**fields: object) -> dict[str, Any]:
        doc = copy.deepcopy(pulled)
        doc["records"][0].update(fields)
        return doc

    cases = [
        (broken(region="mars-1"), "unknown region 'mars-1'"),
        (broken(taskId="", address=f"{APP}/"), "taskId must not be empty"),
        (broken(taskId=" ", address=f"{APP}/ "), "whitespace or a control character"),
        (broken(taskId="a\x00", address=f"{APP}/a\x00"), "whitespace or a control character"),
        (broken(taskId="a\ud800", address=f"{APP}/a\ud800"), "lone surrogate"),
        (broken(taskId="a" + ZWSP, address=f"{APP}/a{ZWSP}"), "invisible or bidirectional"),
        (broken(sdkAppId=2**63, address=f"{2**63}/a"), "out of range"),
        ({**pulled, "serial": 2**63}, "serial is out of range"),
        (broken(sdkAppId=True), "sdkAppId must be an integer"),
    ]
    for doc, words in cases:
        one_error(push(env, tmp_path, doc), words)
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    one_error(reconciler("state", "push", str(path), env=env, cwd=tmp_path), "nests 100000 levels")
    huge = write(tmp_path / "huge.json", '{"serial": ' + "9" * 5000 + "}")
    one_error(reconciler("state", "push", str(huge), env=env, cwd=tmp_path), "huge.json")
    assert pull(env, tmp_path) == pulled  # nothing was written


def test_endless_and_special_files_are_refused_fast_in_bounded_memory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    os.symlink("/dev/zero", tmp_path / "zero.json")
    for args in (["state", "push", "/dev/zero"], ["apply", "zero.json"], ["state", "push", "."]):
        one_error(reconciler(*args, env=env, cwd=tmp_path, timeout=20), "not a regular file")
    started = time.monotonic()
    with subprocess.Popen(["cat", "/dev/zero"], stdout=subprocess.PIPE) as zeros:
        fed = subprocess.run(
            [*MEASURED, sys.executable, "-m", "reconciler", "state", "push", "-"],
            stdin=zeros.stdout,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        zeros.kill()
    peak_kib = int(fed.stderr.rpartition("maxrss=")[2])
    fed.stderr = fed.stderr.rpartition("maxrss=")[0]
    one_error(fed, "larger than the limit")
    assert time.monotonic() - started < 30
    assert peak_kib * 1024 < 3 * MAX_JSON_BYTES  # read in chunks, never whole


@pytest.mark.parametrize(("name", "args"), [("plan.json", ["apply"]), ("doc", ["state", "push"])])
def test_a_read_from_a_fifo_no_one_feeds_is_interrupted_by_a_signal(
    tmp_path: Path, env: dict[str, str], name: str, args: list[str]
) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    proc = start(*args, str(fifo), env=env, cwd=tmp_path)
    reading = lambda: has_open(proc.pid, fifo)  # noqa: E731
    _, err, _ = interrupt_after(proc, 0.5, signal.SIGINT, within=5, ready=reading)
    assert proc.returncode == 130, err
    assert "interrupted while reading" in err and "Traceback" not in err


def test_format_characters_in_task_ids_are_refused_everywhere(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str], pulled: dict[str, Any]
) -> None:
    bad = write(
        tmp_path / "manifests" / "bad.yaml",
        f"""
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-singapore
          sdkAppId: {APP}
          tasks: ["a{ZWSP}", "b\u202e"]
        """,
    )
    result = reconciler("validate", env=env, cwd=tmp_path)
    assert result.returncode == 1 and no_traceback(result)
    assert "U+200B ZERO WIDTH SPACE" in result.stderr
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in result.stderr
    assert "look alike" in result.stderr
    bad.unlink()
    saved = reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    doc = json.loads((tmp_path / "plan.json").read_text())
    doc["changes"] = [
        {"address": f"{APP}/c{ZWSP}", "action": "stop", "region": "ap-singapore", "source": "x"}
    ]
    write(tmp_path / "evil.json", json.dumps(doc))
    one_error(reconciler("apply", "evil.json", env=env, cwd=tmp_path), "invisible")
    one_error(reconciler("plan", "--target", f"{APP}/a{ZWSP}", env=env, cwd=tmp_path), "invisible")
    assert stop_calls(emulator) == 2  # the fixture's two; none since


def test_an_unknown_region_already_in_state_does_not_block_a_saved_plan(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str], pulled: dict[str, Any]
) -> None:
    with sqlite3.connect(env["RECONCILER_STATE"]) as db:  # an old record, written before
        db.execute("UPDATE records SET region = 'mars-1' WHERE address = ?", (a("b"),))
    emulator.add_tasks(seed(["c"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "c"])
    saved = reconciler("plan", "--out", "plan.json", env=env, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    applied = reconciler("apply", "plan.json", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert [r["address"] for r in pull(env, tmp_path)["records"]] == [a("a"), a("c")]


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": ["[[[[", {"b": "]]]"}]}') == 3
    assert json_depth(b'"\\"[["') == 0
    assert json_depth(b"[" * 1000) == 1000
