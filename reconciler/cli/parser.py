"""The command line's grammar: every command, option, default and help text (the
converters that refuse bad values with one clear line are ``cli.values``).

Every option says what it does and its default; every command's help ends with
examples (``cli.help``). The global options (``--state``, ``--endpoint``, the log
and colour options) are taken before or after the command: the root parser holds
their defaults, and each command's copy is ``SUPPRESS``-ed so that leaving it out
after the command keeps what was given before it.

A usage error raises ``ParseError`` (``main`` reports it, as JSON under
``--json``, and exits 1, not argparse's 2: under ``plan --detailed-exitcode``, 2
means "there are changes").
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from reconciler import __version__
from reconciler.cli import helptext as texts
from reconciler.cli.values import (
    listen_address,
    parse_duration,
    positive_duration,
    positive_int,
    rate_value,
    role_duration,
    whole_number,
)
from reconciler.logs import FORMATS, LEVELS

SHELLS = ("bash", "zsh", "fish")


class ParseError(Exception):
    """A usage error found while parsing; ``usage`` is the parser's usage line."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise ``ParseError`` instead of exiting 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", texts.Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise ParseError(message, self.format_usage())


def _global_options(*, root: bool) -> Parser:
    """The options every command takes, before or after its name (see the docstring)."""
    options = Parser(add_help=False)

    def default(value: object) -> object:
        return value if root else argparse.SUPPRESS

    group = options.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--state",
        metavar="LOCATION",
        default=default(None),
        help="state store: a SQLite file path or a postgresql:// URL "
        "(default: env RECONCILER_STATE, else .reconciler/state.db)",
    )
    group.add_argument(
        "--endpoint",
        metavar="URL",
        default=default(None),
        help="TRTC API endpoint; plain http:// only for loopback "
        "(default: env RECONCILER_ENDPOINT, else the SDK's https://trtc.tencentcloudapi.com)",
    )
    group.add_argument(
        "--log-format",
        choices=FORMATS,
        default=default("auto"),
        help="log lines on stderr: console text, JSON lines, or auto: console on a "
        "terminal, JSON otherwise (default: auto)",
    )
    group.add_argument(
        "--log-level",
        choices=LEVELS,
        default=default(None),
        help="least severe log lines shown (default: env RECONCILER_LOG_LEVEL, else "
        "warning on a terminal and info otherwise)",
    )
    group.add_argument(
        "--no-color",
        action="store_true",
        default=default(False),
        help="no colour or other escape sequence in any output, as NO_COLOR=1 or "
        "TERM=dumb (default: colour on a terminal)",
    )
    return options


def _engine_options() -> Parser:
    engine = Parser(add_help=False)
    group = engine.add_argument_group("API calls")
    group.add_argument(
        "--parallelism",
        type=positive_int,
        default=10,
        metavar="N",
        help="calls in flight at once, each worker with its own SDK client (default: 10)",
    )
    group.add_argument(
        "--rate",
        type=rate_value,
        default=20.0,
        metavar="R",
        help="at most R requests in any one-second window, retries included (default: 20)",
    )
    group.add_argument(
        "--max-attempts",
        type=positive_int,
        default=8,
        metavar="N",
        help="attempts per task, the first included, before it fails (default: 8)",
    )
    group.add_argument(
        "--retry-deadline",
        type=positive_duration,
        default=120.0,
        metavar="DURATION",
        help="stop retrying a task this long after its first attempt (default: 2m)",
    )
    group.add_argument(
        "--request-timeout",
        type=positive_duration,
        default=10.0,
        metavar="DURATION",
        help="give up on one API request after this long (default: 10s)",
    )
    _add_quota_options(engine)
    return engine


def _add_quota_options(parser: Parser) -> None:
    group = parser.add_argument_group("shared quota")
    group.add_argument("--quota", metavar="LOCATION", help=texts.QUOTA)
    group.add_argument("--quota-group", metavar="NAME", help=texts.QUOTA_GROUP)


def _lock_options() -> Parser:
    lock = Parser(add_help=False)
    lock.add_argument_group("state lock").add_argument(
        "--lock-timeout",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="wait this long for the state lock (default: 0s, fail at once)",
    )
    return lock


def _credential_options() -> Parser:
    """Where credentials come from; never a secret as a flag (see the README's chain)."""
    options = Parser(add_help=False)
    group = options.add_argument_group("credentials (never a secret: keys come from the chain)")
    group.add_argument(
        "--profile",
        metavar="NAME",
        help="tccli profile NAME.credential in TENCENTCLOUD_SHARED_CREDENTIALS_DIR or ~/.tccli "
        "(env TENCENTCLOUD_PROFILE; default: the first source of the chain that is set)",
    )
    group.add_argument(
        "--assume-role",
        metavar="ARN",
        help="assume this CAM role with the credentials found "
        "(env TENCENTCLOUD_ASSUME_ROLE_ARN; default: no role)",
    )
    group.add_argument(
        "--assume-role-session-name",
        metavar="NAME",
        help="role session name "
        "(env TENCENTCLOUD_ASSUME_ROLE_SESSION_NAME; default: trtc-ingest-reconciler)",
    )
    group.add_argument(
        "--assume-role-duration",
        type=role_duration,
        metavar="DURATION",
        help="role session length, renewed before it ends, at most 12h "
        "(env TENCENTCLOUD_ASSUME_ROLE_SESSION_DURATION in seconds; default: 2h)",
    )
    group.add_argument(
        "--web-identity-token-file",
        metavar="PATH",
        help="assume --assume-role with this OIDC token, no key needed; re-read at each renewal "
        "(env TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN_FILE; default: none)",
    )
    group.add_argument(
        "--web-identity-provider",
        metavar="ID",
        help="the CAM OIDC identity provider "
        "(env TENCENTCLOUD_ASSUME_ROLE_PROVIDER_ID; default: OIDC)",
    )
    group.add_argument(
        "--sts-endpoint",
        metavar="URL",
        help="STS endpoint (env RECONCILER_STS_ENDPOINT; default: follows --endpoint)",
    )
    return options


class _Grammar:
    """The shared option groups, and a way to add a command with its examples."""

    def __init__(self, commands: argparse._SubParsersAction[Parser]) -> None:
        self.commands = commands
        self.common = _global_options(root=False)
        self.engine = _engine_options()
        self.lock = _lock_options()
        self.credentials = _credential_options()

    def add(
        self,
        name: str,
        summary: str,
        *,
        parents: tuple[Parser, ...] = (),
        to: argparse._SubParsersAction[Parser] | None = None,
        examples: str | None = None,
    ) -> Parser:
        where = to or self.commands
        return where.add_parser(
            name,
            parents=[self.common, *parents],
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=texts.examples(examples or name),
        )


def build_parser() -> Parser:
    """The whole grammar; ``command`` (and ``state_command``) name what to run."""
    parser = Parser(
        prog="reconciler",
        description="Stop TRTC stream-ingest tasks declared in YAML manifests: "
        "plan, apply, and keep state.",
        parents=[_global_options(root=True)],
        epilog=texts.ROOT_EPILOG + "\n\n" + texts.examples("reconciler"),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    grammar = _Grammar(commands)

    p = grammar.add("validate", "check manifests")
    _paths(p)
    p.add_argument("--json", action="store_true", help="print one JSON verdict")

    _add_plan_commands(grammar)
    _add_apply_command(grammar)
    _add_state_commands(grammar)
    _add_run_command(grammar)

    _add_quota_options(p := grammar.add("quota", "show who holds the shared API quota now"))
    p.add_argument("--json", action="store_true", help="print one JSON document")

    grammar.add("schema", "print the manifest JSON Schema")
    p = grammar.add("version", "print the versions of the tool, the SDK, Python and libyaml")
    p.add_argument("--json", action="store_true", help="print them as one JSON object")
    p = grammar.add("completion", "print a shell completion script")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    _add_emulator_command(commands)
    return parser


def _paths(p: Parser, *, metavar: str = "PATH", saved_plan: bool = False) -> None:
    what = "manifest files or folders, searched for *.yaml / *.yml"
    if saved_plan:
        what += ", or one saved plan (a .json file)"
    p.add_argument("paths", nargs="*", metavar=metavar, help=f"{what} (default: manifests)")


def _json_or_markdown(p: Parser, json_help: str) -> None:
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help=json_help)
    output.add_argument(
        "--markdown",
        action="store_true",
        help="print the plan as a pull-request comment: summary first, changes in a diff "
        "block, at most 65,000 characters",
    )


def _max_stops(p: Parser, what: str) -> None:
    p.add_argument(
        "--max-stops",
        type=whole_number,
        metavar="N",
        help=f"{what} (env RECONCILER_MAX_STOPS; default: no limit)",
    )


def _target(p: Parser, what: str) -> None:
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="ADDR",
        help=f"{what} only this address, SDKAPPID/TASKID (repeatable; default: every address)",
    )


def _add_plan_commands(grammar: _Grammar) -> None:
    p = grammar.add(
        "plan", "show what apply would do", parents=(grammar.engine, grammar.credentials)
    )
    _paths(p)
    p.add_argument(
        "--out",
        metavar="FILE",
        help="save the plan document for `reconciler apply FILE` and `reconciler show FILE` "
        "(default: not saved)",
    )
    _json_or_markdown(p, "print the plan as one JSON document")
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 with no changes, 2 with changes, 1 on error (default: 0 either way)",
    )
    _target(p, "plan for")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="ask DescribeStreamIngest about each task to stop or waiting; changes no action "
        "(default: off, the plan reads only the state)",
    )
    _max_stops(p, "warn when the plan stops more than N tasks: apply --max-stops N refuses it")

    p = grammar.add("show", "print a saved plan as `plan` printed it (no state or credentials)")
    p.add_argument("plan_file", metavar="PLANFILE", help="a plan saved by `reconciler plan --out`")
    _json_or_markdown(p, "print the plan document")


def _add_apply_command(grammar: _Grammar) -> None:
    p = grammar.add(
        "apply",
        "stop the planned tasks and record the outcomes",
        parents=(grammar.engine, grammar.lock, grammar.credentials),
    )
    _paths(p, metavar="PATH | PLANFILE", saved_plan=True)
    p.add_argument(
        "--auto-approve",
        action="store_true",
        help="apply without asking (default: ask for 'yes' on a terminal)",
    )
    p.add_argument(
        "--json", action="store_true", help="one JSON object per outcome, then a summary"
    )
    _target(p, "apply to")
    _max_stops(p, "refuse, before any call, to apply a plan that stops more than N tasks")


def _add_state_commands(grammar: _Grammar) -> None:
    p = grammar.add("state", "inspect and edit the recorded state")
    state = p.add_subparsers(dest="state_command", metavar="SUBCOMMAND", parser_class=Parser)
    state.required = True
    s = grammar.add("list", "recorded addresses, one a line", to=state, examples="state list")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s = grammar.add("show", "one record as JSON", to=state, examples="state show")
    s.add_argument("address", metavar="ADDR", help="the task's address, SDKAPPID/TASKID")
    s = grammar.add("rm", "remove records", parents=(grammar.lock,), to=state, examples="state rm")
    s.add_argument("addresses", nargs="+", metavar="ADDR", help="addresses to remove")
    grammar.add("pull", "the whole state as JSON", to=state, examples="state pull")
    s = grammar.add(
        "push",
        "replace the state with a pulled document",
        parents=(grammar.lock,),
        to=state,
        examples="state push",
    )
    s.add_argument("file", metavar="FILE", help="a document `reconciler state pull` wrote")
    s.add_argument(
        "--force",
        action="store_true",
        help="accept another lineage or an older serial (default: refuse them)",
    )


def _add_run_command(grammar: _Grammar) -> None:
    p = grammar.add(
        "run",
        "reconcile on a schedule until stopped",
        parents=(grammar.engine, grammar.lock, grammar.credentials),
    )
    _paths(p)
    p.add_argument(
        "--interval",
        type=positive_duration,
        required=True,
        metavar="DURATION",
        help="time between cycles, e.g. 5m (required; no default)",
    )
    p.add_argument(
        "--jitter",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="add a random delay up to this to each interval (default: 0s)",
    )
    p.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="write Prometheus text metrics here after each cycle (default: none)",
    )
    p.add_argument(
        "--metrics-addr",
        type=listen_address,
        metavar="HOST:PORT",
        help="serve /metrics and /healthz over HTTP here, e.g. 0.0.0.0:9100 (default: none)",
    )
    _max_stops(p, "refuse a cycle that would stop more than N tasks (a failed cycle)")
    p.add_argument("--max-cycles", type=positive_int, default=None, help=argparse.SUPPRESS)


def _add_emulator_command(commands: argparse._SubParsersAction[Parser]) -> None:
    from reconciler import emulator

    p = commands.add_parser(
        "emulator",
        help="serve a local TRTC API emulator for tests",
        description="Serve a local TRTC API emulator for tests.",
        epilog=texts.examples("emulator"),
    )
    emulator.configure_parser(p)
    p.add_argument(
        "--seed-manifests",
        action="append",
        default=[],
        metavar="PATH",
        help="seed an in-progress task for every task these manifests declare (repeatable)",
    )
