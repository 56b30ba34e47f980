"""What every state store is: small protocols, the lock holder value, and the
rules all backends share (push acceptance, lock polling).

Split as Terraform's ``statemgr`` splits it: a reader, a writer, a locker; a
``StateStore`` is all three. Backends implement these and pass the one contract
test suite (``tests/test_state_contract.py``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.domain import EMPTY_STATE, Outcome, Record, StateSnapshot
from reconciler.state.errors import LockBusy, StateConflict, StateError


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or wants) the writer lock: enough to find and judge the process."""

    host: str
    pid: int
    since: str  # UTC, RFC 3339
    operation: str  # "apply", "plan", "state rm", ...
    run_id: str

    @classmethod
    def current(cls, operation: str, run_id: str) -> LockHolder:
        """This process, now."""
        now = datetime.datetime.now(datetime.timezone.utc)
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            since=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            operation=operation,
            run_id=run_id,
        )

    def describe(self) -> str:
        """One phrase for messages: operation, run, host, pid, since."""
        return (
            f"{self.operation} (run {self.run_id}) on host {self.host}, pid {self.pid}, "
            f"since {self.since}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
            "operation": self.operation,
            "run_id": self.run_id,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> LockHolder | None:
        """The holder written by ``dumps``; None when the text is not one (empty, torn)."""
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        pid = doc.get("pid")
        fields = [doc.get(key) for key in ("host", "since", "operation", "run_id")]
        if not isinstance(pid, int) or not all(isinstance(value, str) for value in fields):
            return None
        host, since, operation, run_id = (str(value) for value in fields)
        return cls(host=host, pid=pid, since=since, operation=operation, run_id=run_id)


class StateReader(Protocol):
    """Reads the whole recorded state."""

    display: str  # the location for messages, password redacted

    def read(self) -> StateSnapshot:
        """The current state; ``EMPTY_STATE`` when nothing was ever written."""
        ...

    def close(self) -> None: ...


class StateWriter(Protocol):
    """Commits changes; every method returns only once its change is durable."""

    def record(self, record: Record) -> int:
        """Upsert one record by address, bump the serial; returns the new serial."""
        ...

    def remove(self, addresses: Sequence[str]) -> int:
        """Delete these records in one commit (serial bumped if any was deleted)."""
        ...

    def push(self, snapshot: StateSnapshot, *, force: bool = False) -> None:
        """Replace the whole state with ``snapshot`` under the rules of ``push_serial``."""
        ...


class StateLocker(Protocol):
    """One writer at a time, with a lock the OS or the server frees if its holder dies."""

    def lock(
        self, holder: LockHolder, *, timeout: float = 0.0
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the writer lock for the ``with`` block; ``LockBusy`` if it cannot be had."""
        ...


class StateStore(StateReader, StateWriter, StateLocker, Protocol):
    """A complete state backend."""


#: The record columns every backend stores, in ``Record`` field order.
RECORD_COLUMNS = (
    "address",
    "sdk_app_id",
    "task_id",
    "region",
    "outcome",
    "request_id",
    "time",
    "source",
)
RecordRow = tuple[str, int, str, str, str, str | None, str, str]
_OUTCOMES = {outcome.value: outcome for outcome in Outcome if outcome.recorded}


def new_lineage() -> str:
    """A fresh state's lineage: fixed at creation, it tells states apart."""
    return str(uuid.uuid4())


def record_row(record: Record) -> RecordRow:
    """One record as a row of ``RECORD_COLUMNS``; refuses outcomes that are never recorded."""
    if not record.outcome.recorded:
        raise ValueError(f"outcome {record.outcome.value!r} is never recorded in state")
    return (
        record.address,
        record.sdk_app_id,
        record.task_id,
        record.region,
        record.outcome.value,
        record.request_id,
        record.time,
        record.source,
    )


def snapshot_from_rows(
    lineage: str | None, serial: int, *, rows: Iterable[Sequence[Any]], location: str
) -> StateSnapshot:
    """Build the snapshot a backend read; fast enough for 100k rows."""
    if lineage is None:
        return EMPTY_STATE
    records: dict[str, Record] = {}
    try:
        for address, sdk_app_id, task_id, region, outcome, request_id, at, source in rows:
            records[address] = Record(
                address, sdk_app_id, task_id, region, _OUTCOMES[outcome], request_id, at, source
            )
    except (KeyError, ValueError, TypeError) as exc:
        raise StateError(f"state {location} holds an unreadable record: {exc!r}") from None
    return StateSnapshot(lineage=lineage, serial=serial, records=records)


def check_pushable(snapshot: StateSnapshot) -> str:
    """The lineage of a snapshot that can be pushed at all; StateError otherwise."""
    if snapshot.lineage is None:
        raise StateError(
            "the pushed state has no lineage (it is the pull of an empty state); nothing to push"
        )
    for address, record in snapshot.records.items():
        record_row(record)
        if address != record.address:
            raise StateError(f"the pushed state files record {record.address!r} under {address!r}")
    return snapshot.lineage


def push_serial(
    *,
    current_lineage: str | None,
    current_serial: int,
    snapshot: StateSnapshot,
    force: bool,
    location: str,
) -> int:
    """The serial the store takes after pushing ``snapshot``, or StateConflict.

    An empty store (no lineage) accepts any lineage. Otherwise a different lineage
    or a lower serial is refused unless forced. The result is always above the
    current serial, so a plan made against the old state is stale afterwards.
    """
    lineage = snapshot.lineage
    if lineage is None:  # check_pushable says why, before any I/O
        raise StateError("the pushed state has no lineage; nothing to push")
    if current_lineage is not None and not force:
        if lineage != current_lineage:
            raise StateConflict(
                f"cannot push: lineage {lineage} differs from the lineage "
                f"{current_lineage} of state {location} (a different state); "
                "use --force to overwrite it"
            )
        if snapshot.serial < current_serial:
            raise StateConflict(
                f"cannot push: serial {snapshot.serial} is older than serial "
                f"{current_serial} of state {location}; pull again, or use --force to "
                "overwrite it"
            )
    return snapshot.serial if snapshot.serial > current_serial else current_serial + 1


def acquire_polling(
    try_acquire: Callable[[], bool],
    *,
    timeout: float,
    busy: Callable[[float], LockBusy],
    interval: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call ``try_acquire`` until it succeeds or ``timeout`` seconds have passed.

    With timeout 0 it tries once. On failure raises ``busy(waited_seconds)``.
    """
    start = clock()
    deadline = start + max(timeout, 0.0)
    while True:
        if try_acquire():
            return
        now = clock()
        if now >= deadline:
            raise busy(round(now - start, 3) if timeout > 0 else 0.0)
        sleep(min(interval, deadline - now))
