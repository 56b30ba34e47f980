"""Helpers shared by the state store tests: records, snapshots, lock holders, and
child processes that hold a lock or record until killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reconciler.clock import SYSTEM_CLOCK
from reconciler.domain import LockHolder, Outcome, Record, StateSnapshot
from reconciler.state import current_holder

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def holder_for(operation: str, run_id: str) -> LockHolder:
    """This process as the lock holder for ``operation``."""
    return current_holder(operation, run_id, clock=SYSTEM_CLOCK)


def make_record(
    task: str = "task-a",
    *,
    sdk_app_id: int = 1400000001,
    outcome: Outcome = Outcome.STOPPED,
    request_id: str | None = "req-1",
) -> Record:
    return Record(
        address=f"{sdk_app_id}/{task}",
        sdk_app_id=sdk_app_id,
        task_id=task,
        region="ap-singapore",
        outcome=outcome,
        request_id=request_id,
        time="2024-05-01T12:00:00Z",
        source="manifests/a.yaml:9",
    )


def snapshot(lineage: str | None, serial: int, *records: Record) -> StateSnapshot:
    return StateSnapshot(lineage=lineage, serial=serial, records={r.address: r for r in records})


def spawn(code: str, location: str) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter with ``LOCATION`` set; stdout is a pipe."""
    env = {**os.environ, "LOCATION": location, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )


HOLD_LOCK = """
import os, sys, time
from reconciler.clock import SYSTEM_CLOCK
from reconciler.state import current_holder, open_store
holder = current_holder("apply", "child-run", clock=SYSTEM_CLOCK)
with open_store(os.environ["LOCATION"]).lock(holder):
    print("locked", flush=True)
    time.sleep(60)
"""

RECORD_FOREVER = """
import os
from reconciler.domain import Outcome, Record
from reconciler.state import open_store
store = open_store(os.environ["LOCATION"])
for i in range(100000):
    record = Record(f"1/t{i}", 1, f"t{i}", "ap-jakarta", Outcome.STOPPED, None,
                    "2024-05-01T12:00:00Z", "m.yaml:1")
    store.record(record)
    print(record.address, flush=True)
"""
