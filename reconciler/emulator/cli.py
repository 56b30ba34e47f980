"""Command-line glue for ``reconciler emulator`` (and ``python -m reconciler.emulator``):
the flags, turning them into an ``EmulatorConfig``, and serving until SIGINT/SIGTERM.

On start it prints exactly one JSON line to stdout —
``{"event": "listening", "url", "port", "secretId", "secretIds", "tasks"}`` — and
nothing else; secret keys and tokens are never printed. Bad flags or files end it
with one error line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from types import FrameType

from reconciler.emulator.config import (
    DEFAULT_CREDENTIAL_TTL,
    DEFAULT_RATE_LIMIT,
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    FAULT_NAMES,
    EmulatorConfig,
    FaultKind,
    FaultRates,
    KeyPair,
    WebIdentity,
    load_credentials_file,
)
from reconciler.emulator.documents import ConfigError
from reconciler.emulator.seeds import (
    SeedTask,
    TaskStatus,
    check_unique,
    load_tasks_file,
    parse_task_address,
)
from reconciler.emulator.server import Emulator
from reconciler.emulator.window import RateCounting

PROG = "reconciler emulator"


def _add_task_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks",
        dest="tasks_file",
        metavar="FILE",
        help="seed tasks from a JSON or YAML file: "
        '{"tasks": [{"sdkAppId", "taskId", "region", "status"}]}',
    )
    parser.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="SDKAPPID/TASKID@REGION",
        help="seed one in-progress task (repeatable)",
    )
    parser.add_argument(
        "--finished-task",
        action="append",
        default=[],
        metavar="SDKAPPID/TASKID@REGION",
        help="seed one task that has already ended (repeatable)",
    )


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secret-id",
        action="append",
        metavar="ID",
        help=f"a test SecretId the emulator accepts (default {DEFAULT_SECRET_ID}); repeat it"
        " with --secret-key for several credentials of the same account, paired in order",
    )
    parser.add_argument(
        "--secret-key",
        action="append",
        metavar="KEY",
        help="the test SecretKey signatures are checked against (a test value, never a"
        " real key); repeatable, paired with --secret-id in order",
    )
    parser.add_argument(
        "--token", default=None, help="require this X-TC-Token session token (one pair only)"
    )
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help="more credentials of the account, JSON or YAML: "
        '{"credentials": [{"secretId", "secretKey", "token"}]}',
    )
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ARN",
        help="a role STS AssumeRole / AssumeRoleWithWebIdentity may assume, e.g."
        " qcs::cam::uin/100000000001:roleName/deployer (repeatable)",
    )
    parser.add_argument(
        "--web-identity-provider",
        metavar="ID",
        help="the OIDC provider id AssumeRoleWithWebIdentity accepts",
    )
    parser.add_argument(
        "--web-identity-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="an OIDC token AssumeRoleWithWebIdentity accepts (repeatable)",
    )
    parser.add_argument(
        "--web-identity-token-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a file holding an accepted OIDC token (repeatable)",
    )
    parser.add_argument(
        "--credential-ttl",
        type=int,
        default=DEFAULT_CREDENTIAL_TTL,
        metavar="SECONDS",
        help="the longest life of temporary credentials STS issues, whatever"
        " DurationSeconds asks (default %(default)s)",
    )


def _add_traffic_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT,
        metavar="N",
        help="requests per TRTC action per sliding second, for the whole account;"
        " 0 disables (default %(default)s)",
    )
    parser.add_argument(
        "--rate-limit-counts",
        choices=[counting.value for counting in RateCounting],
        default=RateCounting.THROTTLED.value,
        help="which arrivals fill the window: 'throttled' counts every arrival, throttled"
        " ones too, so a client that keeps sending while throttled stays throttled;"
        " 'admitted' counts admitted ones only (default %(default)s)",
    )
    parser.add_argument(
        "--foreign-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="another client of the account: R synthetic StopStreamIngest arrivals per"
        " second in the same window, reported apart in the stats (default 0)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="delay before each answer"
    )
    parser.add_argument(
        "--latency-jitter",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="extra uniform random delay",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=PROB",
        help=f"inject a fault with a probability (repeatable); kinds: {', '.join(FAULT_NAMES)}",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser`` (a subcommand parser or a standalone one)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)"
    )
    _add_task_flags(parser)
    _add_credential_flags(parser)
    _add_traffic_flags(parser)
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed for faults, jitter and task ids"
    )
    parser.add_argument(
        "--port-file", default=None, metavar="PATH", help="also write the port number here"
    )


def parse_fault_flags(flags: Sequence[str]) -> FaultRates:
    rates: dict[str, float] = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        if not sep:
            raise ConfigError(f"--fault {flag!r}: expected KIND=PROBABILITY, e.g. internal=0.1")
        kind = FaultKind.parse(name)
        if kind.value in rates:
            raise ConfigError(f"--fault {kind.value} is given twice")
        try:
            rates[kind.value] = float(value)
        except ValueError:
            raise ConfigError(f"--fault {flag!r}: {value!r} is not a number") from None
    return FaultRates.from_mapping(rates)


def credentials_from_args(args: argparse.Namespace) -> tuple[KeyPair, ...]:
    """The account's credentials, the first one first: ``--secret-id`` / ``--secret-key``
    pairs (one of them alone pairs with the default of the other), then
    ``--credentials FILE``; with neither, the default test pair."""
    ids: list[str] = args.secret_id or []
    keys: list[str] = args.secret_key or []
    from_file = load_credentials_file(args.credentials) if args.credentials else ()
    if len(ids) == len(keys):
        pairs = list(zip(ids, keys, strict=True))
    elif len(ids) == 1 and not keys:
        pairs = [(ids[0], DEFAULT_SECRET_KEY)]
    elif len(keys) == 1 and not ids:
        pairs = [(DEFAULT_SECRET_ID, keys[0])]
    else:
        raise ConfigError(
            "--secret-id and --secret-key pair up in order:"
            f" got {len(ids)} ids and {len(keys)} keys"
        )
    if not pairs and not from_file:
        pairs = [(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY)]
    if args.token and len(pairs) != 1:
        raise ConfigError(
            "--token goes with one --secret-id/--secret-key pair; give the tokens of several"
            " pairs in --credentials FILE"
        )
    flagged = tuple(KeyPair(i, k, token=args.token or None) for i, k in pairs)
    return flagged + from_file


def _read_token_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read(1024 * 1024).strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read web identity token file {path}: {reason}") from None
    if not token:
        raise ConfigError(f"web identity token file {path} is empty")
    return token


def web_identity_from_args(args: argparse.Namespace) -> WebIdentity | None:
    tokens = [*args.web_identity_token, *map(_read_token_file, args.web_identity_token_file)]
    if args.web_identity_provider is None:
        if tokens:
            raise ConfigError("--web-identity-token needs --web-identity-provider")
        return None
    if not tokens:
        raise ConfigError(
            "--web-identity-provider needs --web-identity-token or --web-identity-token-file"
        )
    return WebIdentity(args.web_identity_provider, tuple(tokens))


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The configuration the flags describe; ConfigError names the bad flag or file."""
    tasks: list[SeedTask] = []
    if args.tasks_file:
        tasks.extend(load_tasks_file(args.tasks_file))
    tasks.extend(parse_task_address(text) for text in args.task)
    tasks.extend(
        parse_task_address(text, status=TaskStatus.FINISHED) for text in args.finished_task
    )
    check_unique(tasks)
    first, *more = credentials_from_args(args)
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        secret_id=first.secret_id,
        secret_key=first.secret_key,
        token=first.token,
        extra_credentials=tuple(more),
        rate_limit=args.rate_limit,
        rate_limit_counts=RateCounting.parse(args.rate_limit_counts),
        foreign_rate=args.foreign_rate,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        faults=parse_fault_flags(args.fault),
        roles=tuple(args.role),
        web_identity=web_identity_from_args(args),
        credential_ttl=args.credential_ttl,
        seed=args.seed,
        tasks=tuple(tasks),
    )


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return 1


def _write_port_file(path: str, port: int) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".port-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="ascii") as stream:
            stream.write(f"{port}\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _wait_for_signal(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        stop.wait()
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _announce(emulator: Emulator) -> None:
    config = emulator.config
    line = {
        "event": "listening",
        "url": emulator.url,
        "port": emulator.port,
        "secretId": config.secret_id,
        "secretIds": [pair.secret_id for pair in config.credentials],
        "tasks": len(config.tasks),
    }
    print(json.dumps(line), flush=True)
    if sys.stderr.isatty():
        print(
            f"TRTC and STS API emulator listening on {emulator.url} (SecretId"
            f" {config.secret_id}); stats at /_emulator/stats; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )


def run(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or until ``stop`` is set); 0 after a clean stop."""
    try:
        config = config_from_args(args)
    except ConfigError as error:
        return _fail(str(error))
    emulator = Emulator(config)
    try:
        emulator.start()
    except OSError as error:
        return _fail(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}")
    try:
        if args.port_file:
            try:
                _write_port_file(args.port_file, emulator.port)
            except OSError as error:
                return _fail(f"cannot write port file {args.port_file}: {error.strerror or error}")
        _announce(emulator)
        _wait_for_signal(stop if stop is not None else threading.Event())
    finally:
        emulator.stop()
    return 0
