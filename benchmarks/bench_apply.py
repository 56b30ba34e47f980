"""Benchmark: stopping N tasks at TRTC's quota — a naive SDK loop vs ``reconciler apply``.

One run, one emulator (100 ms latency, the 20/s limit per action), side by side:

1. naive: a sequential loop over the official SDK, what a user would script with
   tccli or a few lines of Python (no retries, no pacing);
2. ``reconciler apply --auto-approve`` as a subprocess (wall time includes start-up).

For each it prints stops per second, % of the quota, throttled answers, the most
calls the server saw in any one-second window, and wall time. Target for the
reconciler: >= 19 stops/s (95 % of the quota), <= 1 % throttled, never more than
20 calls in any one-second window. Not a test: it reports, and exits 0.

    python benchmarks/bench_apply.py [--tasks 600] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.emulator import DEFAULT_SECRET_KEY, AdminClient, SeedTask

QUOTA = 20
APP = 1400000001


class Emu(AdminClient):
    """``reconciler emulator`` in a subprocess; this object is its admin client."""

    def __init__(self, latency: float, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "emulator",
                "--port",
                "0",
                "--latency",
                str(latency),
                "--rate-limit",
                str(QUOTA),
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        super().__init__(info["url"])
        self.port: int = info["port"]
        self.secret_id: str = info["secretId"]

    def seed(self, prefix: str, count: int) -> list[str]:
        ids = [f"{prefix}-{i:05d}" for i in range(count)]
        self.add_tasks(SeedTask(APP, task_id) for task_id in ids)
        self.reset_stats()
        return ids

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def naive(emu: Emu, ids: list[str], secret_key: str) -> dict[str, Any]:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    client = trtc_client.TrtcClient(
        credential.Credential(emu.secret_id, secret_key),
        "ap-singapore",
        ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=f"127.0.0.1:{emu.port}")),
    )
    stopped = errors = 0
    started = time.monotonic()
    for task_id in ids:
        request = models.StopStreamIngestRequest()
        request.SdkAppId = APP
        request.TaskId = task_id
        try:
            client.StopStreamIngest(request)
            stopped += 1
        except TencentCloudSDKException:
            errors += 1
    return {"wall": time.monotonic() - started, "stopped": stopped, "failed": errors}


def reconciler_apply(
    emu: Emu, ids: list[str], secret_key: str, work: Path, extra: list[str]
) -> dict[str, Any]:
    manifests = work / "manifests"
    manifests.mkdir()
    lines = "\n".join(f'    - "{t}"' for t in ids)
    (manifests / "bench.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec:\n"
        f"  region: ap-singapore\n  sdkAppId: {APP}\n  tasks:\n{lines}\n"
    )
    env = {
        **os.environ,
        "TENCENTCLOUD_SECRET_ID": emu.secret_id,
        "TENCENTCLOUD_SECRET_KEY": secret_key,
        "RECONCILER_ENDPOINT": emu.url,
        "RECONCILER_STATE": str(work / "state.db"),
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            "--auto-approve",
            "--json",
            "--log-level",
            "warning",
            str(manifests),
            *extra,
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.monotonic() - started
    summary = json.loads(result.stdout.splitlines()[-1])
    return {
        "wall": wall,
        "stopped": summary["stopped"] + summary["already_stopped"],
        "failed": summary["failed"],
        "exit": result.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--skip-naive", action="store_true")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        emu = Emu(args.latency, work)
        rows = []
        try:
            runs = [] if args.skip_naive else [("naive SDK loop", "naive")]
            runs.append(("reconciler apply", "apply"))
            for label, kind in runs:
                ids = emu.seed(kind, args.tasks)
                if kind == "naive":
                    measured = naive(emu, ids, DEFAULT_SECRET_KEY)
                else:
                    (work / kind).mkdir()
                    measured = reconciler_apply(emu, ids, DEFAULT_SECRET_KEY, work / kind, extra)
                stats = emu.stats()
                calls = stats["calls"].get("StopStreamIngest", 0)
                throttled = stats["errors"].get("RequestLimitExceeded", 0)
                effective = sum(stats["effective_stops"].values())
                rate = measured["stopped"] / measured["wall"]
                rows.append(
                    {
                        "label": label,
                        "tasks": args.tasks,
                        "stopped": measured["stopped"],
                        "effective": effective,
                        "calls": calls,
                        "throttled": throttled,
                        "throttled_pct": 100.0 * throttled / calls if calls else 0.0,
                        "max_window": stats["max_in_window"].get("StopStreamIngest", 0),
                        "rate": rate,
                        "quota_pct": 100.0 * rate / QUOTA,
                        "wall": measured["wall"],
                    }
                )
        finally:
            emu.close()

    print(
        f"Stopping {args.tasks} tasks; emulator latency {args.latency * 1000:.0f} ms, "
        f"limit {QUOTA}/s per action\n"
    )
    head = (
        f"{'':18} {'stops/s':>8} {'% quota':>8} {'stopped':>8} {'calls':>6} "
        f"{'throttled':>10} {'max/1s':>7} {'wall s':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['label']:18} {r['rate']:8.2f} {r['quota_pct']:7.1f}% {r['stopped']:8d} "
            f"{r['calls']:6d} {r['throttled']:5d} ({r['throttled_pct']:.1f}%) "
            f"{r['max_window']:7d} {r['wall']:7.1f}"
        )
    mine = rows[-1]
    checks = [
        ("stops/s >= 19 (95% of quota)", mine["rate"] >= 19.0),
        ("throttled <= 1% of calls", mine["throttled_pct"] <= 1.0),
        ("never more than 20 calls in any 1 s window", mine["max_window"] <= QUOTA),
        (
            "every task stopped exactly once at the server",
            mine["effective"] == args.tasks and mine["stopped"] == args.tasks,
        ),
    ]
    print()
    for name, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    if len(rows) == 2:
        print(
            f"\nreconciler apply is {rows[0]['wall'] / mine['wall']:.1f}x faster "
            "than the naive loop."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
