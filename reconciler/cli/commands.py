"""One function per command: call its one operation, hand the result to its view,
return the exit code. No business logic lives here.

Exit codes: 0 success (and, under ``plan --detailed-exitcode``, no changes); 1 an
error; 2 ``plan --detailed-exitcode`` with changes; 3 apply declined at the
prompt; 130 / 143 interrupted by SIGINT / SIGTERM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from reconciler import operations, runloop
from reconciler.cli.args import (
    EmulatorArgs,
    Invocation,
    QuotaArgs,
    RunArgs,
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
from reconciler.results import ApplyStatus
from reconciler.views import (
    ApplyHuman,
    ApplyJson,
    ApplyView,
    PlanHuman,
    PlanJson,
    PlanView,
    QuotaHuman,
    QuotaJson,
    QuotaView,
    StateHuman,
    ValidateHuman,
    ValidateJson,
    ValidateView,
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
        self.view.planned(result.plan, saved_to=result.saved_to)
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
class Run:
    args: RunArgs
    view: View

    def run(self, context: Context) -> int:
        cycle = runloop.Cycle(self.args.apply, context.ports)
        runloop.run_loop(
            cycle,
            settings=self.args.loop,
            halt=context.ports.halt,
            metrics_file=self.args.metrics_file,
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


def command_for(invocation: Invocation) -> Command:
    """The command ``invocation`` names, with its human or JSON view."""
    args, as_json = invocation.args, invocation.presentation.json
    if isinstance(args, ValidateArgs):
        return Validate(args, ValidateJson() if as_json else ValidateHuman())
    if isinstance(args, PlanArgs):
        view = PlanJson() if as_json else PlanHuman()
        return Plan(args, view, invocation.presentation.detailed_exitcode)
    if isinstance(args, ApplyArgs):
        return Apply(args, ApplyJson() if as_json else ApplyHuman())
    if isinstance(args, RunArgs):
        return Run(args, View())
    if isinstance(args, (StateReadArgs, StateShowArgs, StateRmArgs, StatePushArgs)):
        return State(args, StateHuman())
    if isinstance(args, QuotaArgs):
        return Quota(QuotaJson() if as_json else QuotaHuman())
    return Schema(View())


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
