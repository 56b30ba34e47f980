"""A discrete-event model of runners sharing one account's quota, for tuning and
testing the controller on simulated time.

The server is a sliding one-second window per account that counts every arrival,
throttled ones included (the conservative model of a gateway: a client that keeps
sending while throttled stays throttled). Each runner is the engine's worker pool
in miniature: ``workers`` workers, each drawing a permit from the runner's limiter
before every attempt, waiting for it, sending, and on the answer rewarding or
penalising the limiter and retrying throttled calls after the retry policy's
delay. A foreign client sends at a fixed rate and never backs off (the
application's own backend). Heartbeats of coordinated runners are periodic
callbacks. Everything runs on one simulated clock, in milliseconds of real time.

Used by the tests (convergence of two and three runners, a foreign load) and by
``benchmarks/bench_share_model.py``.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.backoff import RetryPolicy
from reconciler.ratelimit import Limiter, Permit

FOREIGN = "foreign"


@dataclass(frozen=True)
class ServerSpec:
    limit: int = 20
    window: float = 1.0
    counts_throttled: bool = True
    latency: float = 0.1  # seconds from arrival to answer
    latency_jitter: float = 0.01  # extra uniform answer delay
    send_jitter: float = 0.004  # uniform delay from a permit's time to the arrival


@dataclass
class RunnerStats:
    name: str
    tasks: int
    done: int = 0
    failed: int = 0
    calls: int = 0
    throttled: int = 0
    started: float = 0.0
    finished: float | None = None

    @property
    def busy_time(self) -> float:
        return (self.finished or 0.0) - self.started


@dataclass
class Arrival:
    at: float
    caller: str
    admitted: bool


class Server:
    """The account's sliding window, and a record of every arrival."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self._window: deque[float] = deque()
        self.arrivals: list[Arrival] = []

    def arrive(self, at: float, caller: str) -> bool:
        window = self._window
        while window and window[0] <= at - self.spec.window:
            window.popleft()
        admitted = len(window) < self.spec.limit
        if admitted or self.spec.counts_throttled:
            window.append(at)
        self.arrivals.append(Arrival(at, caller, admitted))
        return admitted

    def max_in_window(self, *, callers: frozenset[str] | None = None) -> int:
        """The most arrivals (of ``callers``, default all) in any one-second window."""
        times = sorted(a.at for a in self.arrivals if callers is None or a.caller in callers)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= self.spec.window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def admitted(self, caller: str, start: float, end: float) -> int:
        return sum(
            1 for a in self.arrivals if a.caller == caller and a.admitted and start <= a.at < end
        )


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class Simulation:
    """The event loop: a simulated clock and the things that happen on it."""

    def __init__(self, server: ServerSpec | None = None, *, seed: int = 1) -> None:
        self.server = Server(server or ServerSpec())
        self.now = 0.0
        self.random = random.Random(seed)
        self.runners: dict[str, RunnerStats] = {}
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._dead: set[str] = set()

    def clock(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, _Event(max(when, self.now), next(self._seq), action))

    def every(self, period: float, action: Callable[[], None], *, start: float = 0.0) -> None:
        """Call ``action`` every ``period`` seconds from ``start`` while it returns."""

        def tick() -> None:
            action()
            self.at(self.now + period, tick)

        self.at(start, tick)

    def foreign(self, rate: float, *, start: float = 0.0, stop: float = float("inf")) -> None:
        """A client sending ``rate`` requests per second that never backs off."""
        if rate <= 0:
            return
        times = itertools.count(1)

        def send() -> None:
            if self.now < stop:
                self.server.arrive(self.now, FOREIGN)
                self.at(start + next(times) / rate, send)

        self.at(start + next(times) / rate, send)

    def runner(
        self,
        name: str,
        limiter: Limiter,
        *,
        tasks: int,
        workers: int = 10,
        start: float = 0.0,
        retry: RetryPolicy | None = None,
        on_finish: Callable[[], None] | None = None,
    ) -> RunnerStats:
        """A pool of ``workers`` stopping ``tasks`` tasks through ``limiter``."""
        stats = RunnerStats(name, tasks, started=start)
        self.runners[name] = stats
        _Pool(
            self, stats, limiter, workers=workers, retry=retry or RetryPolicy(), on_finish=on_finish
        )
        return stats

    def kill(self, name: str, *, at: float) -> None:
        """The runner stops at ``at`` as if SIGKILLed: nothing more is sent."""
        self.at(at, lambda: self._dead.add(name))

    def is_dead(self, name: str) -> bool:
        return name in self._dead

    def run(self, *, until: float) -> None:
        while self._events and self._events[0].at <= until:
            event = heapq.heappop(self._events)
            self.now = event.at
            event.action()
        self.now = max(self.now, until)

    def finished(self) -> bool:
        return all(stats.finished is not None for stats in self.runners.values())


class _Pool:
    """One runner's workers (the engine's pool, reduced to its timing)."""

    def __init__(
        self,
        sim: Simulation,
        stats: RunnerStats,
        limiter: Limiter,
        *,
        workers: int,
        retry: RetryPolicy,
        on_finish: Callable[[], None] | None,
    ) -> None:
        self.sim = sim
        self.stats = stats
        self.limiter = limiter
        self.retry = retry
        self.todo = stats.tasks
        self.active = 0
        self.on_finish = on_finish
        for _ in range(min(workers, self.todo)):
            self.active += 1
            sim.at(stats.started, self._next_task)

    def _next_task(self) -> None:
        if self.todo == 0 or self.sim.is_dead(self.stats.name):
            self.active -= 1
            if (
                self.active == 0
                and self.stats.finished is None
                and not self.sim.is_dead(self.stats.name)
            ):
                self.stats.finished = self.sim.now
                if self.on_finish is not None:
                    self.on_finish()
            return
        self.todo -= 1
        self._attempt(attempt=1, started=self.sim.now)

    def _attempt(self, *, attempt: int, started: float) -> None:
        permit = self.limiter.reserve()
        self.sim.at(permit.at, lambda: self._at_slot(permit, attempt=attempt, started=started))

    def _at_slot(self, permit: Permit, *, attempt: int, started: float) -> None:
        if self.sim.is_dead(self.stats.name):
            return
        if not self.limiter.confirm(permit):
            self._attempt(attempt=attempt, started=started)
            return
        spec = self.sim.server.spec
        arrival = self.sim.now + spec.send_jitter * self.sim.random.random()

        def arrive() -> None:
            admitted = self.sim.server.arrive(self.sim.now, self.stats.name)
            self.stats.calls += 1
            answer = self.sim.now + spec.latency + spec.latency_jitter * self.sim.random.random()
            self.sim.at(
                answer, lambda: self._answered(permit, admitted, attempt=attempt, started=started)
            )

        self.sim.at(arrival, arrive)

    def _answered(self, permit: Permit, admitted: bool, *, attempt: int, started: float) -> None:
        if self.sim.is_dead(self.stats.name):
            return
        if admitted:
            self.limiter.reward(permit)
            self.stats.done += 1
            self._next_task()
            return
        self.stats.throttled += 1
        self.limiter.penalize(permit)
        delay = self.retry.delay(attempt, throttled=True, rand=self.sim.random.random)
        elapsed = self.sim.now - started
        if not self.retry.may_retry(attempt, elapsed=elapsed, next_delay=delay):
            self.stats.failed += 1
            self._next_task()
            return
        self.sim.at(
            self.sim.now + delay, lambda: self._attempt(attempt=attempt + 1, started=started)
        )


@dataclass(frozen=True)
class Outcome:
    """What a simulated run achieved."""

    elapsed: float
    done: dict[str, int]
    rates: dict[str, float]  # stops per second over each runner's own run
    combined: float  # stops per second, all runners, first start to last finish
    throttled_pct: float  # of all runner calls
    max_in_window: int  # runner calls only
    max_with_foreign: int


def outcome(sim: Simulation) -> Outcome:
    runners = sim.runners.values()
    start = min(r.started for r in runners)
    end = max((r.finished if r.finished is not None else sim.now) for r in runners)
    done = {r.name: r.done for r in runners}
    calls = sum(r.calls for r in runners)
    throttled = sum(r.throttled for r in runners)
    rates = {
        r.name: r.done / max(1e-9, (r.finished if r.finished is not None else sim.now) - r.started)
        for r in runners
    }
    names = frozenset(done)
    counts = Counter(a.caller for a in sim.server.arrivals)
    del counts
    return Outcome(
        elapsed=end - start,
        done=done,
        rates=rates,
        combined=sum(done.values()) / max(1e-9, end - start),
        throttled_pct=100.0 * throttled / calls if calls else 0.0,
        max_in_window=sim.server.max_in_window(callers=names),
        max_with_foreign=sim.server.max_in_window(),
    )
