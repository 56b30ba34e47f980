"""``plan``: what apply would do, optionally checked against the live API and saved.

A plain plan reads the state without locking it: a pull-request check never waits
for a running apply, and a saved plan's serial catches any race at apply time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from reconciler.domain import Action, Plan
from reconciler.engine import EngineSettings, ProgressObserver, refresh
from reconciler.errors import CloudFatalError, Interrupted
from reconciler.operations.inputs import (
    desired_tasks,
    refuse_unmatched_targets,
    time_now,
    write_plan_file,
)
from reconciler.operations.ports import Ports
from reconciler.planner import make_plan, plan_to_json, stop_budget, with_live_status
from reconciler.results import PlanResult
from reconciler.trtc import describe_fatal


@dataclass(frozen=True)
class PlanArgs:
    paths: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    out: str | None = None  # save the plan document here
    refresh: bool = False  # ask DescribeStreamIngest about each task to stop (or wait for)
    engine: EngineSettings = field(default_factory=EngineSettings)
    max_stops: int | None = None  # warn when the plan stops more tasks than this


def plan(args: PlanArgs, ports: Ports, ui: ProgressObserver | None = None) -> PlanResult:
    """Load, read the state, plan at the wall clock's time; refresh, count against
    ``--max-stops`` and save as asked. Raises ``ReconcilerError``."""
    with desired_tasks(args.paths, targets=args.targets) as desired:
        with ports.store() as store:
            snapshot = store.read()
        if desired.targets is not None:
            known = {task.address for task in desired.tasks} | set(snapshot.records)
            refuse_unmatched_targets(desired.targets, known, "declared or recorded")
        the_plan = make_plan(
            desired.tasks, snapshot, now=time_now(ports.halt), targets=desired.targets
        )
        the_plan = dataclasses.replace(the_plan, manifests=desired.paths)
    if args.refresh:
        the_plan = _refreshed(the_plan, args, ports, ui)
    budget = None if args.max_stops is None else stop_budget(the_plan, args.max_stops)
    if args.out is not None:
        write_plan_file(args.out, plan_to_json(the_plan, budget=budget))
    return PlanResult(the_plan, args.out, budget)


def _refreshed(the_plan: Plan, args: PlanArgs, ports: Ports, ui: ProgressObserver | None) -> Plan:
    if not any(change.action in (Action.STOP, Action.WAIT) for change in the_plan.changes):
        return the_plan
    link = ports.cloud.connect()
    report = refresh(
        the_plan.changes,
        api_factory=link.api_factory,
        halt=ports.halt,
        settings=args.engine,
        observer=ui,
        quota=ports.quota.for_account(link.account),
    )
    if report.fatal is not None:
        raise CloudFatalError(describe_fatal(report.fatal))
    if report.interrupted:  # a half-refreshed plan is no plan to save or act on
        raise Interrupted("plan --refresh was interrupted; no plan was shown or saved")
    return with_live_status(the_plan, report.live)
