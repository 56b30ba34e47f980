"""A global, thread-safe request-rate limiter with an injected clock.

The guarantee: no more than ``rate`` permits are handed out in any sliding window
of ``window + guard`` seconds (by permit time), and permits are spaced at least
``(window + guard) / rate`` apart, so they never bunch. Arrival jitter between
the permit and the server is absorbed by ``guard``: the server, counting arrivals
in a one-second window, sees at most ``rate`` as long as that jitter stays under
``guard``.

The first permits of a run are cold: each worker's first call opens its
connection (a TCP and TLS handshake on the real endpoint), so those calls reach
the server later than their slots while the warm calls one window on do not. The
permits one window after the first ``rate`` therefore keep ``cold_guard`` more
away — a one-off cost per run that keeps the first window under the quota too
(with up to ``rate`` workers, every cold call is among the first ``rate``).

On throttling (``penalize``) the effective rate halves and nothing is sent for a
``pause`` (one server window, so the server's count drains); each success then
wins back a slice of the rate until the configured ceiling is reached again
(additive increase, multiplicative decrease).

The limiter never sleeps itself: ``reserve`` books the next free slot and returns
its time; the caller waits (on a cancellable event in production, on a fake clock
in tests).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Tuning of the limiter; defaults fit TRTC's 20 requests per second."""

    rate: float = 20.0
    window: float = 1.0
    guard: float = 0.015  # seconds of arrival jitter absorbed
    cold_guard: float = 0.2  # extra, once, for the first permits' connection set-up
    min_rate: float = 1.0
    decrease_factor: float = 0.5
    recovery_per_success: float = 0.05  # fraction of the ceiling won back per success
    pause: float = 1.0  # seconds of silence after a throttled answer

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("rate must be positive")
        if self.window <= 0 or self.guard < 0 or self.cold_guard < 0:
            raise ValueError("window must be positive and the guards non-negative")


class RateLimiter:
    """Hands out send slots; see the module docstring for the guarantee."""

    def __init__(self, settings: RateSettings, *, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._capacity = max(1, int(settings.rate))
        self._span = settings.window + settings.guard
        self._ceiling = settings.rate
        self._current = settings.rate
        self._slots: deque[float] = deque(maxlen=self._capacity)
        self._issued = 0
        self._paused_until = float("-inf")
        self._throttled = 0

    @property
    def current_rate(self) -> float:
        with self._lock:
            return self._current

    @property
    def throttled(self) -> int:
        with self._lock:
            return self._throttled

    def reserve(self) -> float:
        """Book the earliest allowed slot and return its (clock) time."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._paused_until)
            if self._slots:
                interval = max(self._span / self._ceiling, 1.0 / self._current)
                slot = max(slot, self._slots[-1] + interval)
                if len(self._slots) == self._capacity:
                    cold = self._issued < 2 * self._capacity  # one window after the first
                    span = self._span + (self._settings.cold_guard if cold else 0.0)
                    slot = max(slot, self._slots[0] + span)
            self._slots.append(slot)
            self._issued += 1
            return slot

    def penalize(self) -> None:
        """The server said RequestLimitExceeded: slow down and pause one window."""
        settings = self._settings
        with self._lock:
            self._throttled += 1
            self._current = max(settings.min_rate, self._current * settings.decrease_factor)
            self._paused_until = max(self._paused_until, self._clock() + settings.pause)

    def reward(self) -> None:
        """A request went through: win back part of the rate."""
        with self._lock:
            if self._current < self._ceiling:
                step = self._ceiling * self._settings.recovery_per_success
                self._current = min(self._ceiling, self._current + step)
