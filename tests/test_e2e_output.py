"""End to end, the run's surface: secrets never leak, the quota holds at the server,
throttling recovers, the progress line shows only on a terminal, and ``apply --json``
prints one event per outcome — the CLI as a subprocess against the emulator.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support import (
    APP,
    STOP,
    EmulatorFactory,
    cli_env,
    manifest,
    no_traceback,
    reconciler,
    reported,
    seed,
    setup_tasks,
    stop_calls,
)
from tests.terminal import run_in_terminal

# --- 5. secrets never leak --------------------------------------------------------------


SECRET_KEY = "CUSTOM-SECRET-KEY-e2e-7f3a9c2b41d8"
TOKEN = "SESSIONTOKEN-e2e-4b6d8f0a2c4e6a8b"


def _bytes_under(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_secrets_never_leak(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators("--secret-key", SECRET_KEY, "--token", TOKEN)
    path = manifest(tmp_path / "manifests" / "m.yaml", ["a", "b", "nosuch"])
    emulator.add_tasks(seed(["a", "b", "c", "d"]))
    base = cli_env(tmp_path, emulator, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
    with_token = {**base, "TENCENTCLOUD_TOKEN": TOKEN}
    with_security_token = {**base, "TENCENTCLOUD_SECURITY_TOKEN": TOKEN}
    debug_json = ("--log-level", "debug", "--log-format", "json")
    debug_console = ("--log-level", "debug", "--log-format", "console")
    runs: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        result = reconciler(*args, env=env, cwd=tmp_path)
        runs.append(result)
        assert no_traceback(result), result.stderr
        return result

    run("plan", *debug_json, env=with_token)
    refreshed = run("plan", "--refresh", *debug_console, env=with_token)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "[live: InProgress]" in refreshed.stdout  # DescribeStreamIngest went through

    # An answer retried (debug logs "retrying"), a task failing, two stops succeeding.
    emulator.configure(next_faults=[{"kind": "internal", "action": STOP}])
    applied = run("apply", "--auto-approve", *debug_json, env=with_token)
    assert applied.returncode == 1
    lines = reported(applied.stdout)
    assert lines[f"{APP}/a"][0] == lines[f"{APP}/b"][0] == "stopped"
    assert lines[f"{APP}/nosuch"][1].startswith("InvalidParameter.TaskId")
    assert '"retrying"' in applied.stderr and '"level": "debug"' in applied.stderr

    # The Terraform provider's variable name, console logs.
    manifest(path, ["a", "b", "c"])
    applied = run("apply", "--auto-approve", *debug_console, env=with_security_token)
    assert applied.returncode == 0, applied.stderr
    assert reported(applied.stdout)[f"{APP}/c"][0] == "stopped"
    run("state", "pull", *debug_json, env=with_token)
    run("state", "list", env=with_token)

    # A wrong token: refused, named, and the wrong value does not leak either.
    wrong = TOKEN[:-4] + "0000"
    manifest(path, ["a", "b", "c", "d"])
    refused = run("apply", "--auto-approve", *debug_json, env={**base, "TENCENTCLOUD_TOKEN": wrong})
    assert refused.returncode == 1
    assert "credential problem" in refused.stderr and "session token" in refused.stderr

    assert emulator.effective_stops() == {f"{APP}/{t}": 1 for t in ("a", "b", "c")}
    for result in runs:
        for secret in (SECRET_KEY, TOKEN, wrong):
            assert secret not in result.stdout, (result.args, secret)
            assert secret not in result.stderr, (result.args, secret)
    files = _bytes_under(tmp_path)
    assert tmp_path / "state.db" in files
    for file, content in files.items():
        for secret in (SECRET_KEY, TOKEN, wrong):
            assert secret.encode() not in content, (file, secret)


def test_postgres_password_never_shown(tmp_path: Path, emulators: EmulatorFactory) -> None:
    password = "PGPASS-e2e-5c1d9e7b"
    location = f"postgresql://user:{password}@127.0.0.1:1/db"
    emulator = emulators()
    emulator.add_tasks(seed(["a"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    env = cli_env(tmp_path, emulator)
    for args, state in (
        (["plan", "--state", location], None),
        (["apply", "--auto-approve", "--state", location, "--log-level", "debug"], None),
        (["state", "list"], location),
        (["plan", "--log-format", "json"], f"postgresql://user@127.0.0.1:1/db?password={password}"),
    ):
        run_env = env if state is None else {**env, "RECONCILER_STATE": state}
        result = reconciler(*args, env=run_env, cwd=tmp_path)
        assert result.returncode == 1, args
        assert no_traceback(result), result.stderr
        assert password not in result.stdout + result.stderr, args
        messages = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(messages) == 1, result.stderr
        assert "cannot connect to state postgresql://user" in messages[0]
        assert "***" in messages[0] and "127.0.0.1" in messages[0]
    assert stop_calls(emulator) == 0


# --- 6. the quota, at the server ----------------------------------------------------------


def test_rate_holds_at_the_server(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators("--latency", "0.01")  # the emulator enforces 20/s
    env = cli_env(tmp_path, emulator)
    setup_tasks(tmp_path, emulator, "rate", 30)
    result = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Apply complete! 30 stopped" in result.stdout
    stats = emulator.stats()
    assert 15 <= stats["max_in_window"][STOP] <= 20, stats["max_in_window"]
    assert "RequestLimitExceeded" not in stats["errors"] and stats["throttled"] == 0

    slow = emulators("--latency", "0.01")
    env = cli_env(tmp_path, slow)
    setup_tasks(tmp_path, slow, "slow", 10)
    result = reconciler("apply", "--auto-approve", "--rate", "5", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Apply complete! 10 stopped" in result.stdout
    stats = slow.stats()
    assert 4 <= stats["max_in_window"][STOP] <= 5, stats["max_in_window"]
    assert stats["throttled"] == 0


# --- 7. throttling recovery ----------------------------------------------------------------


def test_throttled_answers_back_off_and_recover(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators()
    wanted = setup_tasks(tmp_path, emulator, "thr", 12)
    emulator.configure(next_faults=[{"kind": "throttle", "action": STOP, "count": 3}])
    env = cli_env(tmp_path, emulator)
    result = reconciler("apply", "--auto-approve", "--log-level", "debug", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Apply complete! 12 stopped, 0 already stopped, 0 failed" in result.stdout
    stats = emulator.stats()
    assert stats["throttled_by"]["injected"] == 3  # all three were met...
    assert stats["calls"][STOP] == len(wanted) + stats["throttled"]  # ...and each retried once
    assert result.stderr.count('"code": "RequestLimitExceeded"') == stats["throttled"]
    assert stats["effective_stops"] == {address: 1 for address in wanted}


# --- 8. the progress line ---------------------------------------------------------------------


def test_progress_line_only_on_a_terminal(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators("--latency", "0.05")
    env = cli_env(tmp_path, emulator)
    setup_tasks(tmp_path, emulator, "pipe", 10)
    piped = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "in flight" not in piped.stderr
    assert "\r" not in piped.stdout and "in flight" not in piped.stdout

    setup_tasks(tmp_path, emulator, "tty", 10)
    capture = run_in_terminal(["apply", "--auto-approve"], env=env, cwd=tmp_path, only_stderr=True)
    assert capture.code == 0, capture.rows
    assert b"in flight" in capture.raw and b"/10]" in capture.raw, capture.raw
    assert not any("in flight" in row or "stopped" in row for row in capture.rows)


# --- 9. apply --json --------------------------------------------------------------------------


def test_apply_json_events(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators()
    manifest(tmp_path / "manifests" / "m.yaml", ["l1", "l2", "l3", "f1", "f2", "nosuch"])
    emulator.add_tasks(seed(["l1", "l2", "l3"]) + seed(["f1", "f2"], status="Finished"))
    env = cli_env(tmp_path, emulator)
    result = reconciler("apply", "--auto-approve", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert no_traceback(result)
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON
    *outcome_events, summary = events
    by_address = {event["address"]: event for event in outcome_events}
    assert len(by_address) == len(outcome_events) == 6
    assert {a: e["type"] for a, e in by_address.items()} == {
        f"{APP}/l1": "stopped", f"{APP}/l2": "stopped", f"{APP}/l3": "stopped",
        f"{APP}/f1": "already_stopped", f"{APP}/f2": "already_stopped",
        f"{APP}/nosuch": "failed",
    }  # fmt: skip
    for event in outcome_events:
        if event["type"] == "failed":
            assert event["error"]["code"] == "InvalidParameter.TaskId"
            assert event["error"]["message"]
        else:
            assert event["requestId"] and "error" not in event
    assert summary["type"] == "summary"
    assert {k: summary[k] for k in ("stopped", "already_stopped", "failed", "forgotten")} == {
        "stopped": 3, "already_stopped": 2, "failed": 1, "forgotten": 0,
    }  # fmt: skip
