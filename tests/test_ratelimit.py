"""The rate limiter on fake time: the window guarantee, spacing, backoff and recovery."""

from __future__ import annotations

import itertools
import threading

from reconciler.backoff import RetryPolicy
from reconciler.ratelimit import RateLimiter, RateSettings


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


def test_never_more_than_rate_in_any_window_even_with_arrival_jitter() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20, guard=0.015), clock=clock)
    slots = [limiter.reserve() for _ in range(2000)]
    assert slots == sorted(slots)
    assert max_in_any_window(slots) <= 20
    # arrivals jittered by up to ±7 ms (less than half the guard) still hold the quota
    jittered = [s + (0.007 if i % 2 else -0.007) for i, s in enumerate(slots)]
    assert max_in_any_window(jittered) <= 20
    rate = (len(slots) - 1) / (slots[-1] - slots[0])
    assert 19.0 <= rate <= 20.0


def test_bursty_callers_are_spaced() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=10, guard=0.0), clock=clock)
    slots = [limiter.reserve() for _ in range(5)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(abs(g - 0.1) < 1e-9 for g in gaps)


def test_penalize_pauses_halves_and_recovers() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20, pause=1.0), clock=clock)
    first = limiter.reserve()
    limiter.penalize()
    assert limiter.current_rate == 10
    assert limiter.throttled == 1
    paused = limiter.reserve()
    assert paused >= first + 1.0  # nothing during the pause
    nxt = limiter.reserve()
    assert nxt - paused >= 0.1 - 1e-9  # half rate: 100 ms apart
    for _ in range(20):
        limiter.reward()
    assert limiter.current_rate == 20


def test_thread_safe_reservations_hold_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateSettings(rate=20), clock=clock)
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            slot = limiter.reserve()
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(slots)) == 800
    assert max_in_any_window(slots) <= 20


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
