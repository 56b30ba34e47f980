"""One function per command: call its one operation, hand the result to its view,
return the exit code. No business logic lives here.

Exit codes (``reconciler --help`` lists them too): 0 success (and, under ``plan
--detailed-exitcode``, no changes); 1 an error; 2 ``plan --detailed-exitcode``
with changes; 3 apply declined at the prompt; 130 / 143 interrupted by SIGINT /
SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from reconciler import operations, runloop, service
from reconciler.cli.args import (
    CompletionArgs,
    EmulatorArgs,
    Invocation,
    QuotaArgs,
    RunArgs,
    ShowArgs,
    StatePushArgs,
    StateReadArgs,
    StateRmArgs,
    StateShowArgs,
    ValidateArgs,
)
from reconciler.errors import ManifestsInvalid
from reconciler.operations import ApplyArgs, PlanArgs, Ports
from reconciler.operations import quota as quota_ops
from reconciler.operations import state as state_ops
from reconciler.results import ApplyStatus, CycleResult
from reconciler.views import (
    ApplyHuman,
    ApplyJson,
    ApplyView,
    CompletionView,
    PlanHuman,
    PlanJson,
    PlanMarkdown,
    PlanView,
    QuotaHuman,
    QuotaJson,
    QuotaView,
    RunHuman,
    RunQuiet,
    RunView,
    StateHuman,
    StateJson,
    Streams,
    ValidateHuman,
    ValidateJson,
    ValidateView,
    VersionHuman,
    VersionJson,
    VersionView,
    View,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_DECLINED = 3


@dataclass(frozen=True)
class Context:
    """What every command gets besides its arguments."""

    ports: Ports
    signal_exit_code: Callable[[], int]  # 130 / 143, for an interrupted run


class Command(Protocol):
    """One parsed command, with the view it renders to."""

    @property
    def view(self) -> View: ...

    def run(self, context: Context) -> int:
        """Run the command's operation, render its result; the exit code."""
        ...


@dataclass(frozen=True)
class Validate:
    args: ValidateArgs
    view: ValidateView

    def run(self, context: Context) -> int:
        result = operations.validate(self.args.paths)
        if result.problems:
            raise ManifestsInvalid(result.problems, truncated=result.truncated)
        self.view.validated(result)
        return EXIT_OK


@dataclass(frozen=True)
class Plan:
    args: PlanArgs
    view: PlanView
    detailed_exitcode: bool

    def run(self, context: Context) -> int:
        result = operations.plan(self.args, context.ports, self.view)
        self.view.planned(result.plan, saved_to=result.saved_to, budget=result.budget)
        changes = self.detailed_exitcode and result.plan.has_changes
        return EXIT_CHANGES if changes else EXIT_OK


@dataclass(frozen=True)
class Apply:
    args: ApplyArgs
    view: ApplyView

    def run(self, context: Context) -> int:
        result = operations.reconcile(self.args, context.ports, self.view)
        self.view.applied(result)
        if result.status is ApplyStatus.DECLINED:
            return EXIT_DECLINED
        if result.status is ApplyStatus.INTERRUPTED:
            return context.signal_exit_code()
        return EXIT_OK if result.ok else EXIT_ERROR


@dataclass(frozen=True)
class Show:
    args: ShowArgs
    view: PlanView

    def run(self, context: Context) -> int:
        self.view.shown(operations.show(self.args.plan_file), path=self.args.plan_file)
        return EXIT_OK


@dataclass(frozen=True)
class Run:
    args: RunArgs
    view: RunView

    def run(self, context: Context) -> int:
        ports, args = context.ports, self.args
        # The cycles' limiters, made and read by the gauge, feed /metrics; the board
        # holds what /metrics and /healthz serve.
        gauge = service.LimiterGauge(args.apply.engine.rate.rate)
        engine = replace(args.apply.engine, watch_limiter=gauge)
        board = service.Board(
            clock=ports.halt.clock, stale_after=3 * args.loop.interval, rates=gauge
        )
        cycle = runloop.Cycle(
            replace(args.apply, engine=engine), ports, service.Heartbeat(self.view, board)
        )

        def finished(result: CycleResult, metrics: str) -> None:
            board.cycle_finished(metrics)
            self.view.cycle_finished(result)

        with contextlib.ExitStack() as stack:
            if args.metrics_addr is not None:
                stack.enter_context(service.serving(args.metrics_addr, board))
            runloop.run_loop(
                cycle,
                settings=args.loop,
                halt=ports.halt,
                metrics_file=args.metrics_file,
                on_cycle=finished,
            )
        return EXIT_OK  # a service: a clean stop on SIGINT / SIGTERM is success


@dataclass(frozen=True)
class State:
    """``state list | show | rm | pull | push``."""

    args: StateReadArgs | StateShowArgs | StateRmArgs | StatePushArgs
    view: StateHuman

    def run(self, context: Context) -> int:
        ports, args = context.ports, self.args
        if isinstance(args, StateShowArgs):
            self.view.shown(state_ops.show(ports, args.address))
        elif isinstance(args, StateRmArgs):
            change = state_ops.remove(ports, args.addresses, lock_timeout=args.lock_timeout)
            self.view.removed(change)
        elif isinstance(args, StatePushArgs):
            change = state_ops.push(
                ports, args.file, force=args.force, lock_timeout=args.lock_timeout
            )
            self.view.pushed(change)
        elif args.pull:
            self.view.pulled(state_ops.read(ports))
        else:
            self.view.listed(state_ops.read(ports))
        return EXIT_OK


@dataclass(frozen=True)
class Quota:
    """``quota``: who holds what of the shared API quota now."""

    view: QuotaView

    def run(self, context: Context) -> int:
        self.view.shown(quota_ops.holders(context.ports))
        return EXIT_OK


@dataclass(frozen=True)
class Schema:
    view: View

    def run(self, context: Context) -> int:
        from reconciler.schema import manifest_schema

        self.view.print(json.dumps(manifest_schema(), indent=2))
        return EXIT_OK


@dataclass(frozen=True)
class Version:
    view: VersionView

    def run(self, context: Context) -> int:
        self.view.versions(operations.versions())
        return EXIT_OK


@dataclass(frozen=True)
class Completion:
    args: CompletionArgs
    view: CompletionView

    def run(self, context: Context) -> int:
        from reconciler.cli.completion import completion_script

        self.view.script(completion_script(self.args.shell))
        return EXIT_OK


def command_for(invocation: Invocation, streams: Streams | None = None) -> Command:
    """The command ``invocation`` names, with its view writing to ``streams``."""
    args, shown = invocation.args, invocation.presentation
    streams = streams or Streams()
    if isinstance(args, ValidateArgs):
        return Validate(args, (ValidateJson if shown.json else ValidateHuman)(streams))
    if isinstance(args, (PlanArgs, ShowArgs)):
        view: PlanView = (
            PlanJson(streams)
            if shown.json
            else PlanMarkdown(streams)
            if shown.markdown
            else PlanHuman(streams)
        )
        if isinstance(args, ShowArgs):
            return Show(args, view)
        return Plan(args, view, shown.detailed_exitcode)
    if isinstance(args, ApplyArgs):
        return Apply(args, (ApplyJson if shown.json else ApplyHuman)(streams))
    if isinstance(args, RunArgs):
        # A person at a terminal sees cycles and outcomes; a service's stdout stays quiet.
        return Run(args, RunHuman(streams) if streams.terminal else RunQuiet(streams))
    if isinstance(args, (StateReadArgs, StateShowArgs, StateRmArgs, StatePushArgs)):
        return State(args, (StateJson if shown.json else StateHuman)(streams))
    if isinstance(args, CompletionArgs):
        return Completion(args, CompletionView(streams))
    if isinstance(args, QuotaArgs):
        return Quota((QuotaJson if shown.json else QuotaHuman)(streams))
    if invocation.command == "version":
        return Version((VersionJson if shown.json else VersionHuman)(streams))
    return Schema(View(streams))


def emulator(args: EmulatorArgs) -> int:
    """Serve the emulator (it handles its own signals), seeded from manifests if asked."""
    from reconciler import emulator as emulator_package

    ns = args.namespace
    if args.seed_manifests:
        finished = {text.rpartition("@")[0] for text in ns.finished_task}
        result = operations.validate(args.seed_manifests)
        if result.problems:
            raise ManifestsInvalid(result.problems, truncated=result.truncated)
        ns.task.extend(
            f"{task.address}@{task.region}" for task in result.tasks if task.address not in finished
        )
    return emulator_package.run(ns)
