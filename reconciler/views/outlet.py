"""Writing to stdout or stderr when whoever reads them may stop reading.

A pipe nobody drains, or a terminal stopped with Ctrl-S, blocks every ``write``
once its buffer is full, and a blocked ``write`` cannot be interrupted: the thread
that logs a task's outcome, and every thread behind it on the console's lock, would
wait for ever, and a SIGINT / SIGTERM could no longer end the run. ``write_out``
waits for room with ``poll`` instead, in short slices, and asks ``give_up`` between
them: until a signal, it waits as long as the reader needs (a slow reader is not an
error); after one, a stream that stays full for ``STALL_GRACE`` seconds is marked
stalled and what could not be written is dropped, so the run commits what finished
and exits. Later writes to a stalled stream drop whatever does not fit at once.

Streams without a file descriptor (a ``StringIO`` in tests) are written directly.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import TextIO

#: How long a stream may stay full after a signal before its text is dropped.
STALL_GRACE = 1.0
#: At most this much is written at once: a pipe that polls writable has room for it.
_PIPE_BUF = 512
_SLICE_MS = 100


class Outlet:
    """One stream's writer (see the module docstring)."""

    def __init__(self, target: TextIO, give_up: Callable[[], bool] | None) -> None:
        self.target = target
        self._give_up = give_up
        self._fd = _fileno(target)
        self.stalled = False

    def write_out(self, text: str) -> None:
        if self._fd is None or self._give_up is None:
            self.target.write(text)
            self.target.flush()
            return
        self.target.flush()  # anything written through the TextIO itself goes first
        encoding = getattr(self.target, "encoding", None) or "utf-8"
        errors = getattr(self.target, "errors", None) or "strict"
        data = memoryview(text.encode(encoding, errors))
        while data:
            if not self._room():
                return  # dropped: the stream stalled after a signal
            data = data[os.write(self._fd, data[:_PIPE_BUF]) :]

    def _room(self) -> bool:
        """Wait until the stream takes more; False once it counts as stalled."""
        assert self._fd is not None
        poller = select.poll()
        poller.register(self._fd, select.POLLOUT)
        full_since: float | None = None
        while not poller.poll(0 if self.stalled else _SLICE_MS):
            if self._give_up is not None and self._give_up():
                full_since = time.monotonic() if full_since is None else full_since
                if self.stalled or time.monotonic() - full_since >= STALL_GRACE:
                    self.stalled = True
                    return False
        return True


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both
        return None
