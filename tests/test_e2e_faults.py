"""End to end under faults: the reconciler CLI as a subprocess, the official SDK over
real HTTP to the emulator (a subprocess too), a real SQLite state. A fault storm
converges with every task stopped exactly once, SIGKILL loses at most the calls in
flight, SIGTERM / SIGINT stop gracefully with 143 / 130, and bad credentials stop
the run after one round — checked against the server's own counters
(``GET /_emulator/stats``). The same guarantees are proved on fake time in
``test_ratelimit.py`` and ``test_engine.py``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import (
    STOP,
    EmulatorFactory,
    cli_env,
    no_traceback,
    outcomes,
    reconciler,
    reported,
    settled,
    setup_tasks,
    start,
    stop_calls,
    wait_for,
)

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
    printed = {address for address, (outcome, _) in reported(out).items() if outcome == "stopped"}
    assert printed == set(recorded)


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
