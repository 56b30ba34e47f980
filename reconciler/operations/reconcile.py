"""Reconcile: the whole of ``apply`` — and of each ``run`` cycle — in one operation.

The pipeline, in order, going only down the layers:

1. check the input (targets, and the manifests or the saved plan) and, when a
   confirmation is needed, that someone can give it — before anything is locked;
2. open the store and take its writer lock (waiting up to ``lock_timeout``, cut
   short by a halt);
3. plan against the locked state — or take the saved plan, refused if stale, and
   narrowed to ``--target``;
4. show the plan to the UI; stop here if there is nothing to do;
5. check that the state can be written (its schema is ours, writes are allowed),
   so a state that cannot record an outcome never follows a sent stop;
6. ask for confirmation unless approved in advance;
7. apply through the engine (commit before report) and return the result.

The caller maps the result to an exit code; the UI sees the plan, every outcome
and the progress as they happen.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from reconciler.domain import Action, Plan, StateSnapshot
from reconciler.engine import ApplyObserver, ApplyReport, EngineSettings, TaskApi, apply_plan
from reconciler.errors import StalePlan, StateError, UsageError
from reconciler.operations.inputs import (
    check_targets,
    desired_tasks,
    read_saved_plan,
    refuse_unmatched_targets,
)
from reconciler.operations.ports import Ports
from reconciler.planner import make_plan
from reconciler.ratelimit import LOCAL_QUOTA
from reconciler.results import ApplyResult, ApplyStatus
from reconciler.state import StateStore

log = structlog.get_logger("reconciler.operations")

CONFIRM_QUESTION = (
    "Do you want to perform these actions?\n"
    "  Reconciler will call StopStreamIngest for each task to stop.\n"
    "  Only 'yes' will be accepted to approve."
)


@dataclass(frozen=True)
class ApplyArgs:
    """What ``apply`` (and each ``run`` cycle) is asked to do."""

    paths: tuple[str, ...] = ()
    plan_file: str | None = None  # apply exactly this saved plan instead of planning
    targets: tuple[str, ...] = ()
    auto_approve: bool = False
    lock_timeout: float = 0.0
    engine: EngineSettings = field(default_factory=EngineSettings)
    operation: str = "apply"  # how the lock holder and the logs name this run


class ReconcileUI(ApplyObserver, Protocol):
    """Who sees the plan before it is applied (then every outcome and the progress)."""

    def planned(self, plan: Plan) -> None: ...


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def reconcile(args: ApplyArgs, ports: Ports, ui: ReconcileUI) -> ApplyResult:
    """Plan and apply, as the module docstring lays out; raises ``ReconcilerError``."""
    run_id = new_run_id()
    structlog.contextvars.bind_contextvars(run_id=run_id)
    confirm = args.plan_file is None and not args.auto_approve
    if confirm and not ports.prompt.interactive:
        raise UsageError(
            "no terminal to confirm the apply: pass --auto-approve, or apply a saved plan "
            "(reconciler plan --out plan.json; reconciler apply plan.json)"
        )
    with _planned(args, ports, run_id) as (store, plan):
        ui.planned(plan)
        if not plan.has_changes:
            return ApplyResult(ApplyStatus.NO_CHANGES, plan, ApplyReport.empty(), run_id)
        store.check_writable()
        if confirm and not _confirmed(ports) and not ports.halt.is_set():
            return ApplyResult(ApplyStatus.DECLINED, plan, ApplyReport.empty(), run_id)
        if ports.halt.is_set():
            nothing = ApplyReport.empty(interrupted=True, not_attempted=len(plan.changes))
            return ApplyResult(ApplyStatus.INTERRUPTED, plan, nothing, run_id)
        report = _apply(plan, store, args, ports, ui)
    status = ApplyStatus.INTERRUPTED if report.interrupted else ApplyStatus.APPLIED
    log.info(
        f"{args.operation} finished",
        **report.counts,
        not_attempted=report.not_attempted,
        interrupted=report.interrupted,
        elapsed=round(report.elapsed, 3),
        fatal=report.fatal.code if report.fatal else None,
    )
    return ApplyResult(status, plan, report, run_id)


@contextlib.contextmanager
def _planned(args: ApplyArgs, ports: Ports, run_id: str) -> Iterator[tuple[StateStore, Plan]]:
    """The locked store and the plan to apply, for the ``with`` block."""

    def locked() -> contextlib.AbstractContextManager[StateStore]:
        return ports.locked_store(args.operation, run_id, lock_timeout=args.lock_timeout)

    if args.plan_file is not None:
        targets = check_targets(args.targets)
        saved = read_saved_plan(args.plan_file, halt=ports.halt)
        with locked() as store:
            check_not_stale(saved, store.read())
            yield store, _select_targets(saved, targets)
        return
    with desired_tasks(args.paths, targets=args.targets) as desired, locked() as store:
        snapshot = store.read()
        if desired.targets is not None:
            known = {task.address for task in desired.tasks} | set(snapshot.records)
            refuse_unmatched_targets(desired.targets, known, "declared or recorded")
        yield store, make_plan(desired.tasks, snapshot, targets=desired.targets)


def _confirmed(ports: Ports) -> bool:
    answer = ports.prompt.ask(CONFIRM_QUESTION)
    return answer is not None and answer.strip() == "yes"


def _apply(
    plan: Plan, store: StateStore, args: ApplyArgs, ports: Ports, ui: ReconcileUI
) -> ApplyReport:
    has_stops = any(change.action is Action.STOP for change in plan.changes)
    link = ports.cloud.connect() if has_stops else None
    try:
        report = apply_plan(
            plan,
            store=store,
            api_factory=link.api_factory if link is not None else _no_api,
            observer=ui,
            halt=ports.halt,
            settings=args.engine,
            quota=ports.quota.for_account(link.account) if link is not None else LOCAL_QUOTA,
        )
    except StateError as exc:
        raise StateError(f"state write failed, the run stopped: {exc}") from exc
    return report


def _no_api() -> TaskApi:
    raise AssertionError("a plan without stops makes no API call")


def check_not_stale(saved: Plan, snapshot: StateSnapshot) -> None:
    """Refuse a saved plan made against another state, or before the state changed."""
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


def _select_targets(saved: Plan, wanted: frozenset[str] | None) -> Plan:
    if wanted is None:
        return saved
    changes = tuple(change for change in saved.changes if change.address in wanted)
    refuse_unmatched_targets(wanted, {c.address for c in changes}, "in the saved plan")
    return Plan(saved.lineage, saved.serial, changes, saved.unchanged)
