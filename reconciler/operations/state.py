"""The ``state`` commands: list, show, rm, pull, push — each one unit of work.

Reads do not lock; ``rm`` and ``push`` hold the writer lock for their commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.domain import Record, StateSnapshot, shown
from reconciler.errors import InputError
from reconciler.operations.inputs import read_state_document
from reconciler.operations.ports import Ports
from reconciler.operations.reconcile import new_run_id
from reconciler.results import StateChange


def read(ports: Ports) -> StateSnapshot:
    """The whole recorded state (``state list`` and ``state pull``)."""
    with ports.store() as store:
        return store.read()


def show(ports: Ports, address: str) -> Record:
    record = read(ports).records.get(address)
    if record is None:
        raise InputError(f"{shown(address)}: not in the state")
    return record


def remove(ports: Ports, addresses: Sequence[str], *, lock_timeout: float) -> StateChange:
    """Remove these records in one commit; refuses (removing nothing) if any is missing."""
    with ports.locked_store("state rm", new_run_id(), lock_timeout=lock_timeout) as store:
        snapshot = store.read()
        missing = [a for a in addresses if a not in snapshot.records]
        if missing:
            # Addresses as typed: quoted, escaped and shortened, a few, then a count.
            named = ", ".join(shown(a) for a in missing[:10])
            more = f" and {len(missing) - 10:,} more" if len(missing) > 10 else ""
            raise InputError(f"not in the state: {named}{more}; nothing was removed")
        serial = store.remove(list(addresses))
        return StateChange(store.display, tuple(addresses), snapshot.lineage, serial)


def push(ports: Ports, path: str, *, force: bool, lock_timeout: float) -> StateChange:
    """Replace the state with a pulled document (read and checked before locking)."""
    snapshot = read_state_document(path, halt=ports.halt)
    with ports.locked_store("state push", new_run_id(), lock_timeout=lock_timeout) as store:
        store.push(snapshot, force=force)
        after = store.read()
        return StateChange(
            store.display, tuple(sorted(snapshot.records)), after.lineage, after.serial
        )
