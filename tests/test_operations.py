"""The operations in-process, against injected ports: a real SQLite store, a scripted
cloud, a scripted prompt and a fake clock. The whole apply pipeline (reconcile), plan
with refresh and saved plans, the state commands, and a run cycle — each outcome
checked at the seam the CLI uses, with no subprocess and no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from reconciler.clock import Halt
from reconciler.domain import Plan, TaskResult
from reconciler.engine import Progress
from reconciler.errors import InputError, LockBusy, ManifestsInvalid, StalePlan, UsageError
from reconciler.operations import ApplyArgs, PlanArgs, Ports, plan, reconcile
from reconciler.operations import state as state_ops
from reconciler.results import ApplyStatus
from reconciler.runloop import Cycle
from reconciler.state import current_holder, open_store
from tests.fakes import FakeClock, ScriptedCloud, ScriptedPrompt
from tests.support import a, manifest


class Screen:
    """A UI that remembers what it was shown."""

    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self.results: list[TaskResult] = []

    def planned(self, plan: Plan) -> None:
        self.plans.append(plan)

    def on_result(self, result: TaskResult) -> None:
        self.results.append(result)

    def on_progress(self, progress: Progress) -> None:
        pass


def make_ports(
    tmp_path: Path, cloud: ScriptedCloud, *answers: str | None, interactive: bool = True
) -> Ports:
    halt = Halt(FakeClock())
    location = str(tmp_path / "state.db")
    return Ports(
        open_store=lambda: open_store(location, halt=halt),
        cloud=cloud,
        halt=halt,
        prompt=ScriptedPrompt(*answers, interactive=interactive),
    )


def declare(tmp_path: Path, tasks: Sequence[str]) -> tuple[str, ...]:
    manifest(tmp_path / "manifests" / "m.yaml", tasks)
    return (str(tmp_path / "manifests"),)


def test_apply_asks_and_yes_applies_every_stop(tmp_path: Path) -> None:
    cloud = ScriptedCloud({a("t2"): ["FailedOperation.TaskFinished"]})
    ports = make_ports(tmp_path, cloud, "yes")
    screen = Screen()
    result = reconcile(ApplyArgs(paths=declare(tmp_path, ["t1", "t2"])), ports, screen)
    assert result.status is ApplyStatus.APPLIED and result.ok
    assert screen.plans and len(screen.plans[0].changes) == 2
    assert sorted(cloud.calls) == [a("t1"), a("t2")]
    outcomes = {r.change.address: r.outcome.value for r in screen.results}
    assert outcomes == {a("t1"): "stopped", a("t2"): "already_stopped"}  # in arrival order
    assert sorted(state_ops.read(ports).records) == [a("t1"), a("t2")]


@pytest.mark.parametrize("answer", ["no", "", None, "YES please"])
def test_anything_but_yes_declines_with_no_call(tmp_path: Path, answer: str | None) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud, answer)
    result = reconcile(ApplyArgs(paths=declare(tmp_path, ["t1"])), ports, Screen())
    assert result.status is ApplyStatus.DECLINED
    assert cloud.calls == [] and cloud.connected == 0
    assert state_ops.read(ports).records == {}


def test_no_terminal_is_refused_before_anything_is_read_or_locked(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud, interactive=False)
    with pytest.raises(UsageError, match="--auto-approve"):
        reconcile(ApplyArgs(paths=("no-such-dir",)), ports, Screen())
    assert list(tmp_path.iterdir()) == []  # not even a lock file


def test_a_halt_at_the_prompt_is_an_interrupted_apply(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud)  # the prompt gets no answer
    ports.halt.set()
    result = reconcile(ApplyArgs(paths=declare(tmp_path, ["t1"])), ports, Screen())
    assert result.status is ApplyStatus.INTERRUPTED
    assert cloud.calls == []


def test_invalid_manifests_plan_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "manifests" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec:\n  tasks: [12345]\n")
    ports = make_ports(tmp_path, ScriptedCloud())
    with pytest.raises(ManifestsInvalid) as caught:
        reconcile(ApplyArgs(paths=(str(bad),), auto_approve=True), ports, Screen())
    assert caught.value.problems and "quote it" in str(caught.value.problems[0])
    assert not (tmp_path / "state.db").exists()


def test_saved_plan_applies_exactly_and_refuses_when_stale(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud)
    paths = declare(tmp_path, ["t1", "t2"])
    saved = tmp_path / "plan.json"
    plan(PlanArgs(paths=paths, out=str(saved)), ports)
    declare(tmp_path, ["t1", "t2", "t3"])  # added after the plan: not in it
    result = reconcile(ApplyArgs(plan_file=str(saved)), ports, Screen())
    assert result.status is ApplyStatus.APPLIED
    assert sorted(cloud.calls) == [a("t1"), a("t2")]
    with pytest.raises(StalePlan, match="saved plan is stale"):
        reconcile(ApplyArgs(plan_file=str(saved)), ports, Screen())
    assert len(cloud.calls) == 2


def test_nothing_to_do_is_no_changes_and_no_connection(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud)
    paths = declare(tmp_path, ["t1"])
    reconcile(ApplyArgs(paths=paths, auto_approve=True), ports, Screen())
    result = reconcile(ApplyArgs(paths=paths, auto_approve=True), ports, Screen())
    assert result.status is ApplyStatus.NO_CHANGES and result.ok
    assert cloud.connected == 1


def test_unmatched_target_is_a_usage_error(tmp_path: Path) -> None:
    ports = make_ports(tmp_path, ScriptedCloud())
    args = ApplyArgs(paths=declare(tmp_path, ["t1"]), targets=(a("nope"),), auto_approve=True)
    with pytest.raises(UsageError, match="--target matches nothing"):
        reconcile(args, ports, Screen())


def test_a_held_lock_is_named_and_nothing_is_called(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud)
    holder = current_holder("apply", "other-run", clock=ports.halt.clock)
    with ports.open_store() as other, other.lock(holder):
        args = ApplyArgs(paths=declare(tmp_path, ["t1"]), auto_approve=True, lock_timeout=2.0)
        with pytest.raises(LockBusy, match="other-run") as caught:
            reconcile(args, ports, Screen())
    assert caught.value.waited >= 2.0  # waited on the fake clock, in no real time
    assert cloud.calls == []


def test_fatal_credentials_stop_the_run_with_a_named_problem(tmp_path: Path) -> None:
    tasks = [f"t{i}" for i in range(20)]
    cloud = ScriptedCloud({a(t): ["AuthFailure.SignatureFailure"] for t in tasks})
    ports = make_ports(tmp_path, cloud)
    args = ApplyArgs(paths=declare(tmp_path, tasks), auto_approve=True)
    result = reconcile(args, ports, Screen())
    assert not result.ok
    assert result.fatal_message is not None and "SecretKey" in result.fatal_message
    assert len(cloud.calls) <= args.engine.parallelism


def test_apply_logs_one_line_per_outcome_and_one_summary(tmp_path: Path) -> None:
    ports = make_ports(tmp_path, ScriptedCloud({a("t2"): ["InvalidParameter.TaskId"]}))
    args = ApplyArgs(paths=declare(tmp_path, ["t1", "t2"]), auto_approve=True)
    structlog.contextvars.clear_contextvars()
    with capture_logs() as logs:
        result = reconcile(args, ports, Screen())
    outcomes = [entry for entry in logs if "outcome" in entry]
    assert sorted((e["address"], e["outcome"]) for e in outcomes) == [
        (a("t1"), "stopped"),
        (a("t2"), "failed"),
    ]
    summaries = [entry for entry in logs if entry["event"] == "apply finished"]
    assert len(summaries) == 1 and summaries[0]["failed"] == 1
    assert not result.ok


def test_plan_refresh_annotates_without_changing_actions(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud)
    result = plan(PlanArgs(paths=declare(tmp_path, ["t1", "gone"]), refresh=True), ports)
    live = {change.address: change.live for change in result.plan.changes}
    assert {k: v.value if v else None for k, v in live.items()} == {
        a("gone"): "NotExist",
        a("t1"): "InProgress",
    }
    assert state_ops.read(ports).records == {}


def test_a_run_cycle_is_the_same_reconcile(tmp_path: Path) -> None:
    cloud = ScriptedCloud()
    ports = make_ports(tmp_path, cloud, interactive=False)
    cycle = Cycle(ApplyArgs(paths=declare(tmp_path, ["t1", "t2"])), ports)
    first = cycle(ports.halt)
    assert first.ok and first.counts["stopped"] == 2 and first.planned == 2
    second = cycle(ports.halt)
    assert second.ok and second.planned == 0
    assert len(cloud.calls) == 2


def test_a_failed_cycle_is_a_result_not_an_exception(tmp_path: Path) -> None:
    ports = make_ports(tmp_path, ScriptedCloud(), interactive=False)
    with capture_logs() as logs:
        result = Cycle(ApplyArgs(paths=(str(tmp_path / "missing"),)), ports)(ports.halt)
    assert not result.ok and result.error is not None and "problem" in result.error
    assert any(entry["event"] == "manifest problem" for entry in logs)


def test_state_rm_removes_only_when_every_address_is_recorded(tmp_path: Path) -> None:
    ports = make_ports(tmp_path, ScriptedCloud())
    reconcile(ApplyArgs(paths=declare(tmp_path, ["t1", "t2"]), auto_approve=True), ports, Screen())
    with pytest.raises(InputError, match="nothing was removed"):
        state_ops.remove(ports, [a("t1"), a("zz")], lock_timeout=0)
    change = state_ops.remove(ports, [a("t1")], lock_timeout=0)
    assert change.addresses == (a("t1"),)
    assert list(state_ops.read(ports).records) == [a("t2")]
