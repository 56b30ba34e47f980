"""Scheduled stops and the blast-radius guard in-process, on a fake clock: a real
SQLite store, a scripted cloud, the operations, the engine and the run loop.

- apply stops what is due when each call is made; a stop not yet due by the clock
  is not sent and is reported ``waiting``; a wait is never sent;
- a saved plan's waits are never stopped by it, and a stop whose manifests now
  schedule it later makes the plan stale;
- ``run`` wakes at the earliest stopAt, whatever the interval;
- ``--max-stops`` refuses before any call or forget.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.clock import Halt
from reconciler.domain import Action, Outcome
from reconciler.engine import apply_plan
from reconciler.errors import CloudSetupError, PlanFileError, StalePlan, TooManyStops
from reconciler.instant import Instant
from reconciler.operations import ApplyArgs, PlanArgs, Ports, plan, reconcile
from reconciler.operations import state as state_ops
from reconciler.operations.inputs import desired_tasks
from reconciler.planner import make_plan
from reconciler.results import ApplyStatus
from reconciler.runloop import WAKE_MARGIN, Cycle, LoopSettings, run_loop
from reconciler.state import open_store
from tests.fakes import FakeClock, ScriptedCloud
from tests.support import a, manifest, write
from tests.test_operations import Screen

EPOCH = 1_800_000_000.0  # the fake clock's wall time at its start


def at(seconds: float) -> str:
    """The RFC 3339 text of the fake wall clock ``seconds`` after its start."""
    return Instant.from_seconds(EPOCH + seconds).text()


def scheduled(tmp_path: Path, tasks: dict[str, float | None], name: str = "m.yaml") -> str:
    """A manifest of ``tasks``, each due that many seconds after the clock's start."""
    times = {task: at(due) for task, due in tasks.items() if due is not None}
    manifest(tmp_path / "manifests" / name, list(tasks), region="ap-jakarta", stop_at=times)
    return str(tmp_path / "manifests")


def ports_on_fake_time(tmp_path: Path, cloud: ScriptedCloud) -> tuple[Ports, FakeClock]:
    clock = FakeClock(epoch=EPOCH)
    halt = Halt(clock)
    location = str(tmp_path / "state.db")
    return Ports(open_store=lambda: open_store(location, halt=halt), cloud=cloud, halt=halt), clock


def test_apply_stops_what_is_due_and_leaves_the_waits(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, clock = ports_on_fake_time(tmp_path, cloud)
    paths = (scheduled(tmp_path, {"now": None, "past": -60, "final": 3600}),)
    result = reconcile(ApplyArgs(paths=paths, auto_approve=True), ports, Screen())
    assert result.status is ApplyStatus.APPLIED and result.ok
    assert sorted(cloud.calls) == [a("now"), a("past")]
    assert result.report.waiting == 1
    assert sorted(state_ops.read(ports).records) == [a("now"), a("past")]

    clock.advance(3600)  # the final's time has come
    again = reconcile(ApplyArgs(paths=paths, auto_approve=True), ports, Screen())
    assert [c.action for c in again.plan.changes] == [Action.STOP]
    assert cloud.calls[-1] == a("final") and again.report.waiting == 0


def test_a_stop_not_yet_due_by_the_clock_is_not_sent(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, clock = ports_on_fake_time(tmp_path, cloud)
    paths = (scheduled(tmp_path, {"early": 60, "now": None}),)
    with desired_tasks(paths) as found:
        # planned by a clock two minutes ahead of this one: "early" is a stop there
        ahead = make_plan(found.tasks, state_ops.read(ports), now=Instant.from_seconds(EPOCH + 120))
    assert [c.action for c in ahead.changes] == [Action.STOP, Action.STOP]
    screen = Screen()
    with ports.store() as store:
        report = apply_plan(
            ahead, store=store, api_factory=cloud.api, observer=screen, halt=ports.halt
        )
    assert cloud.calls == [a("now")]
    assert sorted((r.change.task_id, r.outcome.value) for r in screen.results) == [
        ("early", Outcome.WAITING.value),
        ("now", Outcome.STOPPED.value),
    ]
    assert report.waiting == 1 and report.failed == 0
    assert list(state_ops.read(ports).records) == [a("now")]  # a wait is not recorded
    assert clock.wall() < EPOCH + 60


def test_a_saved_plans_waits_are_never_stopped_by_it(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, clock = ports_on_fake_time(tmp_path, cloud)
    out = str(tmp_path / "plan.json")
    paths = (scheduled(tmp_path, {"final": 30}),)
    plan(PlanArgs(paths=paths, out=out), ports)
    doc = json.loads(Path(out).read_text())
    assert [c["action"] for c in doc["changes"]] == ["wait"]
    clock.advance(60)  # due now, but the reviewed plan said: wait
    result = reconcile(ApplyArgs(plan_file=out), ports, Screen())
    assert result.status is ApplyStatus.NO_CHANGES
    assert cloud.calls == [] and result.report.waiting == 1


def test_a_saved_stop_whose_manifest_gained_a_later_stop_at_is_stale(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, _ = ports_on_fake_time(tmp_path, cloud)
    out = str(tmp_path / "plan.json")
    plan(PlanArgs(paths=(scheduled(tmp_path, {"show": None, "other": None}),), out=out), ports)
    scheduled(tmp_path, {"show": 3600, "other": None})  # merged since: stop it later
    with pytest.raises(StalePlan, match=rf"{a('show')} for {at(3600)} \(.*m.yaml:9\)"):
        reconcile(ApplyArgs(plan_file=out), ports, Screen())
    assert cloud.calls == []
    scheduled(tmp_path, {"show": -5, "other": None})  # an earlier, past stopAt: still due
    assert reconcile(ApplyArgs(plan_file=out), ports, Screen()).ok
    assert sorted(cloud.calls) == [a("other"), a("show")]


def test_a_saved_plan_whose_manifests_no_longer_load_is_refused(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, _ = ports_on_fake_time(tmp_path, cloud)
    out = str(tmp_path / "plan.json")
    plan(PlanArgs(paths=(scheduled(tmp_path, {"show": None}),), out=out), ports)
    write(tmp_path / "manifests" / "m.yaml", "spec: [\n")
    with pytest.raises(PlanFileError, match=r"its manifests .* do not load now") as caught:
        reconcile(ApplyArgs(plan_file=out), ports, Screen())
    assert caught.value.problems and cloud.calls == []


def test_the_run_loop_wakes_at_the_next_stop_at_whatever_the_interval(tmp_path: Path) -> None:
    due: list[float] = []
    cloud = ScriptedCloud()
    ports, clock = ports_on_fake_time(tmp_path, cloud)
    cloud.on_call = lambda count: due.append(clock.wall() - EPOCH)
    paths = (scheduled(tmp_path, {"now": None, "soon": 30, "later": 90}),)
    metrics = tmp_path / "reconciler.prom"
    cycle = Cycle(ApplyArgs(paths=paths), ports)
    ran = run_loop(
        cycle,
        settings=LoopSettings(interval=3600, max_cycles=3),
        halt=ports.halt,
        metrics_file=str(metrics),
    )
    assert ran == 3
    assert cloud.calls == [a("now"), a("soon"), a("later")]
    assert 30 <= due[1] < 30 + 1 and 90 <= due[2] < 90 + 1  # on time, never early
    long_waits = [w for w in clock.waits if w > 1]
    assert long_waits[0] == pytest.approx(30 + WAKE_MARGIN, abs=0.5)
    assert long_waits[1] == pytest.approx(60 + WAKE_MARGIN, abs=0.5)
    assert "reconciler_next_stop_timestamp_seconds" not in metrics.read_text()  # none left


def test_the_next_stop_is_in_the_metrics_while_a_task_waits(tmp_path: Path) -> None:
    ports, _ = ports_on_fake_time(tmp_path, ScriptedCloud())
    metrics = tmp_path / "reconciler.prom"
    paths = (scheduled(tmp_path, {"final": 7200}),)
    run_loop(
        Cycle(ApplyArgs(paths=paths), ports),
        settings=LoopSettings(interval=3600, max_cycles=1),
        halt=ports.halt,
        metrics_file=str(metrics),
    )
    text = metrics.read_text()
    assert f"reconciler_next_stop_timestamp_seconds {EPOCH + 7200!r}" in text
    assert 'reconciler_last_run_tasks{outcome="waiting"} 1' in text


def test_max_stops_refuses_before_any_call_or_forget(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, _ = ports_on_fake_time(tmp_path, cloud)
    paths = (scheduled(tmp_path, {"old": None}),)
    assert reconcile(ApplyArgs(paths=paths, auto_approve=True), ports, Screen()).ok
    scheduled(tmp_path, {"a": None, "b": None, "c": None, "later": 60})  # "old" to forget
    args = ApplyArgs(paths=paths, auto_approve=True, max_stops=2)
    with pytest.raises(TooManyStops, match=r"3 tasks to stop, more than --max-stops 2; most from"):
        reconcile(args, ports, Screen())
    assert cloud.calls == [a("old")]
    assert list(state_ops.read(ports).records) == [a("old")]  # not even forgotten
    # the waiting one does not count; at the limit, the apply goes ahead
    assert reconcile(dataclasses.replace(args, max_stops=3), ports, Screen()).ok
    assert sorted(state_ops.read(ports).records) == [a("a"), a("b"), a("c")]


def test_plan_counts_its_stops_against_max_stops(tmp_path: Path) -> None:
    ports, _ = ports_on_fake_time(tmp_path, ScriptedCloud())
    paths = (scheduled(tmp_path, {"a": None, "b": None, "w": 60}),)
    result = plan(PlanArgs(paths=paths, max_stops=1), ports)
    assert result.budget is not None and result.budget.exceeded and result.budget.stops == 2
    assert plan(PlanArgs(paths=paths), ports).budget is None


class NoCredentials(ScriptedCloud):
    """A cloud whose credentials cannot be found."""

    def connect(self) -> Callable[[], ScriptedCloud]:
        raise CloudSetupError("no credentials found")


def test_a_cycle_with_waits_checks_the_credentials_before_the_stop_at(tmp_path: Path) -> None:
    ports, _ = ports_on_fake_time(tmp_path, NoCredentials())
    paths = (scheduled(tmp_path, {"final": 7200}),)
    result = Cycle(ApplyArgs(paths=paths), ports)(ports.halt)
    assert not result.ok and result.error == "no credentials found"  # hours ahead
    scheduled(tmp_path, {})
    assert Cycle(ApplyArgs(paths=paths), ports)(ports.halt).ok  # nothing waits: no need yet


def test_refresh_asks_about_waiting_tasks_too(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports, _ = ports_on_fake_time(tmp_path, cloud)
    paths = (scheduled(tmp_path, {"final": 3600}),)
    planned = plan(PlanArgs(paths=paths, refresh=True), ports).plan
    assert cloud.calls == [a("final")]  # DescribeStreamIngest, not a stop
    (change,) = planned.changes
    assert change.action is Action.WAIT and change.live is not None and change.stop_at
