"""What every state store is: small protocols, the lock holder value, and the
rules all backends share (push acceptance, lock polling).

Split as Terraform's ``statemgr`` splits it: a reader, a writer, a locker; a
``StateStore`` is all three. Backends implement these and pass the one contract
test suite (``tests/test_state_contract.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from reconciler.clock import Clock, Halt, rfc3339
from reconciler.domain import EMPTY_STATE, LockHolder, Outcome, Record, StateSnapshot
from reconciler.errors import Interrupted, LockBusy, StateConflict, StateError


def current_holder(operation: str, run_id: str, *, clock: Clock) -> LockHolder:
    """This process, now, as the holder of the lock for ``operation``."""
    return LockHolder(
        host=socket.gethostname(),
        pid=os.getpid(),
        since=rfc3339(clock.wall()),
        operation=operation,
        run_id=run_id,
    )


def dump_holder(holder: LockHolder) -> str:
    return json.dumps(holder.to_json(), sort_keys=True)


def load_holder(text: str) -> LockHolder | None:
    """The holder ``dump_holder`` wrote; None when the text is not one (empty, torn)."""
    try:
        return LockHolder.from_json(json.loads(text))
    except ValueError:
        return None


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

    def check_writable(self) -> None:
        """Prove that ``record`` and ``remove`` will work here — the schema is ours and
        writes are allowed — by writing a record and rolling it back; creates the
        schema if there is none. ``StoreUnavailable`` if not. Apply calls it before
        its first API call, so a state it cannot write never follows a sent stop."""
        ...


class StateLocker(Protocol):
    """One writer at a time, with a lock the OS or the server frees if its holder dies."""

    def lock(
        self, holder: LockHolder, *, timeout: float = 0.0, halt: Halt | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the writer lock for the ``with`` block; ``LockBusy`` if it cannot be had
        within ``timeout`` seconds (or before ``halt`` is set)."""
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
    interval: float,
    halt: Halt,
) -> None:
    """Call ``try_acquire`` until it succeeds, ``timeout`` seconds pass, or ``halt`` is set.

    With timeout 0 it tries once. On failure raises ``busy(waited_seconds)``, or
    ``Interrupted`` (naming the holder) when a halt cut the wait short. The waits go
    through the halt's clock, so a signal cuts them short and tests run on fake time.
    """
    clock = halt.clock
    start = clock.monotonic()
    deadline = start + max(timeout, 0.0)
    while True:
        if try_acquire():
            return
        now = clock.monotonic()
        if halt.is_set() and timeout > 0:
            raise Interrupted(f"interrupted while waiting: {busy(round(now - start, 3))}")
        if now >= deadline or halt.is_set():
            raise busy(round(now - start, 3) if timeout > 0 else 0.0)
        halt.wait(min(interval, deadline - now))
