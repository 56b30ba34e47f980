"""Operations: each CLI command's one unit of work, free of argument parsing and
rendering.

An operation takes plain values (paths, a store, settings), composes the lower
layers — manifest loading, the pure planner, the state store, the engine, the TRTC
adapter — and returns a value for a view to render. User-facing failures are
raised as ``OperationError`` (one line; the CLI turns it into exit code 1).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import engine
from reconciler.domain import (
    FORMAT_VERSION,
    REGIONS,
    Action,
    DesiredTask,
    Plan,
    Record,
    StateSnapshot,
    parse_address,
)
from reconciler.manifest import LoadResult, Problem, load_manifests
from reconciler.planner import PlanDocumentError, make_plan, plan_from_json, with_live_status
from reconciler.state import LockHolder, StateError, StateStore
from reconciler.trtc import (
    AdapterConfigError,
    ClientSettings,
    CredentialSource,
    Endpoint,
    TrtcApi,
    describe_fatal,
    parse_endpoint,
    resolve_credentials,
)

DEFAULT_PATHS = ("manifests",)


class OperationError(Exception):
    """A failure with a one-line, user-facing message (exit code 1)."""


class ManifestsInvalid(OperationError):
    """Manifests with problems: nothing is planned, nothing applied."""

    def __init__(self, result: LoadResult) -> None:
        count = len(result.problems)
        more = " (and more; only the first ones are shown)" if result.truncated else ""
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the manifests{more}; "
            "nothing was planned or changed"
        )
        self.problems: tuple[Problem, ...] = result.problems


class StalePlan(OperationError):
    pass


@dataclass(frozen=True)
class CloudSettings:
    """Where and how to reach TRTC."""

    endpoint: Endpoint = field(default_factory=Endpoint)
    request_timeout: float = 10.0
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def cloud_settings(
    endpoint_url: str | None, *, request_timeout: float, environ: Mapping[str, str]
) -> CloudSettings:
    try:
        endpoint = parse_endpoint(endpoint_url)
    except AdapterConfigError as exc:
        raise OperationError(str(exc)) from None
    return CloudSettings(endpoint=endpoint, request_timeout=request_timeout, environ=environ)


def connect(cloud: CloudSettings) -> tuple[Callable[[], engine.TaskApi], CredentialSource]:
    """Resolve credentials once; return a factory of per-worker API clients."""
    try:
        credentials = resolve_credentials(cloud.environ)
    except AdapterConfigError as exc:
        raise OperationError(str(exc)) from None
    settings = ClientSettings(
        credentials=credentials, endpoint=cloud.endpoint, request_timeout=cloud.request_timeout
    )
    return (lambda: TrtcApi(settings)), credentials


# --- manifests and plans -----------------------------------------------------


def validate(paths: Sequence[str]) -> LoadResult:
    return load_manifests(list(paths or DEFAULT_PATHS))


def load_desired(paths: Sequence[str]) -> tuple[DesiredTask, ...]:
    result = validate(paths)
    if result.problems:
        raise ManifestsInvalid(result)
    # The desired tasks live as long as the command: move them out of the garbage
    # collector's sight, or every later collection re-walks them (on 100,000 tasks
    # that costs more than planning itself).
    gc.freeze()
    return result.tasks


def check_targets(targets: Sequence[str]) -> frozenset[str] | None:
    if not targets:
        return None
    for target in targets:
        try:
            parse_address(target)
        except ValueError as exc:
            raise OperationError(f"--target: {exc}") from None
    return frozenset(targets)


@dataclass(frozen=True)
class Desired:
    """What the manifests declare, and the ``--target`` addresses a plan is limited to."""

    tasks: tuple[DesiredTask, ...]
    targets: frozenset[str] | None = None


def read_desired(paths: Sequence[str], *, targets: Sequence[str] = ()) -> Desired:
    """Check the flags, then load the manifests — before any lock is taken, so bad
    input is refused without touching the state."""
    wanted = check_targets(targets)
    return Desired(load_desired(paths), wanted)


def plan(desired: Desired, store: StateStore) -> Plan:
    snapshot = read_state(store)
    result = make_plan(desired.tasks, snapshot, targets=desired.targets)
    if desired.targets is not None:
        _refuse_unmatched_targets(desired.targets, desired.tasks, snapshot)
    return result


def _refuse_unmatched_targets(
    wanted: frozenset[str], desired: Sequence[DesiredTask], snapshot: StateSnapshot
) -> None:
    known = {task.address for task in desired} | set(snapshot.records)
    missing = sorted(wanted - known)
    if missing:
        raise OperationError("--target matches nothing declared or recorded: " + ", ".join(missing))


def refresh_plan(
    the_plan: Plan, cloud: CloudSettings, *, halt: engine.Halt, settings: engine.EngineSettings
) -> tuple[Plan, engine.RefreshReport]:
    if not any(change.action is Action.STOP for change in the_plan.changes):
        return the_plan, engine.RefreshReport({}, {}, None, False)
    factory, _ = connect(cloud)
    report = engine.refresh(the_plan.changes, api_factory=factory, settings=settings, halt=halt)
    if report.fatal is not None:
        raise OperationError(describe_fatal(report.fatal))
    return with_live_status(the_plan, report.live), report


def _read_json(path: str, what: str) -> object:
    """Read one JSON document (``-`` is stdin); every failure is one clear message."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise OperationError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OperationError(f"{path}: cannot read the {what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise OperationError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None


def read_saved_plan(path: str) -> Plan:
    doc = _read_json(path, "plan file")
    try:
        saved = plan_from_json(doc)
    except PlanDocumentError as exc:
        raise OperationError(f"{path}: {exc}") from None
    for change in saved.changes:
        if change.region not in REGIONS:
            raise OperationError(f"{path}: {change.address}: unknown region {change.region!r}")
    return saved


def check_not_stale(saved: Plan, snapshot: StateSnapshot) -> None:
    if saved.lineage is not None and snapshot.lineage != saved.lineage:
        raise StalePlan(
            "saved plan is stale: it was made against another state "
            f"(lineage {saved.lineage}, the state's is {snapshot.lineage}); plan again"
        )
    if snapshot.serial != saved.serial or (saved.lineage is None and snapshot.lineage is not None):
        raise StalePlan(
            f"saved plan is stale: the state changed since the plan (serial {saved.serial} "
            f"then, {snapshot.serial} now); plan again"
        )


def select_targets(the_plan: Plan, targets: Sequence[str]) -> Plan:
    wanted = check_targets(targets)
    if wanted is None:
        return the_plan
    changes = tuple(change for change in the_plan.changes if change.address in wanted)
    missing = sorted(wanted - {change.address for change in changes})
    if missing:
        raise OperationError("--target matches nothing in the saved plan: " + ", ".join(missing))
    return Plan(the_plan.lineage, the_plan.serial, changes, the_plan.unchanged)


def write_plan_file(path: str, document: Mapping[str, object]) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, separators=(",", ":")) + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OperationError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None


# --- state ---------------------------------------------------------------------


def read_state(store: StateStore) -> StateSnapshot:
    try:
        return store.read()
    except StateError as exc:
        raise OperationError(str(exc)) from None


def lock_holder(operation: str, run_id: str) -> LockHolder:
    return LockHolder.current(operation, run_id)


def state_show(store: StateStore, address: str) -> Record:
    snapshot = read_state(store)
    record = snapshot.records.get(address)
    if record is None:
        raise OperationError(f"{address}: not in the state")
    return record


def state_rm(store: StateStore, addresses: Sequence[str]) -> int:
    snapshot = read_state(store)
    missing = [a for a in addresses if a not in snapshot.records]
    if missing:
        raise OperationError("not in the state: " + ", ".join(missing) + "; nothing was removed")
    return store.remove(list(addresses))


def read_state_document(path: str) -> StateSnapshot:
    doc = _read_json(path, "state document")
    return snapshot_from_json(doc, path)


def snapshot_from_json(doc: object, origin: str) -> StateSnapshot:
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise OperationError(
            f"{origin}: not a state document (expected format_version {FORMAT_VERSION}, "
            "as `reconciler state pull` writes)"
        )
    lineage = doc.get("lineage")
    serial = doc.get("serial")
    records = doc.get("records")
    if lineage is not None and not isinstance(lineage, str):
        raise OperationError(f"{origin}: lineage must be a string or null")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise OperationError(f"{origin}: serial must be a whole number")
    if not isinstance(records, list):
        raise OperationError(f"{origin}: records must be a list")
    parsed: dict[str, Record] = {}
    for index, item in enumerate(records):
        try:
            if not isinstance(item, dict):
                raise TypeError("not an object")
            record = Record.from_json(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise OperationError(f"{origin}: records[{index}]: {exc}") from None
        if record.address in parsed:
            raise OperationError(f"{origin}: records[{index}]: {record.address} appears twice")
        parsed[record.address] = record
    if parsed and lineage is None:
        raise OperationError(f"{origin}: a state with records must have a lineage")
    return StateSnapshot(lineage=lineage, serial=serial, records=parsed)


def apply(
    the_plan: Plan,
    store: StateStore,
    cloud: CloudSettings,
    *,
    observer: engine.ApplyObserver,
    settings: engine.EngineSettings,
    halt: engine.Halt,
    on_credentials: Callable[[CredentialSource], None] | None = None,
) -> engine.ApplyReport:
    """Apply a plan (the caller holds the lock and has checked staleness)."""
    factory: Callable[[], engine.TaskApi]
    if any(change.action is Action.STOP for change in the_plan.changes):
        factory, credentials = connect(cloud)
        if on_credentials is not None:
            on_credentials(credentials)
    else:
        factory = _no_api
    try:
        return engine.apply_plan(
            the_plan,
            store=store,
            api_factory=factory,
            observer=observer,
            settings=settings,
            halt=halt,
        )
    except StateError as exc:
        raise OperationError(f"state write failed, the run stopped: {exc}") from None


def _no_api() -> engine.TaskApi:
    raise AssertionError("a plan without stops makes no API call")
