"""One runner's membership in a shared quota group, and the limiter built on it.

``Membership`` heartbeats through a ``Board`` (the group's table: PostgreSQL in
production, an in-memory one in the model and the tests), keeps the schedule it
read and how long it may trust it (its lease), and maps the database's clock onto
the local monotonic clock: each heartbeat also reads the database clock in one
round trip, and the sample with the shortest round trip among the recent ones
gives the offset (its error is at most half that round trip, well inside the
limiter's 15 ms guard on a nearby database). No runner ever compares its own wall
clock with another's.

``SharedLimiter`` is the engine's limiter for a coordinated run: the uncoordinated
controller (``reconciler.ratelimit``) with every slot aligned to the next one the
schedule deals this runner, so the local back-off still answers throttling from
clients outside the group. A cold call (a worker's first, on a new connection) may
reach the server late, into the next window; for each, the runner keeps one of its
own later slots free — the first one ``cold_guard`` after it — so that window still
holds no more than the rate.

When the board cannot be reached — the heartbeat fails or hangs — the lease runs
out and the runner waits; ``grace`` seconds after it first sees that (a process
frozen and resumed sees it late, and its heartbeat renews the lease first) it goes
on alone from its last share with the uncoordinated controller, says so in one
warning, and never comes back to the group in this run. It never stops applying
because of the database.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import structlog

from reconciler.clock import Clock
from reconciler.errors import QuotaUnavailable
from reconciler.quota.schedule import HEARTBEAT, LEASE, TOLERANCE, Schedule
from reconciler.ratelimit import Permit, RateLimiter, RateSettings

log = structlog.get_logger("reconciler.quota")

#: After the lease ran out, how long a runner waits for the board before going alone.
GRACE = 1.0
#: Clock samples kept for the offset estimate (about two seconds of heartbeats).
SAMPLES = 16
#: Past one slot, to look for the next (far more than the rounding, far less than a slot).
_STEP = 1e-4
#: Two clock samples further apart than their errors and this: a clock was stepped.
_STEPPED = 0.005


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a member is, as the group's table shows it."""

    member: str  # random, unique per pool run
    group: str
    action: str  # the API whose quota this is
    host: str
    pid: int
    operation: str  # apply, run, plan
    rate: float  # its --rate
    interval: float  # the grid spacing that rate asks for


@dataclass(frozen=True, slots=True)
class BoardView:
    """What a heartbeat read: the schedule, and when (database clock) it was read."""

    schedule: Schedule
    read_at: float


class Board(Protocol):
    """A group's shared table; every method may raise ``QuotaUnavailable``."""

    def beat(self, me: Identity, *, leaving: bool = False) -> BoardView:
        """Heartbeat (joining on the first one, leaving with ``leaving``) in one transaction."""
        ...

    def now(self) -> float:
        """The database clock, in seconds since the epoch, in one round trip."""
        ...

    def close(self) -> None: ...


class Membership:
    """One member's heartbeats and what it knows from them (see the module docstring).

    ``beat`` is called by a heartbeat thread in production and by the simulation in
    the model; every method is thread-safe.
    """

    def __init__(
        self,
        board: Board,
        identity: Identity,
        *,
        clock: Clock,
        cold_guard: float = 0.2,
        lease: float = LEASE,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.identity = identity
        self._heartbeat = heartbeat
        self._board = board
        self._clock = clock
        self._cold_guard = cold_guard
        self._lease = lease
        self._lock = threading.Lock()
        self._schedule = Schedule()
        self._lease_end = -math.inf  # database clock
        self._read_local = -math.inf  # when the last heartbeat read, local clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=SAMPLES)  # (error, offset)
        self._offset = 0.0  # database clock minus local monotonic clock
        self._blocked: list[float] = []  # own slots kept free for cold calls (db clock)
        self._thresholds: list[float] = []  # cold calls' "first own slot after" marks
        self.last_error: str | None = None

    def beat(self, *, leaving: bool = False) -> None:
        """One heartbeat; raises ``QuotaUnavailable`` (and leaves what it knew as is)."""
        try:
            view = self._board.beat(self.identity, leaving=leaving)
            before = self._clock.monotonic()
            database = self._board.now()
            after = self._clock.monotonic()
        except QuotaUnavailable as exc:
            self.last_error = str(exc)
            raise
        with self._lock:
            sample = ((after - before) / 2, database - (before + after) / 2)
            if self._samples:
                error, offset = min(self._samples)
                if abs(sample[1] - offset) > sample[0] + error + _STEPPED:
                    self._samples.clear()  # a clock was stepped: the old samples are wrong
            self._samples.append(sample)
            self._offset = min(self._samples)[1]
            self._schedule = view.schedule
            self._lease_end = -math.inf if leaving else view.read_at + self._lease
            self._read_local = view.read_at - self._offset
            self.last_error = None

    def lease_end(self) -> float:
        """When (local monotonic clock) what this member knows stops being trusted."""
        with self._lock:
            return self._lease_end - self._offset

    def next_news(self) -> float:
        """When (local clock) the next heartbeat should have renewed the lease."""
        with self._lock:
            return self._read_local + self._heartbeat + 0.01

    def share(self) -> float:
        """This member's slots per second in the epoch in force now (0 if none yet)."""
        with self._lock:
            now = self._clock.monotonic() + self._offset
            return self._schedule.share(self.identity.member, now)

    def align(self, earliest: float, *, cold: bool) -> float | None:
        with self._lock:
            offset = self._offset
            slot = self._own_slot(earliest + offset)
            if slot is None:
                return None
            if cold:
                bisect.insort(self._thresholds, slot + self._cold_guard)
            return slot - offset

    def _own_slot(self, earliest: float) -> float | None:
        """The first slot dealt to this member at or after ``earliest`` (db clock) that
        is not kept free, keeping free the ones cold calls need on the way."""
        moment = earliest
        while True:
            slot = self._next_dealt(moment)
            if slot is None:
                return None
            while self._thresholds and self._thresholds[0] < slot:
                # The first own slot after a cold call's mark stays free. It is no later
                # than ``slot`` (an own slot past the mark), so it is already known.
                mark = self._thresholds.pop(0)
                free = self._next_dealt(mark, after=True)
                if free is not None:
                    bisect.insort(self._blocked, free)
            if not self._is_blocked(slot):
                self._forget_blocked(before=earliest)
                return slot
            moment = slot + _STEP

    def _next_dealt(self, moment: float, *, after: bool = False) -> float | None:
        start = moment + _STEP if after else moment
        while True:
            slot = self._schedule.next_slot(self.identity.member, start, before=self._lease_end)
            if slot is None or not self._is_blocked(slot):
                return slot
            start = slot + _STEP

    def _is_blocked(self, slot: float) -> bool:
        index = bisect.bisect_left(self._blocked, slot - TOLERANCE)
        return index < len(self._blocked) and self._blocked[index] <= slot + TOLERANCE

    def _forget_blocked(self, *, before: float) -> None:
        while self._blocked and self._blocked[0] < before - 1.0:
            self._blocked.pop(0)


class SharedLimiter:
    """The limiter of a coordinated run; see the module docstring."""

    def __init__(
        self,
        membership: Membership,
        settings: RateSettings,
        *,
        clock: Clock,
        grace: float = GRACE,
    ) -> None:
        self.membership = membership
        self._clock = clock
        self._grace = grace
        self._inner = RateLimiter(settings, clock=clock.monotonic, align=membership)
        self._lock = threading.Lock()
        self._last_share = settings.rate
        self._lease_out_seen: float | None = None  # when a lapsed lease was first noticed
        self.alone = False

    def reserve(self, *, cold: bool = False) -> Permit:
        self._check()
        return self._inner.reserve(cold=cold)

    def confirm(self, permit: Permit) -> bool:
        return self._inner.confirm(permit)

    def reward(self, permit: Permit) -> None:
        self._inner.reward(permit)

    def penalize(self, permit: Permit) -> None:
        self._inner.penalize(permit)

    @property
    def current_rate(self) -> float:
        """The rate it may send at now: its controller's, within its share."""
        rate = self._inner.current_rate
        if self.alone:
            return rate
        share = self.membership.share()
        return min(rate, share) if share > 0 else rate

    @property
    def throttled(self) -> int:
        return self._inner.throttled

    def go_alone(self, reason: str) -> None:
        """Leave the schedule for the rest of this run (once); see the module docstring."""
        with self._lock:
            if self.alone:
                return
            self.alone = True
        identity = self.membership.identity
        log.warning(
            "shared quota unreachable: continuing without coordination",
            group=identity.group,
            action=identity.action,
            rate=round(self._last_share, 2),
            reason=reason,
        )
        self._inner.unalign(rate=self._last_share)

    def _check(self) -> None:
        if self.alone:
            return
        share = self.membership.share()
        if share > 0:
            self._last_share = share
        now, lease_end = self._clock.monotonic(), self.membership.lease_end()
        if now <= lease_end:
            self._lease_out_seen = None
            return
        # The grace runs from when the lapse is first seen, not from the lease's end:
        # a process that stood still (SIGSTOP, a suspended VM) wakes long past it, and
        # its heartbeat thread, woken too, renews the lease at once.
        with self._lock:
            if self._lease_out_seen is None or self._lease_out_seen < lease_end:
                self._lease_out_seen = now
            lapsed = now - self._lease_out_seen
        if lapsed > self._grace:
            error = self.membership.last_error
            self.go_alone(error or f"no heartbeat for {now - lease_end + LEASE:.1f}s")
