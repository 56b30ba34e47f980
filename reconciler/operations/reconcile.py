"""Reconcile: the whole of ``apply`` — and of each ``run`` cycle — in one operation.

The pipeline, in order, going only down the layers:

1. check the input (targets, and the manifests or the saved plan) and, when a
   confirmation is needed, that someone can give it — before anything is locked;
2. open the store and take its writer lock (waiting up to ``lock_timeout``, cut
   short by a halt);
3. plan against the locked state at the wall clock's time — or take the saved
   plan, refused if stale (the state moved, or its manifests now schedule one of
   its stops later), and narrowed to ``--target``;
4. show the plan to the UI; refuse it if it stops more than ``--max-stops`` tasks;
   stop here if there is nothing to do (now: waits are not sent);
5. check that the state can be written (its schema is ours, writes are allowed),
   so a state that cannot record an outcome never follows a sent stop;
6. ask for confirmation unless approved in advance;
7. apply through the engine (commit before report) and return the result.

The caller maps the result to an exit code; the UI sees the plan, every outcome
and the progress as they happen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from reconciler.domain import Action, DesiredTask, Plan, StateSnapshot
from reconciler.engine import ApplyObserver, ApplyReport, EngineSettings, TaskApi, apply_plan
from reconciler.errors import PlanFileError, StalePlan, StateError, TooManyStops, UsageError
from reconciler.instant import Instant, due
from reconciler.operations.inputs import (
    check_targets,
    desired_tasks,
    read_saved_plan,
    refuse_unmatched_targets,
    time_now,
    validate,
)
from reconciler.operations.ports import Ports
from reconciler.planner import make_plan, stop_budget
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
    max_stops: int | None = None  # refuse a plan that stops more tasks than this


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
        refuse_over_budget(plan, args.max_stops)
        if not plan.has_changes:
            return ApplyResult(ApplyStatus.NO_CHANGES, plan, ApplyReport.empty(plan), run_id)
        store.check_writable()
        if confirm and not _confirmed(ports) and not ports.halt.is_set():
            return ApplyResult(ApplyStatus.DECLINED, plan, ApplyReport.empty(plan), run_id)
        if ports.halt.is_set():
            left = len(plan.changes) - plan.count(Action.WAIT)
            nothing = ApplyReport.empty(plan, interrupted=True, not_attempted=left)
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
        declared = _declared_again(saved)
        with locked() as store:
            check_not_stale(saved, store.read())
            check_schedule(saved, declared, now=time_now(ports.halt))
            yield store, _select_targets(saved, targets)
        return
    with desired_tasks(args.paths, targets=args.targets) as desired, locked() as store:
        snapshot = store.read()
        if desired.targets is not None:
            known = {task.address for task in desired.tasks} | set(snapshot.records)
            refuse_unmatched_targets(desired.targets, known, "declared or recorded")
        plan = make_plan(desired.tasks, snapshot, now=time_now(ports.halt), targets=desired.targets)
        yield store, dataclasses.replace(plan, manifests=desired.paths)


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


def refuse_over_budget(plan: Plan, max_stops: int | None) -> None:
    """The blast-radius guard: ``TooManyStops`` if ``plan`` stops more than ``max_stops``."""
    if max_stops is None:
        return
    budget = stop_budget(plan, max_stops)
    if budget.exceeded:
        raise TooManyStops(
            f"refusing to apply: {budget.describe()}; nothing was stopped or forgotten "
            "(check the manifests, or raise --max-stops if this is meant)"
        )


def _declared_again(saved: Plan) -> tuple[DesiredTask, ...]:
    """What the manifests a saved plan was made from declare now, to check its stops
    against (nothing to read when it stops nothing, or names no manifests)."""
    if not saved.manifests or not saved.count(Action.STOP):
        return ()
    result = validate(saved.manifests)
    if result.problems:
        raise PlanFileError(
            f"saved plan cannot be checked: its manifests ({', '.join(saved.manifests)}) do "
            "not load now, so its stops cannot be held to their stopAt; plan again",
            problems=result.problems,
        )
    return result.tasks


def check_schedule(saved: Plan, declared: tuple[DesiredTask, ...], *, now: Instant) -> None:
    """Refuse a saved plan one of whose stops its manifests now schedule for later.

    A saved plan stops what its review showed, and the state's serial says whether
    anything was recorded since; but adding a stopAt records nothing. So the plan
    names the manifests it was made from, and apply reads them again (relative to
    the working directory, as the plan did): every stop of the plan must still be
    due by them, or the plan is stale.
    """
    stops = {change.address for change in saved.changes if change.action is Action.STOP}
    later = [task for task in declared if task.address in stops and not due(task.stop_at, now)]
    if not later:
        return
    first = later[0]
    assert first.stop_at is not None  # not due: it has one
    more = f" and {len(later) - 1} more" if len(later) > 1 else ""
    raise StalePlan(
        f"saved plan is stale: its manifests now schedule {first.address} for "
        f"{first.stop_at.text()} ({first.source}){more}, later than the plan's stop; plan again"
    )


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
    return dataclasses.replace(saved, changes=changes)
