"""The circuit breaker: stop a run in which every call fails to reach the endpoint.

With the endpoint down, each task would otherwise retry to its limit — minutes
for a hundred tasks, hours for ten thousand — while nothing notices that every
call fails the same way. The breaker counts connection-level failures
(``ErrorClass.UNREACHABLE``: refused, DNS, TLS, connect timeout) in a row across
all workers; any answer from the server — a success or any other error — resets
the count. At ``threshold`` it trips: the pool halts as on a fatal error, with one
error (code ``UNREACHABLE_CODE``) that says the endpoint is unreachable.
"""

from __future__ import annotations

import threading

from reconciler.domain import CallError
from reconciler.trtc import UNREACHABLE_CODE


class Breaker:
    """Consecutive connection-level failures across every worker of one pool."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._streak = 0
        self._lock = threading.Lock()

    def unreachable(self, error: CallError) -> CallError | None:
        """Count one call that never reached the endpoint; the error that stops the
        run when this one trips the breaker, else None."""
        with self._lock:
            self._streak += 1
            streak = self._streak
        if streak != self.threshold:
            return None
        return CallError(
            UNREACHABLE_CODE,
            f"{streak} calls in a row failed without reaching it; the last: {error.message}",
        )

    def answered(self) -> None:
        """The endpoint answered a call (whatever it said): it is reachable."""
        with self._lock:
            self._streak = 0
