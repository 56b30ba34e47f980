"""The rate controller on fake time: the window guarantee, spacing, the cut on a
congestion event, the pause, recovery and probing, alignment to a shared schedule."""

from __future__ import annotations

import itertools
import math
import threading

import pytest

from reconciler.backoff import RetryPolicy
from reconciler.ratelimit import Permit, RateLimiter, RateSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def sent(limiter: RateLimiter, clock: FakeClock, count: int) -> list[Permit]:
    """Book ``count`` permits, moving the clock to each one's time (as workers would)."""
    permits = []
    for _ in range(count):
        permit = limiter.reserve()
        clock.now = max(clock.now, permit.at)
        assert limiter.confirm(permit)
        permits.append(permit)
    return permits


def test_never_more_than_rate_in_any_window_even_with_arrival_jitter() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20, guard=0.015), clock=clock)
    slots = [limiter.reserve().at for _ in range(2000)]
    assert slots == sorted(slots)
    assert max_in_any_window(slots) <= 20
    # arrivals jittered by up to ±7 ms (less than half the guard) still hold the quota
    jittered = [s + (0.007 if i % 2 else -0.007) for i, s in enumerate(slots)]
    assert max_in_any_window(jittered) <= 20
    rate = (len(slots) - 1) / (slots[-1] - slots[0])
    assert 19.0 <= rate <= 20.0


def test_the_first_calls_may_arrive_late_by_the_cold_guard() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20, cold_guard=0.2), clock=clock)
    slots = [limiter.reserve().at for _ in range(100)]
    late = [s + (0.19 if i < 20 else 0.0) for i, s in enumerate(slots)]
    assert max_in_any_window(late) <= 20


def test_bursty_callers_are_spaced() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=10, guard=0.0), clock=clock)
    slots = [limiter.reserve().at for _ in range(5)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(abs(g - 0.1) < 1e-9 for g in gaps)


def cut(limiter: RateLimiter, clock: FakeClock) -> None:
    """Two throttles in quick succession: the first is taken for jitter, the second
    makes the first cut."""
    limiter.penalize(sent(limiter, clock, 25)[-1])
    limiter.penalize(sent(limiter, clock, 5)[-1])


def test_a_lone_throttle_is_taken_for_arrival_jitter() -> None:
    clock = FakeClock()
    settings = RateSettings(rate=20, jitter_pause=0.25)
    limiter = RateLimiter(settings, clock=clock)
    permits = sent(limiter, clock, 30)
    booked = [limiter.reserve() for _ in range(5)]  # waiting workers' permits
    limiter.penalize(permits[-1])
    assert limiter.current_rate == 20.0 and limiter.throttled == 1
    assert not any(limiter.confirm(permit) for permit in booked)
    assert clock.now + 0.25 <= limiter.reserve().at < clock.now + 0.5  # a short pause


def test_throttles_more_than_a_second_apart_are_each_taken_for_jitter() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20, jitter_pause=0.1, lone_span=1.0), clock=clock)
    limiter.penalize(sent(limiter, clock, 30)[-1])
    limiter.penalize(sent(limiter, clock, 25)[-1])  # 1.2 s later: held up again, alone
    assert limiter.current_rate == 20.0 and limiter.throttled == 2
    limiter.penalize(sent(limiter, clock, 5)[-1])  # within the second: congestion
    assert limiter.current_rate == pytest.approx(19.0)


def test_lone_throttles_that_keep_coming_are_congestion_however_spaced() -> None:
    """A foreign client under one call a second fills the window now and then: each
    throttle comes more than a second after the last, and each alone would be taken
    for jitter — the runner would keep its full rate, and be throttled, for ever. Only
    so many are taken for jitter within ``jitter_span``; the next one cuts."""
    clock = FakeClock()
    settings = RateSettings(rate=20)
    limiter = RateLimiter(settings, clock=clock)
    sent(limiter, clock, 10)
    for _ in range(settings.jitter_budget):
        limiter.penalize(sent(limiter, clock, 25)[-1])  # 1.25 s and more apart
        assert limiter.current_rate == 20.0
    limiter.penalize(sent(limiter, clock, 25)[-1])  # one more within the span
    assert limiter.current_rate == pytest.approx(19.0)
    assert limiter.throttled == settings.jitter_budget + 1


def test_lone_throttles_seconds_apart_are_each_taken_for_jitter() -> None:
    clock = FakeClock()
    settings = RateSettings(rate=20)
    limiter = RateLimiter(settings, clock=clock)
    for _ in range(3 * settings.jitter_budget):  # one in every jitter_span / budget, and more
        limiter.penalize(
            sent(limiter, clock, int(20 * settings.jitter_span / settings.jitter_budget) + 5)[-1]
        )
    assert limiter.current_rate == 20.0


def test_a_second_throttle_soon_after_cuts_once_and_pauses_a_window() -> None:
    clock = FakeClock()
    settings = RateSettings(rate=20, decrease_factor=0.95, pause=1.015)
    limiter = RateLimiter(settings, clock=clock)
    limiter.penalize(sent(limiter, clock, 30)[-1])  # jitter, most likely
    permits = sent(limiter, clock, 10)
    limiter.penalize(permits[-1])
    assert math.isclose(limiter.current_rate, 19.0)  # the first cut: 5 % off the rate
    for permit in permits[-5:]:  # more answers of the same congestion event
        limiter.penalize(permit)
    assert math.isclose(limiter.current_rate, 19.0)
    assert limiter.throttled == 7
    assert limiter.reserve().at >= clock.now + 1.015  # silent for a window


@pytest.mark.parametrize(("admitted", "basis"), [(12, 12.0), (3, 9.5)])
def test_a_heavy_overload_cuts_to_what_the_server_admitted(admitted: int, basis: float) -> None:
    """From what the server admitted of ours in the last window — but never more than
    half the rate in one event: one unlucky window must not starve a runner."""
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20), clock=clock)
    cut(limiter, clock)  # the first cut: from the current rate, to 19
    later = sent(limiter, clock, 40)
    for permit in later[-20 : -20 + admitted]:
        limiter.reward(permit)
    limiter.penalize(later[-1])
    assert math.isclose(limiter.current_rate, 0.95 * basis, rel_tol=0.1)


def test_the_rate_comes_back_and_probing_reaches_the_ceiling() -> None:
    clock = FakeClock()
    settings = RateSettings(rate=20, recover_seconds=30.0, probe_doubling=2.0)
    limiter = RateLimiter(settings, clock=clock)
    cut(limiter, clock)
    low = limiter.current_rate
    clock.now += settings.pause + 15.0
    limiter.reserve()
    halfway = limiter.current_rate
    assert low < halfway < 20.0  # linear: back to where it was cut within 30 s
    clock.now += 15.0
    limiter.reserve()
    assert math.isclose(limiter.current_rate, 20.0) or limiter.current_rate >= 19.99


def test_a_runner_left_alone_finds_the_whole_quota_within_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20), clock=clock)
    cut(limiter, clock)
    limiter.penalize(sent(limiter, clock, 40)[-1])  # cut again, from about the same rate
    for _ in range(600):  # the other runner left: nothing throttles any more
        clock.now += 0.1
        limiter.reserve()
    assert limiter.current_rate == 20.0


def test_thread_safe_reservations_hold_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20), clock=clock)
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            slot = limiter.reserve().at
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(slots)) == 800
    assert max_in_any_window(slots) <= 20


class EveryTenth:
    """A shared schedule granting this runner the slots at multiples of 0.1 s, from
    ``opens`` on (none before)."""

    def __init__(self, opens: float) -> None:
        self.opens = opens
        self.cold: list[float] = []

    def align(self, earliest: float, *, cold: bool) -> float | None:
        if earliest > self.opens + 100:
            return None
        slot = max(self.opens, math.ceil(earliest * 10 - 1e-9) / 10)
        if cold:
            self.cold.append(slot)
        return slot

    def share(self) -> float:
        return 10.0

    def next_news(self) -> float:
        return 0.0


def test_aligned_slots_follow_the_schedule_and_wait_while_none_is_granted() -> None:
    clock = FakeClock()
    schedule = EveryTenth(opens=clock.now + 0.5)
    limiter = RateLimiter(RateSettings(rate=20), clock=clock, align=schedule)
    first = limiter.reserve(cold=True)
    assert math.isclose(first.at, clock.now + 0.5) and limiter.confirm(first)
    slots = [limiter.reserve().at for _ in range(10)]
    assert all(math.isclose(s * 10, round(s * 10)) for s in slots)
    assert schedule.cold == [first.at]
    clock.now += 200  # beyond what the schedule grants
    waiting = limiter.reserve()
    assert not waiting.booked and not limiter.confirm(waiting)
    assert waiting.at > clock.now


def test_unaligned_the_runner_goes_on_alone_from_its_share() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20), clock=clock, align=EveryTenth(clock.now))
    limiter.unalign(rate=10.0)
    assert limiter.current_rate == 10.0
    slots = [limiter.reserve().at for _ in range(11)]
    assert math.isclose(slots[-1] - slots[0], 1.0)


def test_backoff_is_jittered_exponential_and_bounded() -> None:
    policy = RetryPolicy(max_attempts=4, deadline=10.0, base_delay=0.5, max_delay=3.0)
    assert policy.delay(1, rand=lambda: 1.0) == 0.5
    assert policy.delay(3, rand=lambda: 1.0) == 2.0
    assert policy.delay(6, rand=lambda: 1.0) == 3.0
    assert policy.delay(6, rand=lambda: 0.0) == 0.0
    assert policy.delay(1, throttled=True, rand=lambda: 0.0) == policy.throttle_min_delay
    assert policy.may_retry(3, elapsed=1.0, next_delay=1.0)
    assert not policy.may_retry(4, elapsed=1.0, next_delay=1.0)
    assert not policy.may_retry(1, elapsed=9.5, next_delay=1.0)
