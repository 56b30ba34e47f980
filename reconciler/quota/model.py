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

import contextlib
import heapq
import itertools
import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.backoff import RetryPolicy
from reconciler.errors import QuotaUnavailable
from reconciler.quota.member import BoardView, Identity, Membership, SharedLimiter
from reconciler.quota.schedule import HEARTBEAT, MemberRow, Schedule, plan
from reconciler.ratelimit import Limiter, Permit, RateLimiter, RateSettings

FOREIGN = "foreign"


@dataclass(frozen=True)
class ServerSpec:
    limit: int = 20
    window: float = 1.0
    counts_throttled: bool = True
    latency: float = 0.1  # seconds from arrival to answer
    latency_jitter: float = 0.01  # extra uniform answer delay
    send_jitter: float = 0.004  # uniform delay from a permit's time to the arrival
    cold_delay: float = 0.0  # extra uniform delay of a worker's first call
    stall_chance: float = 0.0  # how often a send is held up (a descheduled CPU)...
    stall: float = 0.0  # ...by up to this long, uniformly


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

    def every(self, period: float, action: Callable[[], bool], *, start: float = 0.0) -> None:
        """Call ``action`` every ``period`` seconds from ``start`` while it returns True."""

        def tick() -> None:
            if action():
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
        offset: float = 0.0,
    ) -> RunnerStats:
        """A pool of ``workers`` stopping ``tasks`` tasks through ``limiter``, whose
        clock reads ``offset`` more than the simulation's."""
        stats = RunnerStats(name, tasks, started=start)
        self.runners[name] = stats
        policy = retry or RetryPolicy()
        _Pool(
            self, stats, limiter, workers=workers, retry=policy, on_finish=on_finish, offset=offset
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
        offset: float,
    ) -> None:
        self.sim = sim
        self.offset = offset
        self.stats = stats
        self.limiter = limiter
        self.retry = retry
        self.todo = stats.tasks
        self.workers = min(workers, self.todo)
        self.call_time = 0.0  # running average of a call's duration
        self.active = 0
        self.on_finish = on_finish
        sim.at(stats.started, self._spawn)

    def _spawn(self) -> None:
        """One more worker, while one waits less for its slot than a call takes (as
        the engine's pool does); each worker's first call opens its connection: cold."""
        if self.active < self.workers and self.todo > 0:
            self.active += 1
            self._next_task(cold=True)

    def _next_task(self, *, cold: bool = False) -> None:
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
        self._attempt(_Call(started=self.sim.now, cold=cold))

    def _attempt(self, call: _Call) -> None:
        permit = self.limiter.reserve(cold=call.cold)
        when = permit.at - self.offset
        if permit.booked and when - self.sim.now <= self.call_time:
            self.sim.at(self.sim.now, self._spawn)
        self.sim.at(when, lambda: self._at_slot(permit, call))

    def _at_slot(self, permit: Permit, call: _Call) -> None:
        if self.sim.is_dead(self.stats.name):
            return
        if not self.limiter.confirm(permit):
            self._attempt(call)
            return
        spec = self.sim.server.spec
        arrival = self.sim.now + spec.send_jitter * self.sim.random.random()
        if call.cold:
            arrival += spec.cold_delay * self.sim.random.random()
        if self.sim.random.random() < spec.stall_chance:
            arrival += spec.stall * self.sim.random.random()

        sent = self.sim.now

        def arrive() -> None:
            admitted = self.sim.server.arrive(self.sim.now, self.stats.name)
            self.stats.calls += 1
            answer = self.sim.now + spec.latency + spec.latency_jitter * self.sim.random.random()
            self.sim.at(answer, lambda: self._answered(permit, admitted, call, sent=sent))

        self.sim.at(arrival, arrive)

    def _answered(self, permit: Permit, admitted: bool, call: _Call, *, sent: float) -> None:
        if self.sim.is_dead(self.stats.name):
            return
        took = self.sim.now - sent
        self.call_time += (took - self.call_time) * (0.2 if self.call_time else 1.0)
        if admitted:
            self.limiter.reward(permit)
            self.stats.done += 1
            self._next_task()
            return
        self.stats.throttled += 1
        self.limiter.penalize(permit)
        delay = self.retry.delay(call.attempt, throttled=True, rand=self.sim.random.random)
        elapsed = self.sim.now - call.started
        if not self.retry.may_retry(call.attempt, elapsed=elapsed, next_delay=delay):
            self.stats.failed += 1
            self._next_task()
            return
        again = _Call(started=call.started, attempt=call.attempt + 1)
        self.sim.at(self.sim.now + delay, lambda: self._attempt(again))


@dataclass(frozen=True)
class _Call:
    """One task's call: its attempt number, when it began, whether it is cold."""

    started: float
    attempt: int = 1
    cold: bool = False


class MemoryBoard:
    """The group's table, in memory: the same transaction logic as the PostgreSQL
    board (``schedule.plan``) on the simulation's clock, plus ``skew`` seconds (the
    database's clock need not agree with any runner's)."""

    def __init__(self, sim: Simulation, *, skew: float = 1_700_000_000.0) -> None:
        self.sim = sim
        self.skew = skew
        self.schedule = Schedule()
        self.quiet_until = 0.0
        self.rows: dict[str, MemberRow] = {}
        self.sessions: set[str] = set()  # members whose session is open
        self.down_from = math.inf
        self.beats = 0

    def beat(self, me: Identity, *, leaving: bool = False) -> BoardView:
        now = self.now()
        self.beats += 1
        self.sessions.add(me.member)
        mine = self.rows.get(me.member)
        row = MemberRow(
            me.member,
            mine.joined if mine else now,
            mine.read_at if mine else 0.0,
            me.interval,
            True,
        )
        rows = [
            MemberRow(r.member, r.joined, r.read_at, r.interval, r.member in self.sessions)
            for r in self.rows.values()
        ]
        result = plan(
            self.schedule, rows, me=row, leaving=leaving, now=now, quiet_until=self.quiet_until
        )
        self.schedule, self.quiet_until = result.schedule, result.quiet_until
        for member in result.remove:
            self.rows.pop(member, None)
        if leaving:
            self.rows.pop(me.member, None)
        else:
            self.rows[me.member] = MemberRow(me.member, row.joined, now, me.interval, True)
        return BoardView(self.schedule, now)

    def now(self) -> float:
        if self.sim.now >= self.down_from:
            raise QuotaUnavailable("shared quota (model): the database went away")
        return self.sim.now + self.skew

    def close(self) -> None:
        pass


class SimClock:
    """A runner's local clock in the model: simulated time plus its own offset."""

    def __init__(self, sim: Simulation, offset: float) -> None:
        self.sim = sim
        self.offset = offset

    def monotonic(self) -> float:
        return self.sim.now + self.offset

    def wall(self) -> float:
        return self.sim.now + self.offset

    def wait(self, event: object, seconds: float) -> bool:
        raise AssertionError("the model schedules events; nothing waits")


def shared_runner(
    sim: Simulation,
    board: MemoryBoard,
    name: str,
    *,
    tasks: int,
    start: float = 0.0,
    settings: RateSettings | None = None,
    workers: int = 10,
    offset: float = 0.0,
) -> SharedLimiter:
    """A runner of ``board``'s group: it joins at ``start``, heartbeats every
    ``HEARTBEAT`` while it runs, and leaves when it finishes. ``offset`` sets its
    local clock apart from everyone else's."""
    settings = settings or RateSettings()
    clock = SimClock(sim, offset)
    identity = Identity(
        member=name,
        group="model",
        action="StopStreamIngest",
        host="model",
        pid=0,
        operation="apply",
        rate=settings.rate,
        interval=(settings.window + settings.shared_guard) / settings.rate,
    )
    membership = Membership(board, identity, clock=clock, cold_guard=settings.cold_guard)
    limiter = SharedLimiter(membership, settings, clock=clock)

    def beat(*, leaving: bool = False) -> bool:
        if limiter.alone or sim.is_dead(name):
            return False
        with contextlib.suppress(QuotaUnavailable):
            membership.beat(leaving=leaving)
        return True

    def join() -> None:
        beat()
        sim.every(HEARTBEAT, beat, start=sim.now + HEARTBEAT)

    def leave() -> None:
        beat(leaving=True)
        sim.kill(name, at=sim.now)  # nothing more from it, heartbeats included

    sim.at(start, join)
    sim.runner(
        name, limiter, tasks=tasks, workers=workers, start=start, on_finish=leave, offset=offset
    )
    return limiter


def alone_runner(
    sim: Simulation, name: str, *, tasks: int, start: float = 0.0, workers: int = 10
) -> RateLimiter:
    """A runner coordinating with no one."""
    limiter = RateLimiter(RateSettings(), clock=sim.clock)
    sim.runner(name, limiter, tasks=tasks, workers=workers, start=start)
    return limiter


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
