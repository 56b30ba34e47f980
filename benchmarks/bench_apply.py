"""Benchmark: stopping tasks at TRTC's quota — alone, and sharing it with others.

One run, one emulator (100 ms latency, the 20/s limit per action, throttled arrivals
counted in its window: the conservative model of a gateway), side by side:

0. naive: a sequential loop over the official SDK (what a user would script), for
   reference (``--skip-naive`` leaves it out);
1. one ``reconciler apply`` alone (the baseline);
2. two applies, their states in one PostgreSQL database: coordinated;
3. three applies, coordinated;
4. two applies on SQLite states: uncoordinated, each backing off on its own;
5. one apply beside a foreign client sending 5 requests/s that never backs off.

Every apply runs as a subprocess with credentials of its own (the emulator's account
has one key pair per runner, so its stats tell each runner's calls apart); the
coordinated ones therefore name their group, ``--quota-group bench``, as several key
pairs of one account must. For each scenario it prints the combined stops/s — over
the span the runners were stopping tasks, from the first answer to the last (process
start-up, planning and joining left out; wall time is printed too, for reference: it
adds the process's start, some 0.8 s) — and as a
percentage of the free capacity (20/s, less the foreign client's 5), the share of
calls throttled, the most calls the server saw in any one-second window (every
client's, the foreign one's included; the emulator counts a call when the kernel
received it), the margin by which the tightest 21 arrivals missed
fitting in one second (negative: some window held more than 20), and each runner's
rate while all of them ran, as a percentage of its fair share.

Targets: (1) >= 96 %; coordinated (2, 3) >= 95 %, <= 1 % throttled, never more than 20
calls in a window, no runner below half its fair share; uncoordinated (4, 5) >= 75 %
of the free capacity, <= 5 % throttled. Not a test: it reports, and exits 0. The
PostgreSQL server is ``RECONCILER_TEST_POSTGRES`` if set, else a throwaway one.

    python benchmarks/bench_apply.py [--tasks 600] [--latency 0.1] [--skip-naive] [--only 2,3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from throwaway_postgres import postgres

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, AdminClient, SeedTask

QUOTA = 20
APP = 1400000001
STOP = "StopStreamIngest"
RUNNERS = 3
KEYS = [
    (f"AKIDBENCHRUNNER{n}" + "0" * 19, f"bench-runner-key-{n}" + "0" * 14) for n in range(RUNNERS)
]


class Emu(AdminClient):
    """``reconciler emulator`` in a subprocess, with one key pair per runner; this
    object is its admin client."""

    def __init__(self, latency: float, cwd: Path) -> None:
        keys = [*KEYS, (DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY)]  # the last for the naive loop
        pairs = [arg for sid, key in keys for arg in ("--secret-id", sid, "--secret-key", key)]
        command = [sys.executable, "-m", "reconciler", "emulator", "--port", "0"]
        self.proc = subprocess.Popen(
            [*command, "--latency", str(latency), "--rate-limit", str(QUOTA), *pairs],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        super().__init__(info["url"])
        self.port: int = info["port"]

    def seed(self, prefix: str, count: int) -> list[str]:
        ids = [f"{prefix}-{i:05d}" for i in range(count)]
        self.add_tasks(SeedTask(APP, task_id) for task_id in ids)
        return ids

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


@dataclass
class Scenario:
    number: int
    label: str
    runners: int
    on_postgres: bool = False
    foreign: float = 0.0

    @property
    def free(self) -> float:
        return QUOTA - self.foreign


@dataclass
class Runner:
    key: tuple[str, str]
    proc: subprocess.Popen[str]
    started: float
    stderr: Path
    stdout: Path
    ended: float = 0.0
    stopped: int = 0
    stop_times: list[float] = field(default_factory=list)


def naive(emu: Emu, ids: list[str]) -> dict[str, Any]:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    client = trtc_client.TrtcClient(
        credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY),
        "ap-singapore",
        ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=f"127.0.0.1:{emu.port}")),
    )
    stopped = 0
    started = time.monotonic()
    for task_id in ids:
        request = models.StopStreamIngestRequest()
        request.SdkAppId = APP
        request.TaskId = task_id
        with contextlib.suppress(TencentCloudSDKException):
            client.StopStreamIngest(request)
            stopped += 1
    return {"wall": time.monotonic() - started, "stopped": stopped}


def start_runner(
    emu: Emu, scenario: Scenario, index: int, ids: list[str], work: Path, pg: str
) -> Runner:
    home = work / f"s{scenario.number}-r{index}"
    (home / "manifests").mkdir(parents=True)
    lines = "\n".join(f'    - "{t}"' for t in ids)
    (home / "manifests" / "bench.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec:\n"
        f"  region: ap-singapore\n  sdkAppId: {APP}\n  tasks:\n{lines}\n"
    )
    key = KEYS[index]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "TENCENTCLOUD_"))
    }
    env.update(
        TENCENTCLOUD_SECRET_ID=key[0],
        TENCENTCLOUD_SECRET_KEY=key[1],
        RECONCILER_ENDPOINT=emu.url,
        RECONCILER_STATE=str(home / "state.db"),
    )
    if scenario.on_postgres:
        separator = "&" if "?" in pg else "?"
        env["RECONCILER_STATE"] = f"{pg}{separator}state=s{scenario.number}-r{index}"
        env["RECONCILER_QUOTA_GROUP"] = "bench"
    stderr, stdout = home / "stderr.log", home / "stdout.json"
    command = [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--json"]
    command += ["--log-format", "json", str(home / "manifests")]
    # Both streams go to files: a pipe read only after an earlier runner ended would
    # fill (the JSON lines of 600 outcomes pass 64 KiB) and stall this runner's end.
    with stderr.open("w") as err, stdout.open("w") as out:
        proc = subprocess.Popen(
            command, env=env, cwd=home, stdout=out, stderr=err, text=True, stdin=subprocess.DEVNULL
        )
    return Runner(key, proc, time.monotonic(), stderr, stdout)


class RunnerFailed(Exception):
    """A runner ended without its summary: which one, how, and its last words."""


def finish(runner: Runner) -> None:
    name = runner.stderr.parent.name
    try:
        status = runner.proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        runner.proc.kill()
        status = runner.proc.wait()
    runner.ended = time.monotonic()
    lines = runner.stdout.read_text().splitlines()
    try:
        summary = json.loads(lines[-1])
        runner.stopped = summary["stopped"] + summary["already_stopped"]
    except (IndexError, ValueError, KeyError, TypeError) as error:
        said = (runner.stderr.read_text().strip().splitlines() or ["(nothing)"])[-5:]
        raise RunnerFailed(
            f"runner {name} exited with status {status} and no summary on stdout"
            f" ({type(error).__name__}: {error}); the end of its stderr:\n  "
            + "\n  ".join(said)
            + ("\n  its stdout's last line: " + lines[-1] if lines else "")
        ) from None
    for line in runner.stderr.read_text().splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") in ("task stopped", "task already_stopped"):
                stamp = event["timestamp"].replace("Z", "+00:00")
                runner.stop_times.append(datetime.fromisoformat(stamp).timestamp())
    runner.stop_times.sort()


def run_scenario(emu: Emu, scenario: Scenario, tasks: int, work: Path, pg: str) -> dict[str, Any]:
    ids = [emu.seed(f"s{scenario.number}r{i}", tasks) for i in range(scenario.runners)]
    emu.configure(foreign_rate=scenario.foreign)
    emu.reset_stats()
    runners = [
        start_runner(emu, scenario, index, ids[index], work, pg)
        for index in range(scenario.runners)
    ]
    try:
        for runner in runners:
            finish(runner)
    finally:
        for runner in runners:  # the others, when one failed
            if runner.proc.poll() is None:
                runner.proc.kill()
                runner.proc.wait()
    stats = emu.stats()
    emu.configure(foreign_rate=0.0)
    return measure(scenario, runners, stats, tasks)


def measure(
    scenario: Scenario, runners: list[Runner], stats: dict[str, Any], tasks: int
) -> dict[str, Any]:
    first = min(r.stop_times[0] for r in runners)
    last = max(r.stop_times[-1] for r in runners)
    stopped = sum(r.stopped for r in runners)
    rate = stopped / (last - first)
    wall = max(r.ended for r in runners) - min(r.started for r in runners)
    # Each runner's rate while all of them ran, against its fair share of the free capacity.
    overlap = (max(r.stop_times[0] for r in runners), min(r.stop_times[-1] for r in runners))
    span = max(1e-9, overlap[1] - overlap[0])
    fair = scenario.free / len(runners)
    shares = [
        sum(1 for t in r.stop_times if overlap[0] <= t <= overlap[1]) / span / fair for r in runners
    ]
    callers = stats.get("callers", {})
    calls = sum(callers.get(r.key[0], {}).get("calls", {}).get(STOP, 0) for r in runners)
    throttled = sum(callers.get(r.key[0], {}).get("rate_limited", {}).get(STOP, 0) for r in runners)
    server = stats.get("with_foreign", stats)
    window = server["max_in_window"].get(STOP, 0)
    tightest = server.get("tightest_over_limit", {}).get(STOP)
    return {
        "scenario": scenario,
        "stopped": stopped,
        "expected": tasks * len(runners),
        "effective": sum(stats["effective_stops"].values()),
        "calls": calls,
        "throttled": throttled,
        "throttled_pct": 100.0 * throttled / calls if calls else 0.0,
        "max_window": window,
        # How near a window came to holding one call too many: the shortest span of
        # 21 arrivals, less a second (negative: some window held more than 20).
        "margin_ms": None if tightest is None else 1000.0 * (tightest - 1.0),
        "rate": rate,
        "free_pct": 100.0 * rate / scenario.free,
        "wall": wall,
        "wall_pct": 100.0 * stopped / wall / scenario.free,
        "shares": shares,
    }


def checks(row: dict[str, Any]) -> list[tuple[str, bool]]:
    scenario: Scenario = row["scenario"]
    every = [
        (
            "every task stopped, once at the server",
            row["stopped"] == row["expected"] == row["effective"],
        )
    ]
    if scenario.number == 1:
        return [
            ("stops/s >= 96% of the quota", row["free_pct"] >= 96.0),
            ("never more than 20 calls in a 1 s window", row["max_window"] <= QUOTA),
            *every,
        ]
    if scenario.on_postgres:
        return [
            ("combined >= 95% of the quota", row["free_pct"] >= 95.0),
            ("throttled <= 1% of calls", row["throttled_pct"] <= 1.0),
            ("never more than 20 calls in a 1 s window", row["max_window"] <= QUOTA),
            ("no runner below half its fair share", min(row["shares"]) >= 0.5),
            *every,
        ]
    return [
        ("combined >= 75% of the free capacity", row["free_pct"] >= 75.0),
        ("throttled <= 5% of calls", row["throttled_pct"] <= 5.0),
        *every,
    ]


def report(rows: list[dict[str, Any]], naive_row: dict[str, Any] | None, args: Any) -> None:
    load = os.getloadavg()
    print(
        f"{args.tasks} tasks per runner; emulator latency {args.latency * 1000:.0f} ms, limit "
        f"{QUOTA}/s per action, throttled arrivals counted; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs\n"
    )
    head = (
        f"{'':48} {'stops/s':>7} {'% free':>7} {'throttled':>11} {'max/1s':>6} {'margin':>7} "
        f"{'wall s':>6} {'% wall':>6}  each runner's share (% of fair)"
    )
    print(head)
    print("-" * len(head))
    if naive_row is not None:
        rate = naive_row["stopped"] / naive_row["wall"]
        print(
            f"{'0. naive SDK loop':48} {rate:7.2f} {100 * rate / QUOTA:6.1f}% {'':11} {'':6} "
            f"{'':7} {naive_row['wall']:6.1f}"
        )
    for row in rows:
        scenario = row["scenario"]
        shares = " ".join(f"{100 * s:.0f}%" for s in row["shares"])
        margin = "" if row["margin_ms"] is None else f"{row['margin_ms']:+5.0f}ms"
        print(
            f"{f'{scenario.number}. {scenario.label}':48} {row['rate']:7.2f} "
            f"{row['free_pct']:6.1f}% {row['throttled']:4d} ({row['throttled_pct']:.1f}%) "
            f"{row['max_window']:6d} {margin:>7} {row['wall']:6.1f} {row['wall_pct']:5.1f}%  "
            f"{shares}"
        )
    print()
    for row in rows:
        scenario = row["scenario"]
        for name, ok in checks(row):
            print(f"  [{'PASS' if ok else 'FAIL'}] ({scenario.number}) {name}")


SCENARIOS = [
    Scenario(1, "one runner alone", 1),
    Scenario(2, "two runners, PostgreSQL states (coordinated)", 2, on_postgres=True),
    Scenario(3, "three runners, coordinated", 3, on_postgres=True),
    Scenario(4, "two runners, SQLite states (uncoordinated)", 2),
    Scenario(5, "one runner beside a foreign client at 5/s", 1, foreign=5.0),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=600, help="tasks per runner")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--only", default="", help="scenario numbers, e.g. 2,3")
    args = parser.parse_args()
    wanted = {int(n) for n in args.only.split(",") if n.strip()}
    scenarios = [s for s in SCENARIOS if not wanted or s.number in wanted]
    rows: list[dict[str, Any]] = []
    naive_row = None
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg:
        work = Path(tmp)
        emu = Emu(args.latency, work)
        try:
            if not args.skip_naive:
                ids = emu.seed("naive", args.tasks)
                emu.reset_stats()
                naive_row = naive(emu, ids)
            for scenario in scenarios:
                rows.append(run_scenario(emu, scenario, args.tasks, work, pg))
        except RunnerFailed as failure:
            print(f"bench_apply: {failure}", file=sys.stderr)
            return 1
        finally:
            emu.close()
    report(rows, naive_row, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
