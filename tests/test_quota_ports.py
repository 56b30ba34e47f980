"""Every way a run calls the API draws on the one quota port: apply, each ``run``
cycle and ``plan --refresh`` ask it for the account the cloud connected as, and
take their limiter from it, for the API they call. In-process, on fake time, with
a recording quota in front of the real local controller."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from reconciler.clock import Clock, Halt
from reconciler.operations import ApplyArgs, PlanArgs, Ports, plan, reconcile
from reconciler.operations.ports import Alone
from reconciler.quota.report import GroupReport
from reconciler.ratelimit import Limiter, Quota, RateLimiter, RateSettings
from reconciler.runloop import Cycle
from reconciler.state import open_store
from tests.fakes import FakeClock, ScriptedCloud
from tests.support import manifest
from tests.test_operations import Screen


class RecordingQuota:
    """A quota port that says which account and API each run asked for."""

    def __init__(self) -> None:
        self.accounts: list[str] = []
        self.actions: list[str] = []

    def for_account(self, account: str) -> Quota:
        self.accounts.append(account)
        return self

    def holders(self, group: str | None) -> list[GroupReport]:
        return []

    @contextlib.contextmanager
    def limiter(self, settings: RateSettings, *, clock: Clock, action: str) -> Iterator[Limiter]:
        self.actions.append(action)
        yield RateLimiter(settings, clock=clock.monotonic)


def ports_with(tmp_path: Path, quota: RecordingQuota) -> Ports:
    halt = Halt(FakeClock())
    location = str(tmp_path / "state.db")
    return Ports(
        open_store=lambda: open_store(location, halt=halt),
        cloud=ScriptedCloud(),
        halt=halt,
        quota=quota,
    )


def declared(tmp_path: Path) -> tuple[str, ...]:
    manifest(tmp_path / "manifests" / "m.yaml", ["t1", "t2"])
    return (str(tmp_path / "manifests"),)


def test_apply_draws_on_the_quota_of_the_connected_account(tmp_path: Path) -> None:
    quota = RecordingQuota()
    args = ApplyArgs(paths=declared(tmp_path), auto_approve=True)
    result = reconcile(args, ports_with(tmp_path, quota), Screen())
    assert result.ok
    assert quota.accounts == ["scripted"] and quota.actions == ["StopStreamIngest"]


def test_each_run_cycle_draws_on_the_same_quota(tmp_path: Path) -> None:
    quota = RecordingQuota()
    ports = ports_with(tmp_path, quota)
    Cycle(ApplyArgs(paths=declared(tmp_path)), ports)(ports.halt)
    manifest(tmp_path / "manifests" / "n.yaml", ["t3"])
    Cycle(ApplyArgs(paths=(str(tmp_path / "manifests"),)), ports)(ports.halt)
    assert quota.actions == ["StopStreamIngest", "StopStreamIngest"]


def test_plan_refresh_draws_on_the_quota_of_describe(tmp_path: Path) -> None:
    quota = RecordingQuota()
    result = plan(PlanArgs(paths=declared(tmp_path), refresh=True), ports_with(tmp_path, quota))
    assert all(change.live is not None for change in result.plan.changes)
    assert quota.accounts == ["scripted"] and quota.actions == ["DescribeStreamIngest"]


def test_a_plan_without_refresh_or_stops_never_asks_for_a_quota(tmp_path: Path) -> None:
    quota = RecordingQuota()
    ports = ports_with(tmp_path, quota)
    plan(PlanArgs(paths=declared(tmp_path)), ports)
    reconcile(ApplyArgs(paths=declared(tmp_path), auto_approve=True), ports, Screen())
    reconcile(ApplyArgs(paths=declared(tmp_path), auto_approve=True), ports, Screen())
    assert quota.actions == ["StopStreamIngest"]  # the second apply had nothing to do


def test_without_a_shared_quota_runs_go_alone(tmp_path: Path) -> None:
    ports = replace(ports_with(tmp_path, RecordingQuota()), quota=Alone())
    result = reconcile(ApplyArgs(paths=declared(tmp_path), auto_approve=True), ports, Screen())
    assert result.ok
