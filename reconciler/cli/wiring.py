"""The outside world, wired for one process: signals, the terminal prompt, and the
ports an operation runs against.

Signals only set a flag. The handler itself does nothing (it takes no lock and
writes no byte, so a signal landing in the middle of a log line cannot deadlock
the process): the interpreter's wake-up descriptor carries the signal number to a
watcher thread, which sets the halt. A second signal ends the process at once.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TextIO

import structlog

from reconciler.cli.args import QUOTA_OFF, Connection, QuotaOptions
from reconciler.clock import Halt
from reconciler.logs import add_secrets
from reconciler.operations import Ports, Prompt, TrtcConnector
from reconciler.operations.ports import Alone, QuotaPort
from reconciler.quota import SharedQuotaConnector
from reconciler.state import STATE_ENV, StateStore, open_store
from reconciler.state.location import LocationError, PostgresLocation, parse_location
from reconciler.trtc import parse_endpoint
from reconciler.views import is_terminal
from reconciler.views.console import TextSink

log = structlog.get_logger("reconciler.cli")

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Signals:
    """SIGINT / SIGTERM → the halt, through a watcher thread (see the module docstring)."""

    def __init__(self, halt: Halt) -> None:
        self.halt = halt
        self.received: signal.Signals | None = None

    @contextlib.contextmanager
    def installed(self, *, pending: Callable[[], int | None] = lambda: None) -> Iterator[Signals]:
        """Take SIGINT / SIGTERM for the ``with`` block. ``pending`` names a signal that
        arrived before (while starting up): it is delivered at once."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        previous = {s: signal.signal(s, _ignore) for s in EXIT_SIGNAL}
        watcher = threading.Thread(
            target=self._watch, args=(read_fd,), name="reconciler-signals", daemon=True
        )
        watcher.start()
        early = pending()  # read after taking over: no signal falls between the two
        if early is not None:
            self._deliver(signal.Signals(early))
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
            os.close(write_fd)  # the watcher reads EOF and ends
            watcher.join(timeout=1.0)
            os.close(read_fd)

    def _watch(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 1)
            except OSError:
                return
            if not data:
                return
            try:
                signum = signal.Signals(data[0])
            except ValueError:
                continue
            if signum in EXIT_SIGNAL:
                self._deliver(signum)

    def _deliver(self, signum: signal.Signals) -> None:
        if self.received is not None:  # a second signal: stop now
            os._exit(EXIT_SIGNAL[signum])
        self.received = signum
        # The halt first: the log line waits for stderr, which may never drain.
        self.halt.set()
        log.warning("signal received: finishing in-flight calls", signal=signum.name)

    def exit_code(self) -> int:
        """The exit code of a run this signal interrupted (130 / 143)."""
        return EXIT_SIGNAL.get(self.received or signal.SIGINT, 130)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: nothing (the watcher thread acts)."""


class TerminalPrompt:
    """Asks on stdout, reads a line from stdin; a halt cancels the wait."""

    def __init__(self, halt: Halt, *, stdin: TextIO | None = None, out: TextSink | None = None):
        self._halt = halt
        self._in = stdin or sys.stdin
        self._out = out or sys.stdout

    @property
    def interactive(self) -> bool:
        return is_terminal(self._in)

    def ask(self, question: str) -> str | None:
        print(f"\n{question}\n", file=self._out)
        print("  Enter a value: ", end="", file=self._out, flush=True)
        while not self._halt.is_set():
            ready, _, _ = select.select([self._in], [], [], 0.1)
            if ready:
                line = self._in.readline()
                return line if line else None
        print(file=self._out, flush=True)
        return None


def ports(connection: Connection, *, halt: Halt, prompt: Prompt | None = None) -> Ports:
    """The production ports for ``connection``: nothing is opened until an operation asks."""
    endpoint = parse_endpoint(connection.endpoint)

    def open_state() -> StateStore:
        return open_store(connection.state, environ=connection.environ, halt=halt)

    cloud = TrtcConnector(
        endpoint=endpoint,
        request_timeout=connection.request_timeout,
        environ=connection.environ,
        credentials=connection.credentials,
        clock=halt.clock,
        on_secrets=add_secrets,
    )
    return Ports(
        open_store=open_state,
        cloud=cloud,
        halt=halt,
        prompt=prompt or TerminalPrompt(halt),
        quota=quota_port(
            connection.quota, state=connection.state or connection.environ.get(STATE_ENV)
        ),
    )


def quota_port(options: QuotaOptions, *, state: str | None) -> QuotaPort:
    """Shared through ``--quota``'s database, else through the state's when it is
    PostgreSQL; alone with ``--quota off`` or a state file."""
    if options.location == QUOTA_OFF:
        return Alone("the shared quota is off (--quota off)")
    location = options.location or (state if state and _on_postgres(state) else None)
    if location is None:
        return Alone("the state is not on PostgreSQL and no shared quota is configured")
    return SharedQuotaConnector(location, group=options.group, operation=options.operation)


def _on_postgres(state: str) -> bool:
    """Whether ``state`` names a PostgreSQL store (a bad one is the store's to report)."""
    try:
        return isinstance(parse_location(state), PostgresLocation)
    except LocationError:
        return False


def environment() -> dict[str, str]:
    """The process environment, copied once at start-up."""
    return dict(os.environ)
