"""The emulated API's rate limit: sliding one-second windows of arrival times, the
limiter that decides each arrival against them, and the foreign client — synthetic
arrivals at a steady rate that share the window with real requests.

Pure bookkeeping on times handed in by the caller: no clock read, no lock taken (the
core holds its lock around every call), so the window logic runs on fake time.
"""

from __future__ import annotations

import enum
import math
from collections import deque

from reconciler.emulator.documents import ConfigError, parse_choice

WINDOW_SECONDS = 1.0


class SlidingWindow:
    """Event times within the last ``WINDOW_SECONDS``; O(1) amortised per event.

    Times must be added in non-decreasing order. ``peak`` is the most events the
    window ever held at once; ``tightest`` the shortest span that held ``limit + 1``
    events (infinite until there were that many): at 1 s or more, no window ever held
    more than the ``limit`` in force, which ``add`` is given."""

    __slots__ = ("_last", "_times", "peak", "tightest")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._last: deque[float] = deque(maxlen=1)  # the last ``limit + 1`` events
        self.peak = 0
        self.tightest = math.inf

    def count(self, now: float) -> int:
        times = self._times
        horizon = now - WINDOW_SECONDS
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def add(self, now: float, *, limit: int | None = None) -> None:
        self.count(now)
        self._times.append(now)
        self.peak = max(self.peak, len(self._times))
        if limit is not None and limit + 1 != self._last.maxlen:
            self._last = deque(self._last, maxlen=limit + 1)
        last = self._last
        last.append(now)
        if len(last) == last.maxlen and len(last) > 1:
            self.tightest = min(self.tightest, now - last[0])


class RateCounting(str, enum.Enum):
    """Which arrivals fill the limiter's window."""

    #: Every arrival counts, throttled ones too: a client that keeps sending while
    #: throttled stays throttled. The default — a conservative model of a gateway.
    THROTTLED = "throttled"
    #: Only admitted arrivals count: the window drains at once when a client stops.
    ADMITTED = "admitted"

    @classmethod
    def parse(cls, value: object) -> RateCounting:
        return parse_choice(cls, value, what="rate limit counting")


class Limiter:
    """One sliding window per action, shared by every caller of the account."""

    def __init__(self) -> None:
        self._windows: dict[str, SlidingWindow] = {}

    def decide(self, action: str, now: float, *, limit: int, counting: RateCounting) -> bool:
        """Whether an arrival of ``action`` at ``now`` is admitted; ``limit`` 0 admits all.

        The arrival is recorded in the window as ``counting`` says."""
        window = self._windows.setdefault(action, SlidingWindow())
        admitted = limit <= 0 or window.count(now) < limit
        if admitted or counting is RateCounting.THROTTLED:
            window.add(now)
        return admitted


def check_foreign_rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"foreign rate must be a number of requests per second, got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 10_000.0):
        raise ConfigError(f"foreign rate must be within 0..10000 requests per second, got {value}")
    return float(value)


class ForeignTraffic:
    """Another client of the same account: arrivals evenly spaced at ``rate`` per
    second, the first one interval after the rate was set. ``due`` hands out, in
    order, those whose time has come; each is handed out once."""

    def __init__(self, rate: float, *, now: float) -> None:
        self.rate = 0.0
        self._start = now
        self._sent = 0
        self.set_rate(rate, now=now)

    def set_rate(self, rate: float, *, now: float) -> None:
        self.rate = check_foreign_rate(rate)
        self._start = now
        self._sent = 0

    def due(self, now: float) -> list[float]:
        if self.rate <= 0.0:
            return []
        times = []
        # start + k / rate rather than a running sum, so no rounding drift builds up.
        while (moment := self._start + (self._sent + 1) / self.rate) <= now:
            times.append(moment)
            self._sent += 1
        return times
