"""Fakes for in-process tests: a clock whose waits advance its own time."""

from __future__ import annotations

import threading


class FakeClock:
    """Fake time: ``wait`` returns at once, moving the clock on instead of sleeping.

    Thread-safe, so worker threads and the calling thread can share it; every wait
    that was not cut short by its event is recorded in ``waits``.
    """

    def __init__(self, *, start: float = 0.0, epoch: float = 1_700_000_000.0) -> None:
        self.now = start
        self.epoch = epoch
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def wall(self) -> float:
        with self._lock:
            return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        with self._lock:
            self.now += max(0.0, seconds)
            self.waits.append(seconds)
        return event.is_set()
