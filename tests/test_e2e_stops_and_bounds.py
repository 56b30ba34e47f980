"""How runs end, through the CLI: an endpoint that refuses every connection stops a
10,000-task apply in seconds with one message; a ``run`` cycle cut short by SIGTERM
is counted as interrupted, never as a success; options past what the clock or the
limiter can take are refused in one line."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

from tests.support import (
    EmulatorProcess,
    cli_env,
    error_lines,
    has_open,
    hold_lock,
    interrupt_after,
    manifest,
    names,
    no_traceback,
    reconciler,
    seed,
    start,
)


def refused_endpoint() -> str:
    """An address on this machine where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_endpoint_stops_10000_tasks_in_seconds(tmp_path: Path) -> None:
    tasks = names("down", 10_000)
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    env = cli_env(tmp_path, RECONCILER_ENDPOINT=refused_endpoint())
    started = time.monotonic()
    result = reconciler("apply", "--auto-approve", "--json", env=env, cwd=tmp_path, timeout=120)
    took = time.monotonic() - started
    assert result.returncode == 1 and no_traceback(result), result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["type"] == "summary"
    assert summary["error"]["code"] == "EndpointUnreachable"
    assert "endpoint is unreachable" in summary["error"]["message"]
    assert "Connection refused" in summary["error"]["message"]
    assert summary["not_attempted"] > 9_900
    assert took < 60, took  # retrying every task to its limit would take hours
    human = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path, timeout=120)
    assert human.returncode == 1
    (message,) = error_lines(human)
    assert "the TRTC endpoint is unreachable" in message


def test_a_run_cycle_cut_short_by_sigterm_is_interrupted_not_a_success(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    tasks = names("cut", 200)
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    emulator.add_tasks(seed(tasks))
    metrics = tmp_path / "reconciler.prom"
    env = cli_env(tmp_path, emulator)
    proc = start(
        "run", "--interval", "1h", "--metrics-file", str(metrics), "--log-format", "json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if '"task stopped"' in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err  # a service's clean stop
    text = metrics.read_text()
    assert 'reconciler_cycles_total{result="interrupted"} 1' in text
    assert 'reconciler_cycles_total{result="success"} 0' in text
    assert "reconciler_last_run_success 0" in text
    assert "reconciler_last_success_timestamp_seconds" not in text
    assert '"cycle interrupted"' in err


def test_options_past_what_the_clock_can_take_are_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    for args, words in (
        (["apply", "--auto-approve", "--rate", "1e-9"], "--rate: must be at least 0.01"),
        (["run", "--interval", "9" * 400 + "h"], "--interval: duration"),
        (["run", "--interval", "1m", "--jitter", "99999999h"], "too long"),
        (["apply", "--lock-timeout", "1e9"], "invalid duration"),
    ):
        result = reconciler(*args, env=env, cwd=tmp_path, timeout=20)
        assert result.returncode == 1 and no_traceback(result), result.stderr
        assert words in result.stderr, result.stderr


def test_a_signal_ends_a_wait_for_the_lock_as_an_interruption(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    env = cli_env(tmp_path, emulator)
    holder = hold_lock(env["RECONCILER_STATE"], tmp_path)
    try:
        proc = start("apply", "--auto-approve", "--lock-timeout", "60s", env=env, cwd=tmp_path)
        waiting = lambda: has_open(proc.pid, Path(env["RECONCILER_STATE"] + ".lock"))  # noqa: E731
        _, err, _ = interrupt_after(proc, 1, signal.SIGTERM, within=10, ready=waiting)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 143, err
    assert "interrupted while waiting" in err and "locked" in err and "Traceback" not in err


def test_an_interrupted_refresh_is_not_a_plan(tmp_path: Path, emulator: EmulatorProcess) -> None:
    tasks = names("slow", 40)
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    emulator.add_tasks(seed(tasks))
    emulator.configure(latency=0.5)
    env = cli_env(tmp_path, emulator)
    proc = start("plan", "--refresh", "--out", "plan.json", env=env, cwd=tmp_path)
    asking = lambda: emulator.stats()["calls"].get("DescribeStreamIngest", 0) > 0  # noqa: E731
    out, err, _ = interrupt_after(proc, 0.5, signal.SIGINT, within=15, ready=asking)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "plan.json").exists() and "Plan:" not in out
