"""The command line: parse arguments, run one operation, render it, return an exit code.

No business logic lives here: each command function wires parsed options to an
operation (``reconciler.operations``) or the run loop, hands the result to a view,
and maps the outcome to SPEC's exit codes — 0 success, 1 error, 2 ``plan
--detailed-exitcode`` with changes, 3 apply declined, 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

import structlog

from reconciler import __version__, operations, runloop
from reconciler.backoff import RetryPolicy
from reconciler.domain import Outcome
from reconciler.engine import ApplyReport, EngineSettings, Halt
from reconciler.logs import FORMATS, LEVELS, add_secrets, bind_run, configure_logging
from reconciler.operations import ManifestsInvalid, OperationError
from reconciler.planner import plan_summary, plan_to_json
from reconciler.ratelimit import RateSettings
from reconciler.state import LockBusy, StateError, StateStore, open_store
from reconciler.trtc import CredentialSource
from reconciler.views import HumanView, JsonView, View

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_DECLINED = 3
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

log = structlog.get_logger("reconciler.cli")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 1 (2 means "changes" under --detailed-exitcode)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1h30m' → seconds."""
    match = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (examples: 30s, 5m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than zero, got {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    if text.strip() == "0":
        return 0.0
    return _positive_float(text)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--state",
        metavar="LOCATION",
        help="state store: a SQLite file path or a postgresql:// URL "
        "(env RECONCILER_STATE; default .reconciler/state.db)",
    )
    common.add_argument(
        "--endpoint",
        metavar="URL",
        default=None,
        help="TRTC API endpoint (env RECONCILER_ENDPOINT; default the SDK's own). "
        "Plain http:// only for loopback",
    )
    common.add_argument("--log-format", choices=FORMATS, default="auto")
    common.add_argument("--log-level", choices=LEVELS, default="info")

    engine_opts = _Parser(add_help=False)
    engine_opts.add_argument("--parallelism", type=_positive_int, default=10, metavar="N")
    engine_opts.add_argument(
        "--rate",
        type=_positive_float,
        default=20.0,
        metavar="R",
        help="at most R requests in any one-second window, retries included (default 20)",
    )
    engine_opts.add_argument("--max-attempts", type=_positive_int, default=8, metavar="N")
    engine_opts.add_argument(
        "--retry-deadline", type=_positive_duration, default=120.0, metavar="DURATION"
    )
    engine_opts.add_argument(
        "--request-timeout", type=_positive_float, default=10.0, metavar="SECONDS"
    )
    lock_opts = _Parser(add_help=False)
    lock_opts.add_argument(
        "--lock-timeout",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="wait this long for the state lock (default: fail at once)",
    )

    parser = _Parser(
        prog="reconciler",
        description="Stop TRTC stream-ingest tasks declared in YAML manifests: "
        "plan, apply, and keep state.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    p = commands.add_parser("validate", parents=[common], help="check manifests")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser("plan", parents=[common, engine_opts], help="show what apply would do")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--out", metavar="FILE", help="save the plan document for `apply FILE`")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 with no changes, 2 with changes, 1 on error",
    )
    p.add_argument("--target", action="append", default=[], metavar="ADDR")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="ask DescribeStreamIngest for each task to stop (changes no action)",
    )
    p.set_defaults(func=cmd_plan)

    p = commands.add_parser(
        "apply",
        parents=[common, engine_opts, lock_opts],
        help="stop the planned tasks and record the outcomes",
    )
    p.add_argument("paths", nargs="*", metavar="PATH | PLANFILE")
    p.add_argument("--auto-approve", action="store_true")
    p.add_argument(
        "--json", action="store_true", help="one JSON object per outcome, then a summary"
    )
    p.add_argument("--target", action="append", default=[], metavar="ADDR")
    p.set_defaults(func=cmd_apply)

    p = commands.add_parser("state", help="inspect and edit the recorded state")
    state = p.add_subparsers(dest="state_command", metavar="SUBCOMMAND", parser_class=_Parser)
    state.required = True
    s = state.add_parser("list", parents=[common], help="recorded addresses, one a line")
    s.set_defaults(func=cmd_state_list)
    s = state.add_parser("show", parents=[common], help="one record as JSON")
    s.add_argument("address", metavar="ADDR")
    s.set_defaults(func=cmd_state_show)
    s = state.add_parser("rm", parents=[common, lock_opts], help="remove records")
    s.add_argument("addresses", nargs="+", metavar="ADDR")
    s.set_defaults(func=cmd_state_rm)
    s = state.add_parser("pull", parents=[common], help="the whole state as JSON")
    s.set_defaults(func=cmd_state_pull)
    s = state.add_parser(
        "push", parents=[common, lock_opts], help="replace the state with a pulled document"
    )
    s.add_argument("file", metavar="FILE")
    s.add_argument("--force", action="store_true", help="accept another lineage or an older serial")
    s.set_defaults(func=cmd_state_push)

    p = commands.add_parser(
        "run",
        parents=[common, engine_opts, lock_opts],
        help="reconcile on a schedule until stopped",
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--interval", type=_positive_duration, required=True, metavar="DURATION")
    p.add_argument(
        "--jitter",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="add a random delay up to this to each interval",
    )
    p.add_argument(
        "--metrics-file", metavar="PATH", help="write Prometheus text metrics here after each cycle"
    )
    p.add_argument("--max-cycles", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("schema", help="print the manifest JSON Schema")
    p.set_defaults(func=cmd_schema)

    from reconciler import emulator

    p = commands.add_parser("emulator", help="serve a local TRTC API emulator for tests")
    emulator.configure_parser(p)
    p.add_argument(
        "--seed-manifests",
        action="append",
        default=[],
        metavar="PATH",
        help="seed an in-progress task for every task these manifests declare",
    )
    p.set_defaults(func=cmd_emulator)
    return parser


# --- plumbing -------------------------------------------------------------------


@dataclass
class _Signals:
    halt: Halt
    received: int | None = None

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:  # a second signal: stop now
            os._exit(EXIT_SIGNAL.get(signal.Signals(signum), EXIT_ERROR))
        self.received = signum
        log.warning(
            "signal received: finishing in-flight calls", signal=signal.Signals(signum).name
        )
        self.halt.set()

    def exit_code(self) -> int | None:
        if self.received is None:
            return None
        return EXIT_SIGNAL.get(signal.Signals(self.received), EXIT_ERROR)


_signals: _Signals | None = None


def _store(args: argparse.Namespace) -> StateStore:
    location = args.state or os.environ.get("RECONCILER_STATE")
    if location and "://" in location:
        from urllib.parse import urlsplit

        with contextlib.suppress(ValueError):
            add_secrets([urlsplit(location).password])
    try:
        return open_store(location)
    except StateError as exc:
        raise OperationError(str(exc)) from None


def _opened(args: argparse.Namespace) -> contextlib.closing[StateStore]:
    """The state store, closed when the ``with`` block ends."""
    return contextlib.closing(_store(args))


def _cloud(args: argparse.Namespace) -> operations.CloudSettings:
    return operations.cloud_settings(
        args.endpoint or os.environ.get("RECONCILER_ENDPOINT"),
        request_timeout=getattr(args, "request_timeout", 10.0),
        environ=os.environ,
    )


def _engine_settings(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(
        parallelism=args.parallelism,
        rate=RateSettings(rate=args.rate),
        retry=RetryPolicy(max_attempts=args.max_attempts, deadline=args.retry_deadline),
    )


def _register_credential_secrets(source: CredentialSource) -> None:
    add_secrets(source.secret_values())


@contextlib.contextmanager
def _locked(store: StateStore, operation: str, run_id: str, timeout: float) -> Iterator[None]:
    holder = operations.lock_holder(operation, run_id)
    try:
        with store.lock(holder, timeout=timeout):
            yield
    except LockBusy as exc:
        raise OperationError(str(exc)) from None


def _view(args: argparse.Namespace) -> View:
    return JsonView() if getattr(args, "json", False) else HumanView()


# --- commands --------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, halt: Halt) -> int:
    view = _view(args)
    result = operations.validate(args.paths)
    if result.problems:
        if isinstance(view, JsonView):
            view.invalid(result.problems)
        view.problems(result.problems)
        raise ManifestsInvalid(result)
    view.validated(result)
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, halt: Halt) -> int:
    view = _view(args)
    desired = operations.read_desired(args.paths, targets=args.target)
    with _opened(args) as store:
        the_plan = operations.plan(desired, store)
    if args.refresh:
        the_plan, _ = operations.refresh_plan(
            the_plan, _cloud(args), halt=halt, settings=_engine_settings(args)
        )
    if args.out:
        operations.write_plan_file(args.out, plan_to_json(the_plan))
    view.plan(the_plan)
    if args.out and isinstance(view, HumanView):
        view.message(
            f"\nSaved the plan to {args.out}. To apply exactly it: reconciler apply {args.out}"
        )
    log.info("plan", **plan_summary(the_plan))
    if args.detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _is_plan_file(paths: Sequence[str]) -> bool:
    return len(paths) == 1 and paths[0].endswith(".json")


def cmd_apply(args: argparse.Namespace, halt: Halt) -> int:
    view = _view(args)
    from_file = _is_plan_file(args.paths)
    if not from_file and not args.auto_approve:
        if args.json:
            raise OperationError("apply --json needs --auto-approve or a saved plan file")
        if not sys.stdin.isatty():
            raise OperationError(
                "no terminal to confirm the apply: pass --auto-approve, or apply a saved plan "
                "(reconciler plan --out plan.json; reconciler apply plan.json)"
            )
    cloud = _cloud(args)
    desired = None if from_file else operations.read_desired(args.paths, targets=args.target)
    run_id = operations.new_run_id()
    bind_run(run_id=run_id, command="apply")
    with _opened(args) as store, _locked(store, "apply", run_id, args.lock_timeout):
        if desired is not None:
            the_plan = operations.plan(desired, store)
        else:
            the_plan = operations.read_saved_plan(args.paths[0])
            operations.check_not_stale(the_plan, operations.read_state(store))
            the_plan = operations.select_targets(the_plan, args.target)
        if isinstance(view, HumanView):
            view.plan(the_plan)
        if not the_plan.has_changes:
            if isinstance(view, JsonView):
                view.apply_summary(_empty_report())
            return EXIT_OK
        if not from_file and not args.auto_approve and not _confirm(view):
            print("Apply cancelled.", file=view.out)
            return EXIT_DECLINED
        if halt.is_set():
            return _signal_code()
        report = operations.apply(
            the_plan,
            store,
            cloud,
            observer=view,
            settings=_engine_settings(args),
            halt=halt,
            on_credentials=_register_credential_secrets,
        )
    view.apply_summary(report)
    log.info(
        "apply finished",
        **report.counts,
        not_attempted=report.not_attempted,
        interrupted=report.interrupted,
        elapsed=round(report.elapsed, 3),
        fatal=report.fatal.code if report.fatal else None,
    )
    if report.interrupted:
        return _signal_code()
    if report.fatal is not None or report.failed:
        return EXIT_ERROR
    return EXIT_OK


def _empty_report() -> ApplyReport:
    return ApplyReport(
        counts={o.value: 0 for o in Outcome},
        fatal=None,
        interrupted=False,
        not_attempted=0,
        elapsed=0.0,
    )


def _signal_code() -> int:
    code = _signals.exit_code() if _signals else None
    return code if code is not None else EXIT_SIGNAL[signal.SIGINT]


def _confirm(view: View) -> bool:
    print(
        "\nDo you want to perform these actions?\n"
        "  Reconciler will call StopStreamIngest for each task to stop.\n"
        "  Only 'yes' will be accepted to approve.\n",
        file=view.out,
    )
    print("  Enter a value: ", end="", file=view.out, flush=True)
    answer = sys.stdin.readline()
    return answer.strip() == "yes"


def cmd_state_list(args: argparse.Namespace, halt: Halt) -> int:
    with _opened(args) as store:
        snapshot = operations.read_state(store)
    HumanView().state_list(snapshot)
    return EXIT_OK


def cmd_state_show(args: argparse.Namespace, halt: Halt) -> int:
    with _opened(args) as store:
        record = operations.state_show(store, args.address)
    HumanView().record(record)
    return EXIT_OK


def cmd_state_rm(args: argparse.Namespace, halt: Halt) -> int:
    run_id = operations.new_run_id()
    with _opened(args) as store, _locked(store, "state rm", run_id, args.lock_timeout):
        serial = operations.state_rm(store, args.addresses)
    for address in args.addresses:
        print(f"Removed {address}")
    print(f"State serial is now {serial}.")
    return EXIT_OK


def cmd_state_pull(args: argparse.Namespace, halt: Halt) -> int:
    with _opened(args) as store:
        snapshot = operations.read_state(store)
    print(json.dumps(snapshot.to_json(), indent=2))
    return EXIT_OK


def cmd_state_push(args: argparse.Namespace, halt: Halt) -> int:
    snapshot = operations.read_state_document(args.file)
    run_id = operations.new_run_id()
    with _opened(args) as store, _locked(store, "state push", run_id, args.lock_timeout):
        store.push(snapshot, force=args.force)
        after = operations.read_state(store)
    print(
        f"Pushed {len(snapshot.records)} records to {store.display} "
        f"(lineage {after.lineage}, serial {after.serial})."
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace, halt: Halt) -> int:
    bind_run(command="run")
    cycle = runloop.Cycle(
        paths=tuple(args.paths),
        open_store=lambda: _store(args),
        cloud=_cloud(args),
        engine=_engine_settings(args),
        lock_timeout=args.lock_timeout,
        on_credentials=_register_credential_secrets,
    )
    runloop.run_loop(
        cycle,
        settings=runloop.LoopSettings(
            interval=args.interval, jitter=args.jitter, max_cycles=args.max_cycles
        ),
        halt=halt,
        metrics_file=args.metrics_file,
    )
    return EXIT_OK


def cmd_emulator(args: argparse.Namespace, halt: Halt) -> int:
    from reconciler import emulator

    if args.seed_manifests:
        finished = {text.rpartition("@")[0] for text in args.finished_task}
        tasks = operations.load_desired(args.seed_manifests)
        args.task.extend(
            f"{task.address}@{task.region}" for task in tasks if task.address not in finished
        )
    return emulator.run(args)


def cmd_schema(args: argparse.Namespace, halt: Halt) -> int:
    from reconciler.schema import manifest_schema

    print(json.dumps(manifest_schema(), indent=2))
    return EXIT_OK


# --- entry ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    global _signals
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(
        fmt=getattr(args, "log_format", "auto"), level=getattr(args, "log_level", "info")
    )
    halt = Halt()
    _signals = _Signals(halt)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _signals.handler)
    view = _view(args)
    func: Callable[[argparse.Namespace, Halt], int] = args.func
    try:
        code = func(args, halt)
    except ManifestsInvalid as exc:
        if args.func is not cmd_validate:
            view.problems(exc.problems)
        view.error(str(exc))
        code = EXIT_ERROR
    except (OperationError, StateError) as exc:
        view.error(str(exc))
        code = EXIT_ERROR
    except BrokenPipeError:
        code = EXIT_ERROR
    signalled = _signals.exit_code()
    if signalled is not None and args.func not in (cmd_run,) and args.command != "emulator":
        return signalled
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
