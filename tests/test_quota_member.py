"""One member of a shared quota, in-process on fake time: the database clock mapped
onto the local one, its own slots, slots kept free for cold calls, the lease, and
going on alone (one warning) when the board stops answering."""

from __future__ import annotations

import contextlib
import itertools
import math

from structlog.testing import capture_logs

from reconciler.errors import QuotaUnavailable
from reconciler.quota.member import GRACE, BoardView, Identity, Membership, SharedLimiter
from reconciler.quota.schedule import LEASE, Epoch, Schedule
from reconciler.ratelimit import RateSettings
from tests.fakes import FakeClock

DB = 1_700_000_000.0  # the database clock reads this much more than the local one
INTERVAL = 0.05


class FixedBoard:
    """A board with a fixed schedule (two members, "me" second) and a database clock
    ``DB`` ahead of the local fake clock; each ``now`` takes ``round_trips`` in turn."""

    def __init__(self, clock: FakeClock, *, round_trips: list[float] | None = None) -> None:
        self.clock = clock
        self.round_trips = round_trips or [0.0]
        self.down = False
        self.skew = DB
        self.schedule = Schedule((Epoch(DB, INTERVAL, ("other", "me")),))

    def step(self, seconds: float) -> None:
        """The database's clock jumps (and the schedule, written in it, with it)."""
        self.skew += seconds
        (epoch,) = self.schedule.epochs
        self.schedule = Schedule((Epoch(epoch.start + seconds, epoch.interval, epoch.members),))

    def beat(self, me: Identity, *, leaving: bool = False) -> BoardView:
        if self.down:
            raise QuotaUnavailable("shared quota (test): down")
        return BoardView(self.schedule, self.skew + self.clock.monotonic())

    def now(self) -> float:
        if self.down:
            raise QuotaUnavailable("shared quota (test): down")
        trip = self.round_trips.pop(0) if len(self.round_trips) > 1 else self.round_trips[0]
        self.clock.advance(trip / 2)
        reading = self.skew + self.clock.monotonic()
        self.clock.advance(trip / 2)
        return reading

    def close(self) -> None:
        pass


ME = Identity("me", "g", "StopStreamIngest", "host", 1, "apply", 20.0, INTERVAL)


def test_its_slots_are_every_other_one_on_the_local_clock() -> None:
    clock = FakeClock(start=10.0)
    membership = Membership(FixedBoard(clock), ME, clock=clock)
    membership.beat()
    slots = []
    moment = clock.monotonic()
    for _ in range(5):
        slot = membership.align(moment, cold=False)
        assert slot is not None
        slots.append(slot)
        moment = slot + 1e-3
    assert all(
        math.isclose(b - a, 2 * INTERVAL, abs_tol=1e-6) for a, b in itertools.pairwise(slots)
    )
    assert all(round((s - 10.0) / INTERVAL) % 2 == 1 for s in slots)  # "me" is second
    assert math.isclose(membership.share(), 1 / (2 * INTERVAL))


def test_the_clock_offset_comes_from_the_shortest_round_trip() -> None:
    clock = FakeClock(start=10.0)
    board = FixedBoard(clock, round_trips=[0.2, 0.002, 0.3])
    membership = Membership(board, ME, clock=clock)
    for _ in range(3):
        membership.beat()
    slot = membership.align(clock.monotonic(), cold=False)
    assert slot is not None
    # On the grid (odd multiples of the interval past 10.0), within a millisecond.
    steps = (slot - 10.0) / INTERVAL
    assert abs(steps - round(steps)) * INTERVAL < 1e-3


def test_a_stepped_database_clock_is_followed_at_the_next_heartbeat() -> None:
    clock = FakeClock(start=10.0)
    board = FixedBoard(clock, round_trips=[0.001])
    membership = Membership(board, ME, clock=clock)
    membership.beat()
    before = membership.align(clock.monotonic(), cold=False)
    board.step(3.0)
    clock.advance(0.15)
    membership.beat()
    after = membership.align(clock.monotonic(), cold=False)
    assert before is not None and after is not None
    assert abs(after - clock.monotonic()) < 2 * INTERVAL  # not three seconds away


def test_a_cold_call_keeps_its_first_own_slot_after_the_cold_guard_free() -> None:
    clock = FakeClock(start=10.0)
    membership = Membership(FixedBoard(clock), ME, clock=clock, cold_guard=0.2)
    membership.beat()
    cold = membership.align(clock.monotonic(), cold=True)
    assert cold is not None
    taken = []
    moment = cold + 1e-3
    for _ in range(4):
        slot = membership.align(moment, cold=False)
        assert slot is not None
        taken.append(round(slot - cold, 3))
        moment = slot + 1e-3
    assert taken == [0.1, 0.2, 0.4, 0.5]  # 0.3, the first after cold + 0.2, stays free


def test_nothing_is_granted_past_the_lease_until_the_next_heartbeat() -> None:
    clock = FakeClock(start=10.0)
    membership = Membership(FixedBoard(clock), ME, clock=clock)
    membership.beat()
    assert membership.align(clock.monotonic() + LEASE + 0.01, cold=False) is None
    assert math.isclose(membership.next_news(), 10.0 + 0.15 + 0.01)
    clock.advance(0.15)
    membership.beat()
    assert membership.align(10.0 + LEASE + 0.01, cold=False) is not None


def test_when_the_board_stops_answering_it_goes_on_alone_with_one_warning() -> None:
    clock = FakeClock(start=10.0)
    board = FixedBoard(clock)
    membership = Membership(board, ME, clock=clock)
    limiter = SharedLimiter(membership, RateSettings(), clock=clock, grace=GRACE)
    membership.beat()
    assert limiter.reserve().booked
    board.down = True
    with capture_logs() as logs:
        for _ in range(40):  # heartbeats fail; workers keep asking for slots
            clock.advance(0.1)
            with contextlib.suppress(QuotaUnavailable):
                membership.beat()
            limiter.reserve()
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert len(warnings) == 1 and "continuing without coordination" in warnings[0]["event"]
    assert warnings[0]["reason"] == "shared quota (test): down"
    assert limiter.alone
    share = 1 / (2 * INTERVAL)
    assert share <= limiter.current_rate < share + 1  # from its last share, probing up
    permit = limiter.reserve()
    assert permit.booked and limiter.confirm(permit)


def test_a_runner_frozen_and_resumed_rejoins_its_schedule_instead_of_going_alone() -> None:
    # SIGSTOP / SIGCONT, a suspended VM: the whole process stood still, heartbeat
    # thread included, while the board went on (and dealt its share to the others).
    # Going alone on waking would send at its old share beside them: over the quota.
    clock = FakeClock(start=10.0)
    membership = Membership(FixedBoard(clock), ME, clock=clock)
    limiter = SharedLimiter(membership, RateSettings(), clock=clock, grace=GRACE)
    membership.beat()
    assert limiter.reserve().booked
    clock.advance(3.0)  # frozen: nothing ran
    with capture_logs() as logs:
        assert not limiter.reserve().booked  # a worker woke first: it waits for news
        clock.advance(0.05)
        membership.beat()  # the heartbeat thread, awake too, renews the lease
        permit = limiter.reserve()
    assert not limiter.alone and not logs
    assert permit.booked
