"""Reading what the user gave: manifests, ``--target`` addresses, saved plans and
state documents — each checked in full before any lock is taken or call made.

Every failure is an ``InputError`` (or a ``UsageError`` for a flag) with one clear
message, and ``problems`` where they can be placed in a file.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.clock import Halt
from reconciler.domain import (
    FORMAT_VERSION,
    DesiredTask,
    Plan,
    Record,
    StateSnapshot,
    check_serial,
    parse_address,
)
from reconciler.errors import (
    InputError,
    ManifestsInvalid,
    PlanFileError,
    StateDocumentError,
    UsageError,
)
from reconciler.instant import Instant
from reconciler.manifest import LoadResult, load_manifests
from reconciler.planner import plan_from_json
from reconciler.reading import read_json
from reconciler.text import check_text

DEFAULT_PATHS = ("manifests",)


def validate(paths: Sequence[str]) -> LoadResult:
    """Load the manifests under ``paths`` (default ``manifests``), problems and all."""
    return load_manifests(list(paths or DEFAULT_PATHS))


def time_now(halt: Halt) -> Instant:
    """The wall clock's time now: what the planner calls now, and stopAts are due by."""
    return Instant.from_seconds(halt.clock.wall())


@dataclass(frozen=True)
class Desired:
    """What the manifests declare, where they were read from, and the ``--target``
    addresses a plan is limited to."""

    tasks: tuple[DesiredTask, ...]
    paths: tuple[str, ...]
    targets: frozenset[str] | None = None


@contextlib.contextmanager
def desired_tasks(paths: Sequence[str], *, targets: Sequence[str] = ()) -> Iterator[Desired]:
    """The declared tasks, for the ``with`` block; ``ManifestsInvalid`` if any problem.

    The flags are checked first, so bad input is refused before anything is read.
    While the block runs the tasks are kept out of the garbage collector's sight:
    they live as long as the command, and on 100,000 tasks every collection would
    otherwise re-walk them at more cost than planning itself.
    """
    wanted = check_targets(targets)
    result = validate(paths)
    if result.problems:
        raise ManifestsInvalid(result.problems, truncated=result.truncated)
    gc.freeze()
    try:
        yield Desired(result.tasks, tuple(paths or DEFAULT_PATHS), wanted)
    finally:
        gc.unfreeze()


def check_targets(targets: Sequence[str]) -> frozenset[str] | None:
    """The ``--target`` addresses, each checked; None when there are none."""
    if not targets:
        return None
    for target in targets:
        try:
            parse_address(target)
        except ValueError as exc:
            raise UsageError(f"--target: {exc}") from None
    return frozenset(targets)


def refuse_unmatched_targets(wanted: Collection[str], known: Collection[str], where: str) -> None:
    missing = sorted(set(wanted) - set(known))
    if missing:
        raise UsageError(f"--target matches nothing {where}: " + ", ".join(missing))


def read_saved_plan(path: str, *, halt: Halt | None = None) -> Plan:
    """A plan saved by ``plan --out``, read through the bounded reader and checked by
    the rules manifests and pushed states share (a stop needs a known region)."""
    doc = read_json(path, what="plan file", halt=halt)
    try:
        return plan_from_json(doc)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: {exc}") from None


def write_plan_file(path: str, document: Mapping[str, object]) -> None:
    """Save a plan document atomically (a reader never sees half a plan)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, separators=(",", ":")) + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None


def read_state_document(path: str, *, halt: Halt | None = None) -> StateSnapshot:
    """A state document as ``state pull`` writes it, read through the bounded reader
    and checked record by record (the rules manifests and plans share)."""
    return snapshot_from_json(read_json(path, what="state document", halt=halt), path)


def snapshot_from_json(doc: object, origin: str) -> StateSnapshot:
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise StateDocumentError(
            f"{origin}: not a state document (expected format_version {FORMAT_VERSION}, "
            "as `reconciler state pull` writes)"
        )
    lineage = doc.get("lineage")
    serial = doc.get("serial")
    records = doc.get("records")
    if lineage is not None and not isinstance(lineage, str):
        raise StateDocumentError(f"{origin}: lineage must be a string or null")
    try:
        if lineage is not None and not check_text(lineage, "lineage").strip():
            raise ValueError("lineage is empty (a state without one has lineage null)")
        serial = check_serial(serial)
    except ValueError as exc:
        raise StateDocumentError(f"{origin}: {exc}") from None
    if not isinstance(records, list):
        raise StateDocumentError(f"{origin}: records must be a list")
    parsed: dict[str, Record] = {}
    for index, item in enumerate(records):
        try:
            if not isinstance(item, dict):
                raise TypeError("not an object")
            record = Record.from_json(item)
        except KeyError as exc:
            raise StateDocumentError(f"{origin}: records[{index}]: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise StateDocumentError(f"{origin}: records[{index}]: {exc}") from None
        if record.address in parsed:
            raise StateDocumentError(f"{origin}: records[{index}]: {record.address} appears twice")
        parsed[record.address] = record
    if parsed and lineage is None:
        raise StateDocumentError(f"{origin}: a state with records must have a lineage")
    return StateSnapshot(lineage=lineage, serial=serial, records=parsed)
