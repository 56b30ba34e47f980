"""A watchdog over database calls: each one bounded in time, and given up shortly
after a halt.

A server that stops answering — paused (``SIGSTOP``), or behind a network black
hole that keeps the TCP connection open — blocks a driver call for good, and a
server-side ``statement_timeout`` cannot fire on a server that does not run. So
the store runs each call inside ``CallGuard.call(cancel)``; one watchdog thread
per store looks at the call in flight every ``tick`` seconds and, once it has run
past its ``timeout`` or past ``grace`` seconds after the halt was set, runs its
``cancel`` — for PostgreSQL, shutting down the connection's socket, which ends
libpq's wait with an error at once. The call then fails in its own thread and the
store reports why (``reason``).

A call that cannot be cancelled at all — connecting, where libpq owns the socket
until it is done — runs through ``abandonable`` instead: on a helper thread, waited
for here; once ``grace`` seconds have passed after a halt it is abandoned (its
result, should one still come, is discarded) and the guard trips.

A call cut short by a halt trips the guard: every later call fails at once
(``GuardTripped``), so a graceful stop does not queue up behind a server that has
shown it does not answer.

Times are read from, and the watchdog waits on, the halt's clock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reconciler.clock import Halt

T = TypeVar("T")


class GuardTripped(Exception):
    """Internal: a halt already cut a call short; no more calls are made."""


@dataclass
class _Call:
    started: float
    cancel: Callable[[], None]
    timeout: float
    cut: str | None = field(default=None)  # why the watchdog cancelled it


class CallGuard:
    """Bounds calls on one connection at a time (see the module docstring)."""

    def __init__(
        self, halt: Halt, *, timeout: float, grace: float, tick: float = 0.1, name: str = "db"
    ) -> None:
        self._halt = halt
        self._clock = halt.clock
        self.timeout = timeout
        self.grace = grace
        self._tick = tick
        self._name = name
        self._lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self._halted_at: float | None = None
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.tripped = False

    @contextlib.contextmanager
    def call(self, cancel: Callable[[], None], *, timeout: float | None = None) -> Iterator[_Call]:
        """Run the ``with`` block as one guarded call; ``cancel`` interrupts it from
        the watchdog thread. The yielded value's ``cut`` says afterwards whether (and
        why) it was cancelled."""
        if self.tripped:
            raise GuardTripped
        self._start()
        entry = _Call(self._clock.monotonic(), cancel, self.timeout if timeout is None else timeout)
        with self._lock:
            self._calls[id(entry)] = entry
        try:
            yield entry
        finally:
            with self._lock:
                del self._calls[id(entry)]

    def abandonable(self, work: Callable[[], T], *, discard: Callable[[T], None]) -> T:
        """``work()``, run on a helper thread so that a halt can stop waiting for it
        (see the module docstring); raises what it raises, or ``GuardTripped``."""
        if self.tripped:
            raise GuardTripped
        done = threading.Event()
        box: dict[str, Any] = {}
        lock = threading.Lock()

        def run() -> None:
            try:
                value = work()
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
            else:
                with lock:
                    if box.get("abandoned"):
                        discard(value)
                        return
                    box["value"] = value
            done.set()

        threading.Thread(target=run, name=f"reconciler-{self._name}-connect", daemon=True).start()
        halted_at = None
        while not self._clock.wait(done, self._tick):
            if not self._halt.is_set():
                continue
            now = self._clock.monotonic()
            halted_at = now if halted_at is None else halted_at
            if now - halted_at >= self.grace:
                with lock:
                    if not done.is_set():
                        box["abandoned"] = self.tripped = True
                        raise GuardTripped
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the watchdog (it is started again by the next call)."""
        self._closed.set()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(timeout=1.0)

    def _start(self) -> None:
        if self._watchdog is not None and self._watchdog.is_alive():
            return
        self._closed = threading.Event()
        self._watchdog = threading.Thread(
            target=self._watch,
            args=(self._closed,),
            name=f"reconciler-{self._name}-guard",
            daemon=True,
        )
        self._watchdog.start()

    def _watch(self, closed: threading.Event) -> None:
        while not self._clock.wait(closed, self._tick):
            now = self._clock.monotonic()
            if self._halt.is_set() and self._halted_at is None:
                self._halted_at = now
            with self._lock:  # the call cannot end (and its descriptor close) meanwhile
                for entry in self._calls.values():
                    reason = None if entry.cut else self._overdue(entry, now)
                    if reason is None:
                        continue
                    entry.cut = reason
                    self.tripped = self.tripped or reason == "halt"
                    with contextlib.suppress(OSError):
                        entry.cancel()

    def _overdue(self, entry: _Call, now: float) -> str | None:
        if now - entry.started >= entry.timeout:
            return "timeout"
        if self._halted_at is not None and now - max(entry.started, self._halted_at) >= self.grace:
            return "halt"
        return None
