"""The process entry point: the ``reconciler`` command and ``python -m reconciler``.

Its one job is to take SIGINT and SIGTERM before anything else is imported.
Starting up imports structlog, YAML and the command line — a fifth of a second in
which Ctrl-C would otherwise end in a ``KeyboardInterrupt`` traceback. Until the
command line's own signal handling takes over, a signal is only noted here (the
handler sets a value and does nothing else); the command line then stops at once,
before doing anything, with the signal's exit code (130 / 143).

It also gives any standard stream the parent closed a /dev/null: otherwise the next
file opened takes descriptor 0, 1 or 2 (the signal wake-up pipe, the state file) and
a read of ``-`` or a print would land there.

Once its handlers are in place it unblocks the two signals: a parent that
spawned it from a thread with them blocked (the mask is inherited across exec)
would otherwise leave it deaf to Ctrl-C and SIGTERM.

What no Python program controls is the interpreter's own start-up before this
module runs (a few tens of milliseconds): a Ctrl-C then is Python's.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


class _EarlySignal:
    """Notes the first SIGINT / SIGTERM that arrives while the program starts."""

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    def pending(self) -> int | None:
        return self.received


def _fill_closed_standard_streams() -> None:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: fd
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)


def main() -> int:
    _fill_closed_standard_streams()
    early = _EarlySignal()
    taken = (signal.SIGINT, signal.SIGTERM)
    for signum in taken:
        signal.signal(signum, early)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, taken)
    from reconciler.cli import main as cli_main  # the imports this module guards

    return cli_main(early_signal=early.pending)
