"""End to end: the state lock (fail fast naming the holder, ``--lock-timeout``, a
killed holder), ``state rm / pull / push``, the manifest schema and ``validate`` —
through the CLI as a subprocess."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from pathlib import Path

import yaml

from tests.support import (
    APP,
    REPO,
    SINCE,
    EmulatorProcess,
    a,
    cli_env,
    end,
    error_lines,
    hold_lock,
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

# --- the state lock --------------------------------------------------------------------


def test_second_apply_fails_at_once_naming_the_running_apply(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    tasks = [f"t{i:02}" for i in range(20)]
    emulator.add_tasks(seed(tasks))
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    emulator.configure(latency=0.5)
    first = start("apply", "--auto-approve", "--parallelism", "1", env=env, cwd=tmp_path)
    try:
        wait_for(lambda: stop_calls(emulator) >= 1, what="the first apply to begin")
        started = time.monotonic()
        second = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
        assert time.monotonic() - started < 5
        assert first.poll() is None, "the first apply ended too early to test the lock"
        assert second.returncode == 1
        message = error_lines(second)[0]
        assert "is locked by apply" in message
        assert f"on host {socket.gethostname()}, pid {first.pid}" in message
        assert re.search(SINCE, message), message
        assert no_traceback(second)
        rm = reconciler("state", "rm", a("t00"), env=env, cwd=tmp_path)
        assert rm.returncode == 1 and f"pid {first.pid}" in rm.stderr
        first.send_signal(signal.SIGTERM)  # no need to wait for all twenty
        _, err = first.communicate(timeout=30)
        assert first.returncode == 143, err
    finally:
        end(first)
    # every stop that took effect was recorded; none happened twice
    emulator.configure(latency=0.0)
    rest = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    assert listed(env, tmp_path) == [a(t) for t in tasks]
    assert emulator.effective_stops() == {a(t): 1 for t in tasks}


def test_lock_timeout_waits_then_fails(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))
    holder = hold_lock(str(tmp_path / "state.db"), tmp_path)
    try:
        started = time.monotonic()
        result = reconciler("apply", "--auto-approve", "--lock-timeout", "1", env=env, cwd=tmp_path)
        waited = time.monotonic() - started
        assert result.returncode == 1
        assert 1.0 <= waited < 15
        message = error_lines(result)[0]
        assert "after waiting 1" in message
        assert f"test (run r1) on host {socket.gethostname()}, pid {holder.pid}" in message
        assert re.search(SINCE, message), message
        assert stop_calls(emulator) == 0
    finally:
        end(holder)


def test_killed_lock_holder_does_not_block_the_next_apply(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))
    holder = hold_lock(str(tmp_path / "state.db"), tmp_path)
    try:
        busy = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
        assert busy.returncode == 1 and f"pid {holder.pid}" in busy.stderr
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    finally:
        end(holder)
    started = time.monotonic()
    result = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert emulator.effective_stops() == {a("a"): 1}


# --- state rm / pull / push ----------------------------------------------------------


def test_state_rm(tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]) -> None:
    emulator.add_tasks(seed(["a", "b"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    serial = pull(env, tmp_path)["serial"]

    removed = reconciler("state", "rm", a("a"), env=env, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert f"Removed {a('a')}" in removed.stdout
    assert listed(env, tmp_path) == [a("b")]
    assert pull(env, tmp_path)["serial"] == serial + 1
    plan = reconciler("plan", "--json", env=env, cwd=tmp_path)
    changes = json.loads(plan.stdout)["changes"]
    assert [(c["address"], c["action"]) for c in changes] == [(a("a"), "stop")]

    unknown = reconciler("state", "rm", a("b"), a("nosuch"), env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert a("nosuch") in unknown.stderr and "nothing was removed" in unknown.stderr
    assert no_traceback(unknown)
    assert listed(env, tmp_path) == [a("b")]
    assert pull(env, tmp_path)["serial"] == serial + 1


def test_state_pull_and_push(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    emulator.add_tasks(seed(["a", "b"]) + seed(["c"], status="Finished"))
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "c"])
    assert reconciler("apply", "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    doc = pull(env, tmp_path)
    assert set(doc) == {"format_version", "lineage", "serial", "records"}
    assert doc["format_version"] == 1 and doc["serial"] == 3
    assert re.fullmatch(r"[0-9a-f-]{36}", doc["lineage"])
    assert [r["address"] for r in doc["records"]] == [a("a"), a("b"), a("c")]
    for record in doc["records"]:
        assert set(record) == {
            "address",
            "sdkAppId",
            "taskId",
            "region",
            "outcome",
            "requestId",
            "time",
            "source",
        }
        assert record["sdkAppId"] == APP and record["region"] == "ap-singapore"
        assert record["time"].endswith("Z") and record["requestId"]
    outcomes = {r["taskId"]: r["outcome"] for r in doc["records"]}
    assert outcomes == {"a": "stopped", "b": "stopped", "c": "already_stopped"}
    pulled = write(tmp_path / "pulled.json", json.dumps(doc))

    # an empty store accepts any lineage; the pushed state plans with no changes
    fresh = str(tmp_path / "fresh.db")
    pushed = reconciler("state", "push", str(pulled), "--state", fresh, env=env, cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    copy = pull(env, tmp_path, "--state", fresh)
    assert copy["lineage"] == doc["lineage"] and copy["records"] == doc["records"]
    plan = reconciler("plan", "--detailed-exitcode", "--state", fresh, env=env, cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes." in plan.stdout

    # a different lineage is refused unless forced
    other = str(tmp_path / "other.db")
    done = reconciler(
        "apply", "--auto-approve", "--target", a("a"), "--state", other, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    other_doc = pull(env, tmp_path, "--state", other)
    refused = reconciler("state", "push", str(pulled), "--state", other, env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "lineage" in refused.stderr and "--force" in refused.stderr
    assert no_traceback(refused)
    assert pull(env, tmp_path, "--state", other) == other_doc
    forced = reconciler(
        "state", "push", str(pulled), "--force", "--state", other, env=env, cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    after = pull(env, tmp_path, "--state", other)
    assert after["lineage"] == doc["lineage"] and after["records"] == doc["records"]
    assert after["serial"] > other_doc["serial"]

    # an older serial of the same lineage is refused unless forced
    assert reconciler("state", "rm", a("c"), env=env, cwd=tmp_path).returncode == 0
    newer = pull(env, tmp_path)
    assert newer["serial"] == doc["serial"] + 1
    older = reconciler("state", "push", str(pulled), env=env, cwd=tmp_path)
    assert older.returncode == 1
    assert "older" in older.stderr and "--force" in older.stderr
    assert pull(env, tmp_path) == newer
    forced = reconciler("state", "push", str(pulled), "--force", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    restored = pull(env, tmp_path)
    assert restored["records"] == doc["records"] and restored["serial"] > newer["serial"]
    assert stop_calls(emulator) == 4  # a, b, c (TaskFinished), and a again on "other"


# --- schema and validate ---------------------------------------------------------------


def test_schema_validates_the_example_manifests(tmp_path: Path) -> None:
    import jsonschema

    env = cli_env(tmp_path)
    result = reconciler("schema", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    examples = sorted((REPO / "manifests").rglob("*.y*ml"))
    assert examples, "no example manifests in manifests/"
    documents = 0
    for path in examples:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is None:
                continue
            errors = [e.message for e in validator.iter_errors(document)]
            assert not errors, (path, errors)
            documents += 1
        valid = reconciler("validate", str(path), env=env, cwd=tmp_path)
        assert valid.returncode == 0, valid.stdout + valid.stderr
    assert documents
    # and the schema refuses what validate refuses
    bad = {
        "apiVersion": "reconciler/v1",
        "kind": "StreamIngestStop",
        "spec": {"region": "ap-singapore", "sdkAppId": APP, "tasks": [{"taskID": "x"}]},
    }
    assert list(validator.iter_errors(bad))


def test_validate_good_and_bad_manifests(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    manifest(tmp_path / "good" / "one.yaml", ["a", "b"])
    write(
        tmp_path / "good" / "nested" / "two.yml",
        f"""
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-jakarta
          sdkAppId: {APP}
          tasks:
            - taskId: c
              note: done
        ---
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-beijing
          sdkAppId: 1400000002
          tasks: ["c"]
        """,
    )
    good = reconciler("validate", "good", env=env, cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "4 tasks in 2 files" in good.stdout
    assert json.loads(reconciler("validate", "--json", "good", env=env, cwd=tmp_path).stdout)[
        "valid"
    ]

    manifest(tmp_path / "bad" / "a.yaml", ["dup"])
    write(
        tmp_path / "bad" / "b.yaml",
        f"""
        apiVersion: reconciler/v1
        kind: StreamIngestStop
        spec:
          region: ap-singapore
          sdkAppId: {APP}
          tasks:
            - taskID: typo
            - 1.5
            - taskId: x
              region: eu-frankfurt
            - dup
        """,
    )
    bad = reconciler("validate", "bad", env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert no_traceback(bad)
    lines = [line for line in bad.stderr.splitlines() if re.match(r"bad/\w\.yaml:\d+:\d+: ", line)]
    text = "\n".join(lines)
    assert re.search(r"^bad/b\.yaml:7:7: .*taskID.*did you mean 'taskId'", text, re.M), text
    assert re.search(r"^bad/b\.yaml:8:7: .*quote", text, re.M), text
    assert re.search(r"^bad/b\.yaml:10:\d+: .*eu-frankfurt", text, re.M), text
    assert re.search(r"^bad/b\.yaml:11:\d+: .*declared twice.*bad/a\.yaml:9", text, re.M), text
    assert "problems in the manifests" in bad.stderr
    problems = json.loads(reconciler("validate", "--json", "bad", env=env, cwd=tmp_path).stdout)
    assert problems["valid"] is False and len(problems["problems"]) >= 4
    assert {p["file"] for p in problems["problems"]} == {"bad/b.yaml"}
