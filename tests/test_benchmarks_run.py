"""The benchmarks still run: each one, at a small size, as the README tells people to
run it (a subprocess from the repository root), ends well and prints its figures.

Timing targets are not checked here (they are measured, by hand, at full size)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(name: str, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, f"benchmarks/{name}", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return done.stdout


def test_bench_forget_times_both_stores(new_postgres_database: Callable[[], str]) -> None:
    out = bench("bench_forget.py", "--records", "2000", "--baseline", "50",
                "--postgres", new_postgres_database())  # fmt: skip
    assert "SQLite     batched, 2,000 forgets" in out
    assert "PostgreSQL batched, 2,000 forgets" in out
    assert "end to end, `reconciler apply`" in out


def test_bench_plan_compares_the_cli_with_its_baseline() -> None:
    out = bench("bench_plan.py", "--tasks", "2000", "--files", "2", "--repeat", "1")
    assert "(1) baseline: yaml.load_all" in out
    assert "ratio plan / baseline" in out


def test_bench_apply_runs_alone_and_coordinated(new_postgres_database: Callable[[], str]) -> None:
    out = bench("bench_apply.py", "--tasks", "20", "--only", "1,2", "--skip-naive",
                "--latency", "0.02", RECONCILER_TEST_POSTGRES=new_postgres_database())  # fmt: skip
    assert "1. one runner alone" in out
    assert "2. two runners, PostgreSQL states (coordinated)" in out
    assert "[PASS] (1) every task stopped, once at the server" in out
    assert "[PASS] (2) every task stopped, once at the server" in out


def test_bench_apply_says_which_runner_failed_and_why() -> None:
    """A runner that cannot run (its state database unreachable) ends the benchmark
    with a message naming it, its exit status and the end of its stderr, rather than a
    traceback from reading a summary it never printed; the other runner is stopped."""
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_apply.py", "--tasks", "20", "--only", "2",
         "--skip-naive", "--latency", "0.02"],
        cwd=ROOT,
        env={**os.environ, "RECONCILER_TEST_POSTGRES": "postgresql://nobody@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "runner s2-r0 exited with status" in done.stderr
    assert "127.0.0.1" in done.stderr  # its own error, from its stderr
