"""End to end under faults: the reconciler CLI as a subprocess, the official SDK over
real HTTP to the emulator (a subprocess too), a real SQLite state. Issue 3's
acceptance, run by a machine: a fault storm converges with every task stopped
exactly once, SIGKILL loses at most the calls in flight, SIGTERM / SIGINT stop
gracefully with 143 / 130, bad credentials stop the run after one round, secrets
never leak, the quota holds at the server, throttling recovers, and the progress
line and ``apply --json`` behave.

The limiter's window, backoff and each error class are proved on fake time in
``test_ratelimit.py`` and ``test_engine.py``; here the same guarantees are checked
end to end, against the server's own counters (``GET /_emulator/stats``).
"""

from __future__ import annotations

import errno
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.support import (
    APP,
    EmulatorProcess,
    cli_env,
    end,
    manifest,
    no_traceback,
    reconciler,
    seed,
    start,
    stop_calls,
    wait_for,
)

EmulatorFactory = Callable[..., EmulatorProcess]
STOP = "StopStreamIngest"


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[EmulatorFactory]:
    """Start emulators with given flags; all are stopped after the test."""
    started: list[EmulatorProcess] = []

    def make(*args: str) -> EmulatorProcess:
        emulator = EmulatorProcess(*args, cwd=tmp_path)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[str]]]:
    """Reconciler processes a test started; any still alive afterwards is killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        end(proc)


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:03d}" for index in range(count)]


def addresses(tasks: list[str], app: int = APP) -> list[str]:
    return [f"{app}/{task}" for task in tasks]


def outcomes(env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """address → recorded outcome, read through ``reconciler state pull``."""
    pulled = reconciler("state", "pull", env=env, cwd=cwd)
    assert pulled.returncode == 0, pulled.stderr
    return {record["address"]: record["outcome"] for record in json.loads(pulled.stdout)["records"]}


def settled(emulator: EmulatorProcess) -> dict[str, int]:
    """The effective stops once the emulator has no request in flight any more
    (a killed client's calls still take effect at the server after its death)."""
    time.sleep(0.3)  # let requests already on the wire be admitted first
    wait_for(lambda: emulator.stats()["in_flight"] == 0, timeout=15, what="the emulator to settle")
    return emulator.effective_stops()


def setup_tasks(tmp_path: Path, emulator: EmulatorProcess, prefix: str, count: int) -> list[str]:
    """Declare ``count`` in-progress tasks in a manifest and seed them in the emulator."""
    tasks = names(prefix, count)
    manifest(tmp_path / "manifests" / f"{prefix}.yaml", tasks)
    emulator.add_tasks(seed(tasks))
    return addresses(tasks)


# --- 1. fault storm ------------------------------------------------------------------


def test_fault_storm_converges_with_every_task_stopped_exactly_once(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    # Twice TRTC's quota at both ends, to keep the test short; the rate itself is
    # proved at the server in test_rate_holds_at_the_server.
    emulator = emulators(
        "--seed", "7", "--rate-limit", "40",
        "--fault", "internal=0.07", "--fault", "drop=0.05", "--fault", "lost=0.05",
        "--fault", "http502=0.04", "--fault", "throttle=0.015", "--fault", "badjson=0.04",
    )  # fmt: skip
    wanted = setup_tasks(tmp_path, emulator, "storm", 80)
    env = cli_env(tmp_path, emulator)

    result = reconciler(
        "apply", "--auto-approve", "--max-attempts", "10", "--rate", "40", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert no_traceback(result)
    assert "Apply complete!" in result.stdout

    stats = emulator.stats()
    faults = stats["faults"]
    assert sum(faults.values()) >= 0.2 * stats["calls"][STOP], stats
    assert sum(1 for count in faults.values() if count) >= 5, faults  # mixed, not one kind
    # Every task stopped at the server exactly once, retries and lost answers included.
    assert stats["effective_stops"] == {address: 1 for address in wanted}

    recorded = outcomes(env, tmp_path)
    assert sorted(recorded) == sorted(wanted)
    assert set(recorded.values()) <= {"stopped", "already_stopped"}
    already = sum(1 for outcome in recorded.values() if outcome == "already_stopped")
    # A stop whose answer was lost is retried and answers TaskFinished: already_stopped.
    assert 1 <= already <= faults["lost"], (already, faults)
    assert (
        f"Apply complete! {80 - already} stopped, {already} already stopped, 0 failed"
        in result.stdout
    )

    again = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "No changes." in again.stdout
    assert stop_calls(emulator) == stats["calls"][STOP]


# --- 2. SIGKILL mid-apply ----------------------------------------------------------


def test_sigkill_mid_apply_loses_at_most_the_calls_in_flight(
    tmp_path: Path, emulators: EmulatorFactory, running: list[subprocess.Popen[str]]
) -> None:
    parallelism = 5
    emulator = emulators("--latency", "0.2")
    wanted = setup_tasks(tmp_path, emulator, "kill", 120)
    env = cli_env(tmp_path, emulator)

    proc = start(
        "apply", "--auto-approve", "--parallelism", str(parallelism), env=env, cwd=tmp_path
    )
    running.append(proc)
    wait_for(lambda: stop_calls(emulator) > 10, timeout=30, what="the apply to get going")
    time.sleep(0.5)
    proc.kill()
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    stopped_at_server = settled(emulator)
    recorded = outcomes(env, tmp_path)
    assert recorded, "nothing was recorded before the kill"
    assert len(stopped_at_server) < len(wanted), "the kill came too late to prove anything"
    assert set(stopped_at_server.values()) == {1}
    # Whatever is recorded really happened; what happened but is not recorded is
    # at most the calls that were in flight at the kill.
    assert set(recorded) <= set(stopped_at_server)
    assert set(recorded.values()) == {"stopped"}
    unrecorded = set(stopped_at_server) - set(recorded)
    assert len(unrecorded) <= parallelism, sorted(unrecorded)

    # The next run (the dead run's lock does not block it) converges; the in-flight
    # stops that took effect answer TaskFinished and are recorded as already_stopped.
    emulator.configure(latency=0.0, rate_limit=0)  # only to be quick
    again = reconciler("apply", "--auto-approve", "--rate", "200", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    after = outcomes(env, tmp_path)
    assert sorted(after) == sorted(wanted)
    assert emulator.effective_stops() == {address: 1 for address in wanted}
    assert {a for a, outcome in after.items() if outcome == "already_stopped"} == unrecorded
    assert {a: after[a] for a in recorded} == recorded  # nothing recorded was redone


# --- 3. SIGTERM / SIGINT -------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_stops_gracefully_with_exit_code_and_summary(
    tmp_path: Path,
    emulators: EmulatorFactory,
    running: list[subprocess.Popen[str]],
    signum: signal.Signals,
    code: int,
) -> None:
    parallelism = 5
    emulator = emulators("--latency", "0.2")
    wanted = setup_tasks(tmp_path, emulator, "sig", 120)
    env = cli_env(tmp_path, emulator)

    proc = start(
        "apply", "--auto-approve", "--parallelism", str(parallelism), env=env, cwd=tmp_path
    )
    running.append(proc)
    wait_for(lambda: stop_calls(emulator) > 10, timeout=30, what="the apply to get going")
    signalled_at = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - signalled_at

    assert proc.returncode == code, err[-2000:]
    assert took < 5.0, f"exit took {took:.1f}s after {signum.name}"
    assert "Traceback" not in out + err
    assert "Apply interrupted" in out and "not attempted" in out
    assert "signal received" in err

    stopped_at_server = settled(emulator)
    recorded = outcomes(env, tmp_path)
    assert recorded and len(stopped_at_server) < len(wanted)
    assert set(recorded) <= set(stopped_at_server)
    assert len(set(stopped_at_server) - set(recorded)) <= parallelism
    # Everything reported on stdout was committed first.
    reported = {line.split(": ")[0] for line in out.splitlines() if ": stopped" in line}
    assert reported == set(recorded)


# --- 4. bad credentials --------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "code", "named"),
    [
        (
            "TENCENTCLOUD_SECRET_KEY",
            "not-the-right-secret-key-000000000",
            "AuthFailure.SignatureFailure",
            "the SecretKey does not match the SecretId",
        ),
        (
            "TENCENTCLOUD_SECRET_ID",
            "AKIDUNKNOWN00000000000000000000000",
            "AuthFailure.SecretIdNotFound",
            "the SecretId is unknown",
        ),
    ],
    ids=["wrong-secret-key", "unknown-secret-id"],
)
def test_bad_credentials_stop_the_run_after_one_round(
    tmp_path: Path, emulators: EmulatorFactory, variable: str, value: str, code: str, named: str
) -> None:
    parallelism = 4
    emulator = emulators()
    setup_tasks(tmp_path, emulator, "cred", 100)
    env = cli_env(tmp_path, emulator, **{variable: value})

    result = reconciler(
        "apply", "--auto-approve", "--parallelism", str(parallelism), env=env, cwd=tmp_path
    )
    assert result.returncode == 1
    assert no_traceback(result)
    assert "Error: credential problem: " in result.stderr
    assert named in result.stderr and code in result.stderr
    assert "Apply stopped" in result.stdout and "not attempted" in result.stdout
    # At most one round of in-flight calls reached the server, all refused.
    stats = emulator.stats()
    assert 1 <= stats["calls"][STOP] <= parallelism, stats["calls"]
    assert stats["errors"] == {code: stats["calls"][STOP]}
    assert stats["effective_stops"] == {}
    if variable == "TENCENTCLOUD_SECRET_KEY":
        assert value not in result.stdout + result.stderr
    assert outcomes(env, tmp_path) == {}


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
    assert f"{APP}/a: stopped" in applied.stdout and f"{APP}/b: stopped" in applied.stdout
    assert f"{APP}/nosuch: failed: InvalidParameter.TaskId" in applied.stdout
    assert '"retrying"' in applied.stderr and '"level": "debug"' in applied.stderr

    # The Terraform provider's variable name, console logs.
    manifest(path, ["a", "b", "c"])
    applied = run("apply", "--auto-approve", *debug_console, env=with_security_token)
    assert applied.returncode == 0, applied.stderr
    assert f"{APP}/c: stopped" in applied.stdout
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


def _run_with_terminal_stderr(
    args: list[str], env: Mapping[str, str], cwd: Path
) -> tuple[int, str]:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError as exc:  # EIO: the child closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=30)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_progress_line_only_on_a_terminal(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators("--latency", "0.05")
    env = cli_env(tmp_path, emulator)
    setup_tasks(tmp_path, emulator, "pipe", 10)
    piped = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "in flight" not in piped.stderr
    assert "\r" not in piped.stdout and "in flight" not in piped.stdout

    setup_tasks(tmp_path, emulator, "tty", 10)
    code, terminal = _run_with_terminal_stderr(["apply", "--auto-approve"], env, tmp_path)
    assert code == 0, terminal
    assert "in flight" in terminal and "/10]" in terminal, terminal


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
