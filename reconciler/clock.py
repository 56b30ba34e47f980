"""Time, injected: the clock every layer reads and the cancellable wait it waits on.

``Clock`` is the one port for time: a monotonic reading for durations and
deadlines, the wall clock for timestamps, and ``wait`` — block until an event is
set or some seconds pass. ``SYSTEM_CLOCK`` is the real one; tests pass a fake whose
``wait`` advances its own time instead of sleeping, so limiter, backoff, engine,
store-lock polling and the run loop all run in milliseconds.

``Halt`` is the stop signal of one unit of work, waited on through its clock. A
signal sets the top-level halt; ``child()`` links a halt for one run inside it
(setting the parent sets every child, a child's own stop — a fatal error in that
run — leaves the parent and so a ``run`` loop's next cycle alone).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """Where the reconciler gets its time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for durations and deadlines."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, for timestamps."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Block until ``event`` is set or ``seconds`` pass; whether it is set."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if seconds <= 0:
            return event.is_set()
        # Past TIMEOUT_MAX (about 292 years here) the platform refuses the wait; no
        # caller can tell the difference, so wait that long.
        return event.wait(min(seconds, threading.TIMEOUT_MAX))


SYSTEM_CLOCK: Clock = SystemClock()

#: Never set: waiting on it is a plain sleep that a fake clock can fast-forward.
_NEVER = threading.Event()


def pause(clock: Clock, seconds: float) -> None:
    """Sleep ``seconds`` on ``clock`` (uncancellable: for short, bounded pauses only)."""
    clock.wait(_NEVER, seconds)


def rfc3339(wall: float) -> str:
    """A wall-clock reading as UTC RFC 3339 to the second: ``2026-12-02T03:33:07Z``."""
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Halt:
    """A stop signal shared by every thread of one unit of work.

    ``wait`` returns early, True, once it is set; ``set`` may be called from any
    thread (not from a signal handler: the command line's signal watcher thread
    sets it).
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._event = threading.Event()
        self._children: list[Halt] = []
        self._lock = threading.Lock()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if halted meanwhile."""
        return self.clock.wait(self._event, seconds)

    def set(self) -> None:
        self._event.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @contextlib.contextmanager
    def child(self) -> Iterator[Halt]:
        """A halt for one run inside this one, on the same clock."""
        linked = Halt(self.clock)
        with self._lock:
            self._children.append(linked)
        if self.is_set():
            linked.set()
        try:
            yield linked
        finally:
            with self._lock:
                self._children.remove(linked)
