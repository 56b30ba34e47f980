"""The command line's grammar: every command, option, default and help text, and
the converters that refuse bad values with one clear line.

Usage errors exit 1, not argparse's 2: under ``plan --detailed-exitcode``, 2 means
"there are changes".
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from reconciler import __version__
from reconciler.logs import FORMATS, LEVELS

EXIT_USAGE = 1


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 1 (2 means "changes" under --detailed-exitcode)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1h30m' → seconds."""
    match = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (examples: 30s, 5m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than zero, got {text!r}")
    return seconds


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _common_options() -> Parser:
    common = Parser(add_help=False)
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
    return common


def _engine_options() -> Parser:
    engine = Parser(add_help=False)
    engine.add_argument("--parallelism", type=positive_int, default=10, metavar="N")
    engine.add_argument(
        "--rate",
        type=positive_float,
        default=20.0,
        metavar="R",
        help="at most R requests in any one-second window, retries included (default 20)",
    )
    engine.add_argument("--max-attempts", type=positive_int, default=8, metavar="N")
    engine.add_argument(
        "--retry-deadline", type=positive_duration, default=120.0, metavar="DURATION"
    )
    engine.add_argument("--request-timeout", type=positive_float, default=10.0, metavar="SECONDS")
    return engine


def _quota_options() -> Parser:
    quota = Parser(add_help=False)
    quota.add_argument(
        "--quota",
        metavar="LOCATION",
        help="share the API quota with the other runners of the account through this "
        "postgresql:// database, or 'off' (env RECONCILER_QUOTA; default: the state's "
        "database when the state is on PostgreSQL, else off)",
    )
    quota.add_argument(
        "--quota-group",
        metavar="NAME",
        help="the group of runners sharing one quota (env RECONCILER_QUOTA_GROUP; "
        "default: derived from the credentials' account, without revealing them)",
    )
    return quota


def _lock_options() -> Parser:
    lock = Parser(add_help=False)
    lock.add_argument(
        "--lock-timeout",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="wait this long for the state lock (default: fail at once)",
    )
    return lock


def build_parser() -> Parser:
    """The whole grammar; ``command`` (and ``state_command``) name what to run."""
    common, engine, lock = _common_options(), _engine_options(), _lock_options()
    engine = Parser(add_help=False, parents=[engine, _quota_options()])
    parser = Parser(
        prog="reconciler",
        description="Stop TRTC stream-ingest tasks declared in YAML manifests: "
        "plan, apply, and keep state.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    p = commands.add_parser("validate", parents=[common], help="check manifests")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("plan", parents=[common, engine], help="show what apply would do")
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

    p = commands.add_parser(
        "apply",
        parents=[common, engine, lock],
        help="stop the planned tasks and record the outcomes",
    )
    p.add_argument("paths", nargs="*", metavar="PATH | PLANFILE")
    p.add_argument("--auto-approve", action="store_true")
    p.add_argument(
        "--json", action="store_true", help="one JSON object per outcome, then a summary"
    )
    p.add_argument("--target", action="append", default=[], metavar="ADDR")

    _add_state_commands(commands, common, lock)

    p = commands.add_parser(
        "run", parents=[common, engine, lock], help="reconcile on a schedule until stopped"
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--interval", type=positive_duration, required=True, metavar="DURATION")
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
    p.add_argument("--max-cycles", type=positive_int, default=None, help=argparse.SUPPRESS)

    p = commands.add_parser(
        "quota",
        parents=[common, _quota_options()],
        help="who holds what of the shared API quota now",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")

    commands.add_parser("schema", help="print the manifest JSON Schema")
    _add_emulator_command(commands)
    return parser


def _add_state_commands(
    commands: argparse._SubParsersAction[Parser], common: Parser, lock: Parser
) -> None:
    p = commands.add_parser("state", help="inspect and edit the recorded state")
    state = p.add_subparsers(dest="state_command", metavar="SUBCOMMAND", parser_class=Parser)
    state.required = True
    state.add_parser("list", parents=[common], help="recorded addresses, one a line")
    s = state.add_parser("show", parents=[common], help="one record as JSON")
    s.add_argument("address", metavar="ADDR")
    s = state.add_parser("rm", parents=[common, lock], help="remove records")
    s.add_argument("addresses", nargs="+", metavar="ADDR")
    state.add_parser("pull", parents=[common], help="the whole state as JSON")
    s = state.add_parser(
        "push", parents=[common, lock], help="replace the state with a pulled document"
    )
    s.add_argument("file", metavar="FILE")
    s.add_argument("--force", action="store_true", help="accept another lineage or an older serial")


def _add_emulator_command(commands: argparse._SubParsersAction[Parser]) -> None:
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
