"""The worker pool: one rate-limited, retried call per change on worker threads,
results handed back to the calling thread in arrival order.

Each worker builds its own API client (the SDK's thread safety is undocumented)
and draws a send slot from the one rate limiter before every attempt, retries
included; the limiter comes from the quota port — alone, or shared with other
runners — and hears of every throttled or admitted call. A permit per call sent
and not yet handled by the calling thread keeps at most ``parallelism`` calls
unhandled, however slow the handler (the state commit) is. A fatal error halts
the pool's run: no new request starts. After a halt, calls still in flight get
``drain_timeout`` seconds; then the drive loop returns and whatever finished is
handled. A change that is not ``ready`` when a worker takes it (a stop whose time
has not come) is handed back unsent.

Time comes from the halt's clock, so all of it runs on fake time in tests.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import structlog

from reconciler.backoff import RetryPolicy
from reconciler.clock import Halt
from reconciler.domain import CallError, Change, ErrorClass, LiveStatus
from reconciler.engine.breaker import Breaker
from reconciler.errors import CloudCallError
from reconciler.ratelimit import LOCAL_QUOTA, Limiter, Permit, Quota, RateSettings

log = structlog.get_logger("reconciler.engine")

T = TypeVar("T")


class LimiterWatch(Protocol):
    """Shown each pool run's rate limiter as the run starts (``run --metrics-addr``
    reads their rates and throttles)."""

    def __call__(self, limiter: Limiter) -> None: ...


class TaskApi(Protocol):
    """What a worker needs from TRTC (``reconciler.trtc.TrtcApi`` in production).

    Each method returns the answer or raises ``CloudCallError``, classified.
    """

    def stop(self, *, sdk_app_id: int, task_id: str, region: str) -> str: ...

    def describe(self, *, sdk_app_id: int, task_id: str, region: str) -> LiveStatus: ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    parallelism: int = 10
    rate: RateSettings = field(default_factory=RateSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    drain_timeout: float = 3.0  # after a halt, how long in-flight calls may finish
    progress_interval: float = 0.25
    poll_interval: float = 0.05  # how often the drive loop looks at a halt with no results
    breaker_threshold: int = 20  # connection-level failures in a row that stop the run
    watch_limiter: LimiterWatch | None = None  # run --metrics-addr reads each run's limiter

    def __post_init__(self) -> None:
        if self.parallelism < 1:
            raise ValueError("parallelism must be at least 1")


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    done: int
    in_flight: int
    failed: int
    rate: float  # completions per second, recent
    eta: float | None  # seconds


class ProgressObserver(Protocol):
    def on_progress(self, progress: Progress) -> None: ...


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """One change's call, finished: its answer, or the error that ended its attempts
    (or, with ``not_ready``, no call at all: the change was not ready to be sent)."""

    change: Change
    value: T | None
    error: CallError | None
    error_class: ErrorClass | None
    attempts: int
    not_ready: bool = False


class ProgressMeter:
    """Counts completions and reports done / in flight / failed, rate and ETA."""

    def __init__(self, total: int, halt: Halt) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._clock = halt.clock
        self._recent: deque[float] = deque()

    def count(self, *, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        self._recent.append(self._clock.monotonic())

    def snapshot(self, in_flight: int) -> Progress:
        now = self._clock.monotonic()
        while self._recent and self._recent[0] < now - 5.0:
            self._recent.popleft()
        span = (now - self._recent[0]) if len(self._recent) > 1 else 0.0
        rate = (len(self._recent) - 1) / span if span > 0 else 0.0
        left = self.total - self.done
        eta = left / rate if rate > 0 else None
        return Progress(self.total, self.done, in_flight, self.failed, rate, eta)


class Pool(Generic[T]):
    """Runs one call per change on worker threads, rate-limited, with retries."""

    def __init__(
        self,
        changes: Sequence[Change],
        call: Callable[[TaskApi, Change], T],
        *,
        api_factory: Callable[[], TaskApi],
        settings: EngineSettings,
        limiter: Limiter,
        halt: Halt,
        rand: Callable[[], float] | None = None,
        ready: Callable[[Change], bool] | None = None,
    ) -> None:
        self._todo: deque[Change] = deque(changes)
        self._ready = ready
        self._call = call
        self._api_factory = api_factory
        self._settings = settings
        self._limiter = limiter
        self._halt = halt
        self._clock = halt.clock
        self._rand = rand
        self._lock = threading.Lock()
        self.results: queue.Queue[Done[T]] = queue.Queue()
        self.result_ready = threading.Event()  # set after each put; the driver clears it
        # One permit per call sent and not yet handled by the calling thread.
        self._unhandled = threading.BoundedSemaphore(settings.parallelism)
        self.in_flight = 0
        self.fatal: CallError | None = None
        self._breaker = Breaker(settings.breaker_threshold)
        self._threads: list[threading.Thread] = []
        self._workers = 0
        self._call_time = 0.0  # seconds a call takes, a running average (0: none yet)

    def start(self) -> None:
        self._workers = min(self._settings.parallelism, len(self._todo))
        self._spawn()

    def _spawn(self) -> None:
        """One more worker, up to ``parallelism``. Workers join one at a time, while
        one waits less for its slot than a call takes (so the workers, not the rate,
        would be the bottleneck): a shared quota's smaller share needs fewer, and
        each new worker's first call opens a connection."""
        with self._lock:
            if len(self._threads) >= self._workers or not self._todo:
                return
            thread = threading.Thread(
                target=self._worker, name=f"reconciler-worker-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def alive(self) -> bool:
        with self._lock:
            threads = list(self._threads)
        return any(thread.is_alive() for thread in threads)

    def handled(self) -> None:
        """The calling thread has handled (committed) one result: a call may start."""
        self._unhandled.release()

    def abort(self) -> None:
        """The calling thread gave up (a commit failed): start nothing more.

        Workers finish the call they are in; those waiting for a permit get one,
        find no work and leave, each passing its permit on to the next.
        """
        with self._lock:
            self._todo.clear()
        with contextlib.suppress(ValueError):  # every permit already free
            self._unhandled.release()

    def _next(self) -> Change | None:
        with self._lock:
            if self._halt.is_set() or not self._todo:
                return None
            self.in_flight += 1
            return self._todo.popleft()

    def _worker(self) -> None:
        api: TaskApi | None = None
        cold = True  # this worker's first call opens its connection
        while True:
            self._unhandled.acquire()
            change = self._next()
            if change is None:
                self._unhandled.release()
                return
            try:
                if self._ready is not None and not self._ready(change):
                    done: Done[T] | None = Done(change, None, None, None, 0, not_ready=True)
                else:
                    if api is None:
                        api = self._api_factory()
                    done = self._attempt(api, change, cold=cold)
                    cold = False
            finally:
                with self._lock:
                    self.in_flight -= 1
            if done is None:  # halted before the call was sent: leave it for the next run
                self._unhandled.release()
                with self._lock:
                    self._todo.appendleft(change)
                return
            self.results.put(done)
            self.result_ready.set()

    def _attempt(self, api: TaskApi, change: Change, *, cold: bool) -> Done[T] | None:
        """Call until an answer, a final error, or a halt (None: nothing was sent last)."""
        started = self._clock.monotonic()
        attempt = 0
        while True:
            permit = self._limiter.reserve(cold=cold and attempt == 0)
            wait = permit.at - self._clock.monotonic()
            if permit.booked and wait <= self._call_time:
                self._spawn()
            if self._halt.wait(wait) or self._halt.is_set():
                return None
            if not self._limiter.confirm(permit):
                continue  # voided by a congestion event, or no shared slot granted yet
            attempt += 1
            sent = self._clock.monotonic()
            try:
                value = self._call(api, change)
            except CloudCallError as exc:
                self._timed(sent)
                delay = self._after_error(exc, attempt, permit, started=started)
                if delay is None:
                    return Done(change, None, exc.error, exc.error_class, attempt)
                log.debug(
                    "retrying",
                    address=change.address,
                    attempt=attempt,
                    code=exc.error.code,
                    delay=round(delay, 3),
                )
                if self._halt.wait(delay):
                    return None
                continue
            self._timed(sent)
            self._limiter.reward(permit)
            self._breaker.answered()
            return Done(change, value, None, None, attempt)

    def _timed(self, sent: float) -> None:
        """Fold one call's duration into the running average (a fifth per call)."""
        took = self._clock.monotonic() - sent
        with self._lock:
            self._call_time += (took - self._call_time) * (0.2 if self._call_time else 1.0)

    def _after_error(
        self, exc: CloudCallError, attempt: int, permit: Permit, *, started: float
    ) -> float | None:
        """Act on a failed attempt; the delay before the next one, or None: give up."""
        error_class = exc.error_class
        if error_class is ErrorClass.THROTTLED:
            self._limiter.penalize(permit)
        elif error_class in (ErrorClass.CONVERGED, ErrorClass.TASK_FAILED):
            self._limiter.reward(permit)  # the server admitted it: it counts as sent
        stop = exc.error if error_class is ErrorClass.FATAL else None
        if error_class is ErrorClass.UNREACHABLE:
            stop = self._breaker.unreachable(exc.error)
        else:
            self._breaker.answered()
        if stop is not None:
            with self._lock:
                self.fatal = self.fatal or stop
            self._halt.set()
            return None
        if not error_class.transient:
            return None
        retry = self._settings.retry
        delay = retry.delay(
            attempt,
            throttled=error_class is ErrorClass.THROTTLED,
            **({"rand": self._rand} if self._rand else {}),
        )
        elapsed = self._clock.monotonic() - started
        return delay if retry.may_retry(attempt, elapsed=elapsed, next_delay=delay) else None


def run_pool(
    changes: Sequence[Change],
    call: Callable[[TaskApi, Change], T],
    handle: Callable[[Done[T]], None],
    *,
    api_factory: Callable[[], TaskApi],
    settings: EngineSettings,
    halt: Halt,
    meter: ProgressMeter,
    observer: ProgressObserver | None,
    action: str,
    quota: Quota = LOCAL_QUOTA,
    rand: Callable[[], float] | None = None,
    ready: Callable[[Change], bool] | None = None,
) -> CallError | None:
    """One call per change on a fresh pool, under a halt of its own, drawing its slots
    from ``quota`` (for the API ``action``); the fatal error, if any.

    ``ready`` is asked of each change just before its call: one that is not is
    handed back, unsent, as a ``Done`` with ``not_ready``."""
    with (
        halt.child() as run_halt,
        quota.limiter(settings.rate, clock=halt.clock, action=action) as limiter,
    ):
        if settings.watch_limiter is not None:
            settings.watch_limiter(limiter)
        pool: Pool[T] = Pool(
            changes,
            call,
            api_factory=api_factory,
            settings=settings,
            limiter=limiter,
            halt=run_halt,
            rand=rand,
            ready=ready,
        )
        _Driver(pool, handle, halt=run_halt, settings=settings, meter=meter, observer=observer)()
        return pool.fatal


class _Driver(Generic[T]):
    """Runs the pool and hands each result to ``handle`` on this thread, in arrival order."""

    def __init__(
        self,
        pool: Pool[T],
        handle: Callable[[Done[T]], None],
        *,
        halt: Halt,
        settings: EngineSettings,
        meter: ProgressMeter,
        observer: ProgressObserver | None,
    ) -> None:
        self._pool = pool
        self._handle = handle
        self._halt = halt
        self._clock = halt.clock
        self._settings = settings
        self._meter = meter
        self._observer = observer
        self._next_progress = self._clock.monotonic()

    def __call__(self) -> None:
        pool = self._pool
        pool.start()
        try:
            halted_at: float | None = None
            while True:
                handled = self._handle_one(wait=True)
                self._report_progress(force=False)
                if handled:
                    continue
                if not pool.alive():
                    break
                if self._halt.is_set() and pool.fatal is None:
                    now = self._clock.monotonic()
                    halted_at = now if halted_at is None else halted_at
                    if now - halted_at >= self._settings.drain_timeout:
                        break  # abandon calls still in flight; the next run converges them
            while self._handle_one(wait=False):  # whatever finished while we stopped
                pass
            self._report_progress(force=True)
        except BaseException:  # a commit failed: start no more calls, then let it rise
            pool.abort()
            raise

    def _handle_one(self, *, wait: bool) -> bool:
        """Handle one result if there is one; else, with ``wait``, wait a poll interval
        for one to arrive. Whether a result was handled.

        Before a halt this wait is only the loop's wake-up cadence (for the progress
        line): it measures nothing, so it is a plain wait on the event, and on a fake
        clock it does not move time for the workers. After a halt the loop times the
        drain, so it waits on the clock.
        """
        pool = self._pool
        try:
            done = pool.results.get_nowait()
        except queue.Empty:
            if wait:
                pool.result_ready.clear()
                if pool.results.empty():  # a put between the get and the clear is seen here
                    if self._halt.is_set():
                        self._clock.wait(pool.result_ready, self._settings.poll_interval)
                    else:
                        pool.result_ready.wait(self._settings.poll_interval)
            return False
        self._handle(done)
        pool.handled()
        return True

    def _report_progress(self, *, force: bool) -> None:
        if self._observer is None:
            return
        now = self._clock.monotonic()
        if force or now >= self._next_progress:
            self._observer.on_progress(self._meter.snapshot(self._pool.in_flight))
            self._next_progress = now + self._settings.progress_interval
