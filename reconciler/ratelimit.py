"""The request-rate controller: send slots on an injected clock, paced under the
quota, backing off on throttling so that runners sharing an account settle near
the free capacity.

Pacing. No more than ``rate`` permits in any sliding window of ``window + guard``
seconds (by permit time), spaced at least ``(window + guard) / rate`` apart, so
they never bunch. ``guard`` absorbs the arrival jitter between the permit and the
server, which counts arrivals in a one-second window. The first permits of a run
are cold (each worker's first call opens its connection, so it reaches the server
late): the permits one window after the first ``rate`` keep ``cold_guard`` more
away — a one-off cost that keeps the first window under the quota too. A worker
that wakes for its permit more than half the guard late (a stalled process, a busy
machine) does not use it: sent late, it would crowd the next slots' window.

Sharing. The server's window is shared with every other client of the account,
and it counts throttled arrivals too: whoever keeps sending into a full window
keeps it full. A throttled answer opens a *congestion event* (answers to permits
booked before it belong to the same event), and every permit booked but not yet
used is voided. A lone event — none in the ``lone_span`` (one second) before —
while the rate has never been cut (a runner alone, whose pacing keeps it under the
quota) is most likely arrival jitter, one call held up on its way: nothing is sent
for ``jitter_pause`` (0.1 s) and the rate is kept. A client that fills the window
throttles the next calls too, within the second; one that fills it now and then (under
one call a second) throttles again seconds later, so at most ``jitter_budget`` (4)
lone events within ``jitter_span`` (16 s) are taken for jitter. Otherwise the
controller

- cuts its rate by 5 % (``decrease_factor``) — from the current rate, or, when the
  server admitted much less than that from us in the window before the throttled
  arrival (a heavy overload, such as several runners starting at full speed), or
  less at all while the last cut has not held for ``settle`` seconds, from what it
  did admit (never less than half the rate: one unlucky window must not starve a
  runner): that is our share of the full window, so one cut lands near it. The
  first cut of a run always starts from the current rate, so a runner that joins a
  busy account is not starved by the window the others had filled;
- sends nothing for ``pause`` (one window plus the guard), so the server's window
  drains of everything we sent, throttled arrivals included;
- then wins the rate back slowly: linearly to the rate it cut from within
  ``recover_seconds`` (30 s), then probes beyond it with an increase that doubles
  every ``probe_doubling`` (2 s). Several runners probing together add up, so the
  next congestion event is tens of seconds away, not one window; a runner left
  alone (the others finished) still finds the whole quota again within a minute.

These figures were tuned on ``reconciler.quota.model``: two to four runners, or one
beside a foreign client, settle at 85-95 % of the free capacity with 1-3 % of their
calls throttled; the earlier tuning (halve the rate, win it back within a second)
throttles several times as often there, for less.

A coordinated runner (one sharing a PostgreSQL quota) passes an ``Alignment``:
every slot is moved to the next one the shared schedule deals this runner (the
rate then only thins the runner's slots out), and none is booked while the
schedule grants none. The schedule never deals more than the rate, so there every
lone throttle is taken for jitter (after a cut too), and only a second one within
``settle`` (5 s) for congestion from outside the group; a cut rate scales with the
share when runners join or leave.

The limiter never sleeps itself: ``reserve`` books the next free slot and returns
a ``Permit``; the caller waits until its time (on a cancellable event in
production, on a fake clock in tests, on simulated time in the model) and then
asks ``confirm`` whether it still holds before sending.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from reconciler.clock import Clock

#: Reads the limiter's clock: monotonic seconds.
Monotonic = Callable[[], float]


class Alignment(Protocol):
    """The shared schedule, as a coordinated runner's limiter sees it."""

    def align(self, earliest: float, *, cold: bool) -> float | None:
        """The first slot at or after ``earliest`` granted to this runner, booked (a
        ``cold`` call — the first on a new connection, which may reach the server late —
        also keeps a later slot of this runner free); None while none is granted."""
        ...

    def share(self) -> float:
        """Slots per second the schedule deals this runner now."""
        ...

    def next_news(self) -> float:
        """When the schedule is next likely to grant more (its next refresh): the time
        to look again after ``align`` found nothing."""
        ...


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Tuning of the controller; the defaults fit TRTC's 20 requests per second.

    The sharing parameters were tuned on ``reconciler.quota.model`` (see the README).
    """

    rate: float = 20.0
    window: float = 1.0
    guard: float = 0.015  # seconds of arrival jitter absorbed
    shared_guard: float = 0.025  # the same, on a grid shared by several processes
    cold_guard: float = 0.2  # extra, once, for the first permits' connection set-up
    min_rate: float = 0.5
    decrease_factor: float = 0.95  # the cut on a congestion event
    overload_slack: float = 0.2  # admitted below (1 - this) x the rate: a heavy overload
    settle: float = 5.0  # throttled again this soon after a cut: it was not enough
    jitter_pause: float = 0.1  # the pause after a throttle taken for arrival jitter
    lone_span: float = 1.0  # a throttle with none this long before it may be jitter
    jitter_budget: int = 4  # alone: at most this many taken for jitter...
    jitter_span: float = 16.0  # ...within this long
    pause: float = 1.015  # seconds of silence after a congestion event (window + guard)
    recover_seconds: float = 30.0  # back to the rate of the last cut within this long
    min_increase: float = 0.01  # requests/s won back per second, at least
    probe_doubling: float = 2.0  # beyond the last cut's rate, the increase doubles this often
    retry_poll: float = 0.02  # when no shared slot is granted yet, look again after this

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("rate must be positive")
        if self.window <= 0 or self.guard < 0 or self.cold_guard < 0:
            raise ValueError("window must be positive and the guards non-negative")
        if not 0 < self.decrease_factor < 1 or self.recover_seconds <= 0:
            raise ValueError("decrease_factor must be in (0, 1), recover_seconds positive")


@dataclass(frozen=True, slots=True)
class Permit:
    """A booked send slot: send at ``at`` if ``confirm`` still says yes then."""

    at: float
    generation: int  # the limiter's congestion generation when booked
    booked: bool = True  # False: nothing was granted; wait until ``at``, reserve again


class Limiter(Protocol):
    """What a worker draws its send slots from (every attempt, retries included)."""

    @property
    def current_rate(self) -> float:
        """Requests per second it allows now."""
        ...

    @property
    def throttled(self) -> int:
        """Throttled answers it has met."""
        ...

    def reserve(self, *, cold: bool = False) -> Permit:
        """Book the earliest allowed slot (``cold``: for a worker's first call)."""
        ...

    def confirm(self, permit: Permit) -> bool:
        """At the permit's time: whether it may still be used (no congestion since)."""
        ...

    def reward(self, permit: Permit) -> None:
        """The server admitted the call sent on ``permit`` (any answer but a throttle)."""
        ...

    def penalize(self, permit: Permit) -> None:
        """The server throttled the call sent on ``permit``."""
        ...


class Quota(Protocol):
    """Where a pool run gets its limiter: alone, or shared with other runners."""

    def limiter(
        self, settings: RateSettings, *, clock: Clock, action: str
    ) -> contextlib.AbstractContextManager[Limiter]:
        """A limiter for one pool run calling ``action``, released when the ``with``
        block ends."""
        ...


class LocalQuota:
    """The quota as seen by a runner that coordinates with no one."""

    @contextlib.contextmanager
    def limiter(self, settings: RateSettings, *, clock: Clock, action: str) -> Iterator[Limiter]:
        yield RateLimiter(settings, clock=clock.monotonic)


LOCAL_QUOTA: Quota = LocalQuota()


class RateLimiter:
    """Hands out send slots and adapts the rate; see the module docstring."""

    def __init__(
        self,
        settings: RateSettings,
        *,
        clock: Monotonic,
        align: Alignment | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._align = align
        self._lock = threading.Lock()
        self._capacity = max(1, int(settings.rate))
        self._span = settings.window + settings.guard
        self._ceiling = settings.rate
        self._current = settings.rate
        self._slots: deque[float] = deque(maxlen=self._capacity)
        self._admitted: deque[float] = deque()  # times of permits the server admitted
        self._sent: deque[float] = deque()  # times of permits confirmed for sending
        self._issued = 0
        self._first: float | None = None
        self._generation = 0
        self._paused_until = float("-inf")
        self._resumed = float("-inf")  # when sending resumed after the last cut
        self._jitter: deque[float] = deque()  # alone: throttles taken for jitter, when
        self._throttled = 0
        self.late = 0  # permits not used: their worker woke too late for the guard
        self._due = float("-inf")  # aligned: when the next slot is due at the current rate
        self._share = 0.0  # aligned: the share the schedule dealt when last asked
        # Probing: the rate of the last cut, how fast to win it back, when it was reached.
        self._w_max: float | None = None
        self._slope = settings.min_increase
        self._grown_at = float("-inf")
        self._reached: float | None = None

    @property
    def current_rate(self) -> float:
        with self._lock:
            return self._current

    @property
    def throttled(self) -> int:
        """Throttled answers seen (every one, not only those that cut the rate)."""
        with self._lock:
            return self._throttled

    def unalign(self, *, rate: float) -> None:
        """Stop following the shared schedule: go on alone from ``rate`` (the share held
        until now), probing for more as after a cut."""
        with self._lock:
            self._align = None
            now = self._clock()
            self._current = max(self._settings.min_rate, min(self._current, rate))
            self._w_max, self._reached, self._grown_at = self._current, now, now

    def reserve(self, *, cold: bool = False) -> Permit:
        with self._lock:
            now = self._clock()
            self._grow(now)
            if self._align is not None:
                self._follow_share(self._align.share())
            slot = self._earliest(now)
            if self._align is not None:
                aligned = self._align.align(slot, cold=cold)
                if aligned is None:
                    retry = max(now + self._settings.retry_poll, self._align.next_news())
                    return Permit(retry, self._generation, booked=False)
                slot = aligned
                # The grid sets the spacing; the rate only thins it out, on average.
                self._due = max(self._due, slot) + 1.0 / self._current
            self._slots.append(slot)
            self._issued += 1
            if self._first is None:
                self._first = slot
            return Permit(slot, self._generation)

    def confirm(self, permit: Permit) -> bool:
        with self._lock:
            # A worker that woke too late would send into the next slots' window;
            # its slot is lost instead (rare: a stalled process, a busy machine).
            guard = self._settings.guard if self._align is None else self._settings.shared_guard
            late = self._clock() - permit.at > guard / 2
            ok = permit.booked and permit.generation == self._generation and not late
            self.late += late
            if ok:
                self._sent.append(permit.at)
                _forget_before(self._sent, permit.at - 2 * self._span)
            return ok

    def reward(self, permit: Permit) -> None:
        with self._lock:
            self._admitted.append(permit.at)
            _forget_before(self._admitted, permit.at - 2 * self._span)

    def penalize(self, permit: Permit) -> None:
        settings = self._settings
        with self._lock:
            self._throttled += 1
            if permit.generation != self._generation:
                return  # part of a congestion event already acted on
            now = self._clock()
            first = self._w_max is None  # no cut yet this run
            self._generation += 1
            while self._slots and self._slots[-1] > now:  # voided: never to be sent
                self._slots.pop()
            # A lone throttle, on a shared schedule (which never deals more than the
            # rate) or before any cut (a runner alone), is most likely arrival jitter:
            # let the window drain a moment, keep the rate. A second one soon after is
            # congestion: within ``lone_span`` for a runner alone (a foreign client
            # that fills the window throttles the next calls too), within ``settle``
            # on a shared schedule, which is taken for jitter after every lone one.
            # Alone, lone ones that keep coming are a client outside too (one under a
            # call a second fills the window now and then): only ``jitter_budget`` of
            # them within ``jitter_span`` are jitter; held-up calls come rarer.
            if self._align is not None:
                jitter = now - self._resumed >= settings.settle
            else:
                _forget_before(self._jitter, now - settings.jitter_span)
                jitter = (
                    first
                    and now - self._resumed >= settings.lone_span
                    and len(self._jitter) < settings.jitter_budget
                )
                if jitter:
                    self._jitter.append(now)
            if jitter:
                self._paused_until = max(self._paused_until, now + settings.jitter_pause)
                self._resumed = self._paused_until
                return
            if self._align is not None:  # it cannot have sent faster than its share
                self._current = max(settings.min_rate, min(self._current, self._align.share()))
            basis = self._current if first else self._cut_basis(permit.at)
            self._current = max(settings.min_rate, basis * settings.decrease_factor)
            self._paused_until = max(self._paused_until, now + settings.pause)
            self._resumed = self._paused_until
            self._w_max, self._reached = basis, None
            self._slope = max(
                settings.min_increase, (basis - self._current) / settings.recover_seconds
            )
            self._grown_at = self._paused_until  # probing resumes after the pause

    def _follow_share(self, share: float) -> None:
        """Keep a cut rate in proportion to the share it was cut from: when others leave
        the group (or join it), the rate and the point it probes from scale with it."""
        if share <= 0:
            return
        previous, self._share = self._share, share
        if previous <= 0 or share == previous or self._w_max is None:
            return
        scale = share / previous
        self._current = min(self._ceiling, max(self._settings.min_rate, self._current * scale))
        self._w_max *= scale
        self._slope *= scale

    def _cut_basis(self, until: float) -> float:
        """The rate to cut from (see the module docstring): the current one, unless the
        server admitted much less than that from us in the window before ``until`` —
        or less at all, when the last cut did not hold for ``settle`` seconds — then
        what it admitted (half the current rate at the least). The window was full (we
        were throttled), so what it admitted
        from us is our share of it, our pause included; unless we sent less than our
        rate while not paused (slots kept free, a wait for the schedule), which says
        nothing about our share. (The first cut of a run always takes the current rate:
        a runner that just started has seen a window full of the others' calls, and
        would starve if it believed that was its share.)"""
        settings = self._settings
        window = settings.window
        sending = until - max(until - window, self._resumed)  # not paused, that is
        sent = sum(1 for at in self._sent if until - sending <= at <= until)
        if sending < 0.2 * window or sent < (1 - settings.overload_slack) * self._current * sending:
            return self._current
        admitted = sum(1 for at in self._admitted if until - window <= at < until) / window
        # Never below half the rate in one event: one unlucky window (the others'
        # calls just ahead of ours) must not starve a runner.
        admitted = max(admitted, self._current / 2)
        if until - self._resumed < settings.settle:
            return min(self._current, admitted)
        slack = max(settings.overload_slack * self._current, 2.0 / window)
        return self._current if admitted >= self._current - slack else admitted

    def _earliest(self, now: float) -> float:
        slot = max(now, self._paused_until)
        if self._align is not None:
            # A slot of the shared grid is taken if it is less than one interval of
            # the current rate early (a virtual schedule, as in GCRA).
            return max(slot, self._due - 0.999 / self._current)
        if self._slots:
            interval = max(self._span / self._ceiling, 1.0 / self._current)
            slot = max(slot, self._slots[-1] + interval)
            if len(self._slots) == self._capacity:
                # One window after the first permits (the aligned keep their own rule).
                cold = self._issued < 2 * self._capacity and self._align is None
                span = self._span + (self._settings.cold_guard if cold else 0.0)
                slot = max(slot, self._slots[0] + span)
        return slot

    def _grow(self, now: float) -> None:
        """Win the rate back: linearly up to the rate of the last cut, then probing
        beyond it with an increase that doubles every ``probe_doubling`` seconds."""
        if self._w_max is None or now <= self._grown_at or self._current >= self._ceiling:
            return
        elapsed = now - self._grown_at
        self._grown_at = now
        if self._current < self._w_max:
            self._current = min(self._w_max, self._current + self._slope * elapsed)
            return
        if self._reached is None:
            self._reached = now
        doublings = (now - self._reached) / self._settings.probe_doubling
        step = self._slope * 2.0**doublings * elapsed
        self._current = min(self._ceiling, self._current + step)


def _forget_before(times: deque[float], horizon: float) -> None:
    while times and times[0] < horizon:
        times.popleft()
