"""Benchmark: forgetting 100,000 recorded tasks (a big manifest deleted after an
event) — batched forgets vs one transaction per record, on SQLite and PostgreSQL.

One run, side by side, per backend:

1. baseline: ``store.remove([address])`` once per record, one transaction each —
   what apply did before forgets were batched (timed on ``--baseline`` records and,
   when fewer than ``--records``, extrapolated to them, said so in the output);
2. batched: the engine's ``apply_plan`` on a forget-only plan (1,000 forgets per
   transaction, each batch committed before its outcomes are reported and logged as
   JSON lines, as the CLI does);
3. end to end (SQLite): ``reconciler apply --auto-approve`` as a subprocess with the
   manifests emptied — reading the state, planning, forgetting, one output line and
   one log line per task.

Targets: 100,000 forgets in under 3 s on SQLite and under 5 s on PostgreSQL. On
PostgreSQL each phase starts after ``VACUUM ANALYZE`` (as autovacuum would have run
between two real applies). Not a test: it reports, and exits 0. PostgreSQL is a
throwaway pgserver unless ``--postgres URL`` names one.

    python benchmarks/bench_forget.py [--records 100000] [--baseline 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from throwaway_postgres import postgres

from reconciler.clock import Halt
from reconciler.domain import Outcome, Record, StateSnapshot, TaskResult
from reconciler.engine import Progress, apply_plan
from reconciler.instant import Instant
from reconciler.logs import configure_logging
from reconciler.planner import make_plan
from reconciler.state import StateStore, open_store

APP = 1400000001


class _Nobody:
    def on_result(self, result: TaskResult) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass


def records(count: int) -> StateSnapshot:
    made = {}
    for index in range(count):
        task = f"event-task-{index:06d}"
        address = f"{APP}/{task}"
        made[address] = Record(
            address, APP, task, "ap-singapore", Outcome.STOPPED, f"req-{index}",
            "2026-01-01T00:00:00Z", f"manifests/event.yaml:{index + 9}",
        )  # fmt: skip
    return StateSnapshot(lineage=str(uuid.uuid4()), serial=1, records=made)


def vacuumed(store: StateStore) -> None:
    """PostgreSQL: clear the dead rows the last push left, as autovacuum would have
    between two real applies (otherwise each phase pays for the one before)."""
    url = getattr(store, "_location", None)
    if url is None:
        return
    import psycopg

    from reconciler.state.pgconnect import connect_options

    with psycopg.connect(autocommit=True, **connect_options(url)) as conn:
        conn.execute("VACUUM ANALYZE reconciler_records")


def baseline(store: StateStore, snapshot: StateSnapshot, count: int) -> float:
    """Seconds per record, removing ``count`` records one transaction each."""
    store.push(snapshot, force=True)
    vacuumed(store)
    addresses = sorted(snapshot.records)[:count]
    started = time.perf_counter()
    for address in addresses:
        store.remove([address])
    return (time.perf_counter() - started) / count


def batched(store: StateStore, snapshot: StateSnapshot) -> float:
    store.push(snapshot, force=True)
    vacuumed(store)
    plan = make_plan([], store.read(), now=Instant.from_seconds(time.time()))
    started = time.perf_counter()
    report = apply_plan(
        plan,
        store=store,
        api_factory=lambda: (_ for _ in ()).throw(AssertionError("no call")),
        observer=_Nobody(),
        halt=Halt(),
    )
    took = time.perf_counter() - started
    assert report.counts["forgotten"] == len(snapshot.records), report.counts
    assert store.read().records == {}
    return took


def end_to_end(location: str, snapshot: StateSnapshot, work: Path) -> float:
    with open_store(location) as store:
        store.push(snapshot, force=True)
    manifests = work / "manifests"
    manifests.mkdir(exist_ok=True)
    (manifests / "other.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec:\n"
        "  region: ap-singapore\n  sdkAppId: 1\n  tasks: []\n"
    )
    env = {**os.environ, "RECONCILER_STATE": location, "TENCENTCLOUD_SECRET_ID": "x",
           "TENCENTCLOUD_SECRET_KEY": "y"}  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--log-format", "json"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    took = time.perf_counter() - started
    assert done.returncode == 0, done.returncode
    return took


def with_state(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "state=bench-forget"


def report(name: str, count: int, sample: int, per_record: float, took: float) -> None:
    projected = per_record * count
    how = "measured" if sample >= count else f"extrapolated from {sample:,} records"
    print(f"{name:<10} baseline, one transaction per record: {projected:8.2f} s  ({how})")
    print(f"{name:<10} batched, {count:,} forgets:              {took:8.2f} s  "
          f"({count / took:,.0f}/s, {projected / took:,.0f}x)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=5_000, help="records timed one by one")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="an existing server (default: RECONCILER_TEST_POSTGRES, else a throwaway one)",
    )
    args = parser.parse_args()
    configure_logging(fmt="json", level="info", stream=open(os.devnull, "w"))  # noqa: SIM115
    snapshot = records(args.records)
    sample = min(args.baseline, args.records)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with open_store(str(work / "state.db")) as store:
            per_record = baseline(store, snapshot, sample)
            took = batched(store, snapshot)
        report("SQLite", args.records, sample, per_record, took)
        cli = end_to_end(str(work / "cli.db"), snapshot, work)
        print(f"SQLite     end to end, `reconciler apply` (start-up, read, plan, forget, "
              f"output): {cli:.2f} s")  # fmt: skip
        with postgres(args.postgres) as url, open_store(with_state(url)) as store:
            per_record = baseline(store, snapshot, sample)
            took = batched(store, snapshot)
        report("PostgreSQL", args.records, sample, per_record, took)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
