"""Command-line glue for ``reconciler emulator`` (and ``python -m reconciler.emulator``):
the flags, turning them into an ``EmulatorConfig``, and serving until SIGINT/SIGTERM.

On start it prints exactly one JSON line to stdout —
``{"event": "listening", "url", "port", "secretId", "tasks"}`` — and nothing else;
the secret key and token are never printed. Bad flags or seed files end it with one
error line on stderr and exit status 1.
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
    DEFAULT_RATE_LIMIT,
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    FAULT_NAMES,
    ConfigError,
    EmulatorConfig,
    FaultKind,
    FaultRates,
    SeedTask,
    TaskStatus,
    check_unique,
    load_tasks_file,
    parse_task_address,
)
from reconciler.emulator.server import Emulator

PROG = "reconciler emulator"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser`` (a subcommand parser or a standalone one)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)"
    )
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
    parser.add_argument(
        "--secret-id",
        default=DEFAULT_SECRET_ID,
        help="test SecretId the emulator accepts (default: %(default)s)",
    )
    parser.add_argument(
        "--secret-key",
        default=DEFAULT_SECRET_KEY,
        help="test SecretKey signatures are checked against (a test value, never a real key)",
    )
    parser.add_argument("--token", default=None, help="require this X-TC-Token session token")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT,
        metavar="N",
        help="requests per action per sliding second; 0 disables (default %(default)s)",
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
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        secret_id=args.secret_id,
        secret_key=args.secret_key,
        token=args.token or None,
        rate_limit=args.rate_limit,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        faults=parse_fault_flags(args.fault),
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
        line = {
            "event": "listening",
            "url": emulator.url,
            "port": emulator.port,
            "secretId": config.secret_id,
            "tasks": len(config.tasks),
        }
        print(json.dumps(line), flush=True)
        if sys.stderr.isatty():
            print(
                f"TRTC API emulator listening on {emulator.url} (SecretId {config.secret_id}); "
                "stats at /_emulator/stats; Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
        _wait_for_signal(stop if stop is not None else threading.Event())
    finally:
        emulator.stop()
    return 0
