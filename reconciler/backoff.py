"""Retry policy: exponential backoff with full jitter, bounded by attempts and time.

A settings value plus pure functions; the random source is injected so tests are
deterministic. Nothing here sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long one task's call may be retried."""

    max_attempts: int = 8
    deadline: float = 120.0  # seconds from the first attempt
    base_delay: float = 0.2
    max_delay: float = 8.0
    throttle_min_delay: float = 0.5  # after RequestLimitExceeded, wait at least this

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline <= 0:
            raise ValueError("deadline must be positive")

    def delay(
        self, attempt: int, *, throttled: bool = False, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Full jitter (AWS architecture blog): uniform in [0, min(max, base * 2^(n-1))],
        so many workers failing together do not retry together.
        """
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait: float = ceiling * rand()
        if throttled:
            wait = max(wait, self.throttle_min_delay)
        return wait

    def may_retry(self, attempt: int, *, elapsed: float, next_delay: float) -> bool:
        """Whether another attempt fits both the attempt budget and the deadline."""
        return attempt < self.max_attempts and elapsed + next_delay < self.deadline
