"""The command line: parse into a typed invocation, run its one command, map the
result to an exit code.

``main`` is the only place that catches ``ReconcilerError``: the command's view
renders it (text, or JSON under ``--json``) and the exit code is 1 (130 / 143 for
``Interrupted``). Nothing else
is caught, so a bug still shows its traceback.

On a terminal, one console owns stdout and stderr: views, the prompt, structlog
and the standard library's logging all write through it, so the progress line is
cleared before any other line and drawn again after it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from reconciler.cli import commands, wiring
from reconciler.cli.args import EmulatorArgs, from_namespace
from reconciler.cli.parser import ParseError, build_parser
from reconciler.clock import Halt
from reconciler.errors import Interrupted, ReconcilerError, UsageError
from reconciler.logs import bind_run, configure_logging
from reconciler.views import JsonView, Streams, TerminalTraits, View, open_console


def main(
    argv: Sequence[str] | None = None, *, early_signal: Callable[[], int | None] = lambda: None
) -> int:
    """Run one command; ``early_signal`` names a signal that came while starting up
    (``reconciler.entry`` notes it), after which nothing is started."""
    words = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words  # known before parsing, so a usage error is JSON too
    try:
        namespace = build_parser().parse_args(words)
        invocation = from_namespace(namespace, wiring.environment())
    except ParseError as exc:
        sys.stderr.write(exc.usage)
        return _fail(UsageError(str(exc)), as_json=as_json)
    except ReconcilerError as exc:
        return _fail(exc, as_json=as_json)
    if isinstance(invocation.args, EmulatorArgs):
        pending = early_signal()
        return _serve_emulator(invocation.args) if pending is None else 128 + pending
    shown = invocation.presentation
    halt = Halt()
    traits = TerminalTraits(no_color=shown.no_color, dumb=shown.dumb)
    console = open_console(traits, give_up=halt.is_set)
    configure_logging(
        fmt=shown.log_format,
        level=shown.log_level,
        stream=console.err,
        color=console.err_style.enabled,
    )
    bind_run(command=invocation.command)
    streams = Streams(
        out=console.out,
        err=console.err,
        style=console.out_style,
        status=console.status,
        terminal=console.out_is_terminal,
    )
    command = commands.command_for(invocation, streams)
    with wiring.Signals(halt).installed(pending=early_signal) as signals:
        if halt.is_set():  # stopped while starting up: nothing began, nothing to finish
            # ``run`` is a service: any stop on a signal is a clean one.
            return commands.EXIT_OK if isinstance(command, commands.Run) else signals.exit_code()
        try:
            prompt = wiring.TerminalPrompt(halt, out=console.out)
            ports = wiring.ports(invocation.connection, halt=halt, prompt=prompt)
            context = commands.Context(ports=ports, signal_exit_code=signals.exit_code)
            return command.run(context)
        except ReconcilerError as exc:
            command.view.error(exc)
            return signals.exit_code() if isinstance(exc, Interrupted) else commands.EXIT_ERROR
        except BrokenPipeError:
            return commands.EXIT_ERROR
        finally:
            console.clear()


def _fail(exc: ReconcilerError, *, as_json: bool) -> int:
    (JsonView() if as_json else View()).error(exc)
    return commands.EXIT_ERROR


def _serve_emulator(args: EmulatorArgs) -> int:
    try:
        return commands.emulator(args)
    except ReconcilerError as exc:
        View().error(exc)
        return commands.EXIT_ERROR
