"""The command line: parse into a typed invocation, run its one command, map the
result to an exit code.

``main`` is the only place that catches ``ReconcilerError``: the command's view
renders it (text or JSON) and the exit code is 1. Nothing else is caught, so a
bug still shows its traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler.cli import commands, wiring
from reconciler.cli.args import EmulatorArgs, from_namespace
from reconciler.cli.parser import build_parser
from reconciler.clock import Halt
from reconciler.errors import Interrupted, ReconcilerError
from reconciler.logs import bind_run, configure_logging
from reconciler.views import View


def main(
    argv: Sequence[str] | None = None, *, early_signal: Callable[[], int | None] = lambda: None
) -> int:
    """Run one command; ``early_signal`` names a signal that came while starting up
    (``reconciler.entry`` notes it), after which nothing is started."""
    namespace = build_parser().parse_args(argv)
    try:
        invocation = from_namespace(namespace, wiring.environment())
    except ReconcilerError as exc:
        View().error(exc)
        return commands.EXIT_ERROR
    if isinstance(invocation.args, EmulatorArgs):
        pending = early_signal()
        return _serve_emulator(invocation.args) if pending is None else 128 + pending
    presentation = invocation.presentation
    configure_logging(fmt=presentation.log_format, level=presentation.log_level)
    bind_run(command=invocation.command)
    command = commands.command_for(invocation)
    halt = Halt()
    with wiring.Signals(halt).installed(pending=early_signal) as signals:
        if halt.is_set():  # stopped while starting up: nothing began, nothing to finish
            # ``run`` is a service: any stop on a signal is a clean one.
            return commands.EXIT_OK if isinstance(command, commands.Run) else signals.exit_code()
        try:
            ports = wiring.ports(invocation.connection, halt=halt)
            context = commands.Context(ports=ports, signal_exit_code=signals.exit_code)
            return command.run(context)
        except ReconcilerError as exc:
            command.view.error(exc)
            return signals.exit_code() if isinstance(exc, Interrupted) else commands.EXIT_ERROR
        except BrokenPipeError:
            return commands.EXIT_ERROR


def _serve_emulator(args: EmulatorArgs) -> int:
    try:
        return commands.emulator(args)
    except ReconcilerError as exc:
        View().error(exc)
        return commands.EXIT_ERROR
