"""Arrival bookkeeping: every API request (and every synthetic request of the
foreign client) meets the account's limiter here, and is tallied — in all, per
caller (SecretId) and for the foreign client — with the most arrivals any sliding
one-second window held.

No clock and no lock of its own: the core passes the time in and holds its lock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from reconciler.emulator.api import JsonDict
from reconciler.emulator.window import ForeignTraffic, Limiter, RateCounting, SlidingWindow

#: The foreign client stops tasks, as the application's own backend would.
FOREIGN_ACTION = "StopStreamIngest"
#: The caller of requests without a readable TC3 credential.
UNSIGNED_CALLER = "<unsigned>"


class Tally:
    """Arrivals by action: how many, how many admitted or rate-limited, the most
    arrivals (and admitted arrivals) in any one-second window, and the shortest span
    that held one arrival more than the action's limit (how near the limit came to
    being passed: under 1 s, it was)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self._arrivals: dict[str, SlidingWindow] = {}
        self._admitted: dict[str, SlidingWindow] = {}

    def record(self, action: str, now: float, *, admitted: bool, limit: int) -> None:
        self.calls[action] += 1
        self._arrivals.setdefault(action, SlidingWindow()).add(now, limit=limit)
        if admitted:
            self.accepted[action] += 1
            self._admitted.setdefault(action, SlidingWindow()).add(now)
        else:
            self.rate_limited[action] += 1

    def peaks(self) -> dict[str, int]:
        return {action: window.peak for action, window in sorted(self._arrivals.items())}

    def admitted_peaks(self) -> dict[str, int]:
        return {action: window.peak for action, window in sorted(self._admitted.items())}

    def tightest(self) -> dict[str, float]:
        """Per limited action, the shortest span (seconds) that held limit + 1 arrivals,
        once there were that many."""
        windows = sorted(self._arrivals.items())
        return {action: round(w.tightest, 6) for action, w in windows if math.isfinite(w.tightest)}

    def to_json(self) -> JsonDict:
        return {
            "calls": dict(sorted(self.calls.items())),
            "accepted": dict(sorted(self.accepted.items())),
            "rate_limited": dict(sorted(self.rate_limited.items())),
            "max_in_window": self.peaks(),
            "max_accepted_in_window": self.admitted_peaks(),
            "tightest_over_limit": self.tightest(),
        }


class Traffic:
    """The limiter, the foreign client and the tallies of one emulated account."""

    def __init__(self, *, foreign_rate: float, now: float) -> None:
        self._limiter = Limiter()
        self._foreign = ForeignTraffic(foreign_rate, now=now)
        self._latest = now  # the last arrival decided
        self.reset()

    def reset(self) -> None:
        """Forget the tallies; the limiter's windows and the foreign client go on."""
        self.requests = Tally()  # the real requests
        self.foreign = Tally()  # the foreign client's synthetic ones
        self.server = Tally()  # both: all the server saw
        self.callers: dict[str, Tally] = {}

    def set_foreign_rate(self, rate: float, *, now: float) -> None:
        self._foreign.set_rate(rate, now=now)

    def catch_up(
        self, now: float, *, limit_for: Callable[[str], int], counting: RateCounting
    ) -> None:
        """Let the foreign client's arrivals due by ``now`` meet the limiter, in order;
        a real arrival decided later is decided at ``now`` at the earliest."""
        self._latest = max(now, self._latest)
        for moment in self._foreign.due(now):
            limit = limit_for(FOREIGN_ACTION)
            admitted = self._limiter.decide(FOREIGN_ACTION, moment, limit=limit, counting=counting)
            self.foreign.record(FOREIGN_ACTION, moment, admitted=admitted, limit=limit)
            self.server.record(FOREIGN_ACTION, moment, admitted=admitted, limit=limit)

    def arrive(
        self,
        action: str,
        now: float,
        *,
        caller: str,
        limit_for: Callable[[str], int],
        counting: RateCounting,
    ) -> bool:
        """One real request's arrival; whether the limiter admits it.

        Arrivals are decided in the order they are handed in: one stamped before the
        last decided (its handler thread was slower) is taken as arriving with it."""
        now = max(now, self._latest)  # catch_up moves the order on to it
        self.catch_up(now, limit_for=limit_for, counting=counting)
        limit = limit_for(action)
        admitted = self._limiter.decide(action, now, limit=limit, counting=counting)
        for tally in (self.requests, self.server, self.callers.setdefault(caller, Tally())):
            tally.record(action, now, admitted=admitted, limit=limit)
        return admitted

    def to_json(self) -> JsonDict:
        """The request tallies at the top level (``calls``, ``accepted``, ...), plus
        ``foreign``, ``with_foreign`` and ``callers``."""
        foreign = self.foreign
        return {
            **self.requests.to_json(),
            "foreign": {
                "action": FOREIGN_ACTION,
                "rate": self._foreign.rate,
                "arrivals": foreign.calls[FOREIGN_ACTION],
                "admitted": foreign.accepted[FOREIGN_ACTION],
                "throttled": foreign.rate_limited[FOREIGN_ACTION],
            },
            "with_foreign": {
                "max_in_window": self.server.peaks(),
                "max_accepted_in_window": self.server.admitted_peaks(),
                "tightest_over_limit": self.server.tightest(),
            },
            "callers": {name: tally.to_json() for name, tally in sorted(self.callers.items())},
        }
