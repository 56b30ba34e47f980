"""The apply engine: carries out a plan's changes against TRTC, durably.

- ``forget`` changes only touch state (no API call).
- ``stop`` changes run on a bounded pool of worker threads, each with its own SDK
  clients, all drawing send slots from one global rate limiter (retries included).
- Transient errors retry with jittered exponential backoff, bounded by attempts and
  a deadline; a fatal (credential) error halts the run at once: no new request is
  started, in-flight ones finish and are recorded.
- Results travel to the calling thread, which commits each converged outcome to the
  state store *before* it logs or reports it — so nothing reported is ever lost.
  At most ``parallelism`` calls are ever sent and not yet handled (a worker waits
  for the commit of its last result before it starts another call, however slow
  the store), so a SIGKILL loses at most the calls in flight.
- ``halt`` (set by a signal handler) stops new calls; in-flight ones get a bounded
  drain time, then whatever finished is committed and the run returns.

Time is injected (a clock and a cancellable wait), so tests run on fake time.
``plan --refresh`` uses the same pool for ``DescribeStreamIngest``.
"""

from __future__ import annotations

import contextlib
import copy
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Generic, Protocol, TypeVar

import structlog

from reconciler.backoff import RetryPolicy
from reconciler.domain import (
    Action,
    Change,
    CloudError,
    LiveStatus,
    Outcome,
    Plan,
    Record,
    TaskResult,
)
from reconciler.ratelimit import RateLimiter, RateSettings
from reconciler.state import StateStore
from reconciler.trtc import CloudCallError, ErrorClass

log = structlog.get_logger("reconciler.engine")

T = TypeVar("T")
Clock = Callable[[], float]


class TaskApi(Protocol):
    """What a worker needs from TRTC (``reconciler.trtc.TrtcApi`` in production)."""

    def stop(self, *, sdk_app_id: int, task_id: str, region: str) -> str: ...

    def describe(self, *, sdk_app_id: int, task_id: str, region: str) -> LiveStatus: ...


class Halt:
    """A cancellable wait shared by all workers: set it and every wait returns at once.

    ``child()`` makes a linked halt for one unit of work: setting the parent (a
    signal) sets every child, while setting a child (a fatal error in that run)
    leaves the parent — and so a ``run`` loop's next cycle — alone.
    """

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()
        self._children: list[Halt] = []
        self._lock = threading.Lock()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if halted meanwhile."""
        if seconds <= 0:
            return self.event.is_set()
        return self.event.wait(seconds)

    def set(self) -> None:
        self.event.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    @contextlib.contextmanager
    def child(self) -> Iterator[Halt]:
        """A linked halt (of the same kind, so injected waits carry over) for one run."""
        linked = copy.copy(self)
        linked.event = threading.Event()
        linked._children = []
        linked._lock = threading.Lock()
        with self._lock:
            self._children.append(linked)
        if self.is_set():
            linked.event.set()
        try:
            yield linked
        finally:
            with self._lock:
                self._children.remove(linked)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    parallelism: int = 10
    rate: RateSettings = field(default_factory=RateSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    drain_timeout: float = 3.0  # after a halt, how long in-flight calls may finish
    progress_interval: float = 0.25

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


class ApplyObserver(Protocol):
    def on_result(self, result: TaskResult) -> None: ...

    def on_progress(self, progress: Progress) -> None: ...


@dataclass(frozen=True)
class ApplyReport:
    counts: dict[str, int]
    fatal: CloudError | None
    interrupted: bool
    not_attempted: int
    elapsed: float

    @property
    def failed(self) -> int:
        return self.counts[Outcome.FAILED.value]


@dataclass(frozen=True, slots=True)
class _Done(Generic[T]):
    change: Change
    value: T | None
    error: CloudError | None
    error_class: ErrorClass | None
    attempts: int


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Pool(Generic[T]):
    """Runs one call per change on worker threads, rate-limited, with retries."""

    def __init__(
        self,
        changes: Sequence[Change],
        call: Callable[[TaskApi, Change], T],
        *,
        api_factory: Callable[[], TaskApi],
        settings: EngineSettings,
        limiter: RateLimiter,
        halt: Halt,
        clock: Clock,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self._todo: deque[Change] = deque(changes)
        self._call = call
        self._api_factory = api_factory
        self._settings = settings
        self._limiter = limiter
        self._halt = halt
        self._clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self.results: queue.Queue[_Done[T]] = queue.Queue()
        # One permit per call sent and not yet handled by the calling thread.
        self._unhandled = threading.BoundedSemaphore(settings.parallelism)
        self.in_flight = 0
        self.fatal: CloudError | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        count = min(self._settings.parallelism, len(self._todo))
        for index in range(count):
            thread = threading.Thread(
                target=self._worker, name=f"reconciler-worker-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

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
        while True:
            self._unhandled.acquire()
            change = self._next()
            if change is None:
                self._unhandled.release()
                return
            try:
                if api is None:
                    api = self._api_factory()
                done = self._attempt(api, change)
            finally:
                with self._lock:
                    self.in_flight -= 1
            if done is None:  # halted before the call was sent: leave it for the next run
                self._unhandled.release()
                with self._lock:
                    self._todo.appendleft(change)
                return
            self.results.put(done)

    def _attempt(self, api: TaskApi, change: Change) -> _Done[T] | None:
        retry = self._settings.retry
        started = self._clock()
        attempt = 0
        while True:
            slot = self._limiter.reserve()
            if self._halt.wait(slot - self._clock()) or self._halt.is_set():
                return None
            attempt += 1
            try:
                value = self._call(api, change)
            except CloudCallError as exc:
                error_class = exc.error_class
                if error_class is ErrorClass.THROTTLED:
                    self._limiter.penalize()
                if error_class is ErrorClass.FATAL:
                    with self._lock:
                        self.fatal = self.fatal or exc.error
                    self._halt.set()
                if error_class.transient:
                    delay = retry.delay(
                        attempt,
                        throttled=error_class is ErrorClass.THROTTLED,
                        **({"rand": self._rand} if self._rand else {}),
                    )
                    elapsed = self._clock() - started
                    if retry.may_retry(attempt, elapsed=elapsed, next_delay=delay):
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
                return _Done(change, None, exc.error, error_class, attempt)
            self._limiter.reward()
            return _Done(change, value, None, None, attempt)


class _ProgressMeter:
    def __init__(self, total: int, clock: Clock) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._clock = clock
        self._recent: deque[float] = deque()

    def count(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        self._recent.append(self._clock())

    def snapshot(self, in_flight: int) -> Progress:
        now = self._clock()
        while self._recent and self._recent[0] < now - 5.0:
            self._recent.popleft()
        span = (now - self._recent[0]) if len(self._recent) > 1 else 0.0
        rate = (len(self._recent) - 1) / span if span > 0 else 0.0
        left = self.total - self.done
        eta = left / rate if rate > 0 else None
        return Progress(self.total, self.done, in_flight, self.failed, rate, eta)


def apply_plan(
    plan: Plan,
    *,
    store: StateStore,
    api_factory: Callable[[], TaskApi],
    observer: ApplyObserver,
    settings: EngineSettings | None = None,
    halt: Halt | None = None,
    clock: Clock = time.monotonic,
    now_utc: Callable[[], str] = _utc_now,
    rand: Callable[[], float] | None = None,
) -> ApplyReport:
    """Carry out ``plan``; see the module docstring for the guarantees."""
    settings = settings or EngineSettings()
    halt = halt or Halt()
    started = clock()
    counts = {outcome.value: 0 for outcome in Outcome}

    def report(result: TaskResult) -> None:
        counts[result.outcome.value] += 1
        _log_result(result)
        observer.on_result(result)

    forgets = [c for c in plan.changes if c.action is Action.FORGET]
    stops = [c for c in plan.changes if c.action is Action.STOP]
    for change in forgets:
        if halt.is_set():
            break
        store.remove([change.address])
        report(TaskResult(change=change, outcome=Outcome.FORGOTTEN))
    forgotten = counts[Outcome.FORGOTTEN.value]

    meter = _ProgressMeter(len(stops), clock)

    def commit(done: _Done[str]) -> None:
        result = _stop_result(done)
        if result.outcome.recorded:
            store.record(
                Record(
                    address=result.change.address,
                    sdk_app_id=result.change.sdk_app_id,
                    task_id=result.change.task_id,
                    region=result.change.region,
                    outcome=result.outcome,
                    request_id=result.request_id,
                    time=now_utc(),
                    source=result.change.source,
                )
            )
        meter.count(result.outcome is Outcome.FAILED)
        report(result)

    fatal: CloudError | None = None
    if stops and not halt.is_set():
        fatal = _run_pool(
            stops,
            _call_stop,
            commit,
            api_factory=api_factory,
            settings=settings,
            halt=halt,
            clock=clock,
            rand=rand,
            meter=meter,
            observer=observer,
        )

    interrupted = halt.is_set() and fatal is None
    not_attempted = len(stops) - meter.done + (len(forgets) - forgotten)
    elapsed = clock() - started
    return ApplyReport(
        counts=counts,
        fatal=fatal,
        interrupted=interrupted,
        not_attempted=not_attempted,
        elapsed=elapsed,
    )


def _run_pool(
    changes: Sequence[Change],
    call: Callable[[TaskApi, Change], T],
    handle: Callable[[_Done[T]], None],
    *,
    api_factory: Callable[[], TaskApi],
    settings: EngineSettings,
    halt: Halt,
    clock: Clock,
    rand: Callable[[], float] | None,
    meter: _ProgressMeter,
    observer: ApplyObserver | None,
) -> CloudError | None:
    """One call per change on a fresh pool, under a halt of its own; the fatal error, if any."""
    with halt.child() as run_halt:
        pool: _Pool[T] = _Pool(
            changes,
            call,
            api_factory=api_factory,
            settings=settings,
            limiter=RateLimiter(settings.rate, clock=clock),
            halt=run_halt,
            clock=clock,
            rand=rand,
        )
        _drive(pool, handle, halt=run_halt, settings=settings, meter=meter, observer=observer)
        return pool.fatal


def _drive(
    pool: _Pool[T],
    handle: Callable[[_Done[T]], None],
    *,
    halt: Halt,
    settings: EngineSettings,
    meter: _ProgressMeter,
    observer: ApplyObserver | None,
) -> None:
    """Run the pool and hand each result to ``handle`` on this thread, in arrival order."""
    pool.start()
    try:
        halted_at: float | None = None
        next_progress = time.monotonic()
        while True:
            try:
                handle(pool.results.get(timeout=0.05))
                pool.handled()
                continue_draining = True
            except queue.Empty:
                continue_draining = False
            if observer is not None and time.monotonic() >= next_progress:
                observer.on_progress(meter.snapshot(pool.in_flight))
                next_progress = time.monotonic() + settings.progress_interval
            if continue_draining:
                continue
            if not pool.alive():
                break
            if halt.is_set() and pool.fatal is None:
                halted_at = halted_at if halted_at is not None else time.monotonic()
                if time.monotonic() - halted_at >= settings.drain_timeout:
                    break  # abandon calls still in flight; the next run converges them
        while True:  # whatever finished while we stopped waiting
            try:
                handle(pool.results.get_nowait())
                pool.handled()
            except queue.Empty:
                break
        if observer is not None:
            observer.on_progress(meter.snapshot(pool.in_flight))
    except BaseException:  # a commit failed: start no more calls, then let it rise
        pool.abort()
        raise


def _call_stop(api: TaskApi, change: Change) -> str:
    return api.stop(sdk_app_id=change.sdk_app_id, task_id=change.task_id, region=change.region)


def _call_describe(api: TaskApi, change: Change) -> LiveStatus:
    return api.describe(sdk_app_id=change.sdk_app_id, task_id=change.task_id, region=change.region)


def _stop_result(done: _Done[str]) -> TaskResult:
    if done.error is None:
        return TaskResult(
            done.change, Outcome.STOPPED, request_id=done.value, attempts=done.attempts
        )
    if done.error_class is ErrorClass.CONVERGED:
        return TaskResult(
            done.change,
            Outcome.ALREADY_STOPPED,
            request_id=done.error.request_id,
            attempts=done.attempts,
        )
    return TaskResult(done.change, Outcome.FAILED, error=done.error, attempts=done.attempts)


def _log_result(result: TaskResult) -> None:
    fields: dict[str, object] = {
        "address": result.change.address,
        "action": result.change.action.value,
        "region": result.change.region,
        "outcome": result.outcome.value,
    }
    if result.request_id:
        fields["request_id"] = result.request_id
    if result.attempts > 1:
        fields["attempts"] = result.attempts
    if result.error is not None:
        log.warning("task failed", code=result.error.code, error=result.error.message, **fields)
    else:
        log.info("task " + result.outcome.value, **fields)


@dataclass(frozen=True)
class RefreshReport:
    live: dict[str, LiveStatus]
    errors: dict[str, CloudError]
    fatal: CloudError | None
    interrupted: bool


def refresh(
    changes: Iterable[Change],
    *,
    api_factory: Callable[[], TaskApi],
    settings: EngineSettings | None = None,
    halt: Halt | None = None,
    clock: Clock = time.monotonic,
) -> RefreshReport:
    """Ask DescribeStreamIngest for each ``stop`` change (rate-limited like apply)."""
    settings = settings or EngineSettings()
    halt = halt or Halt()
    stops = [c for c in changes if c.action is Action.STOP]
    live: dict[str, LiveStatus] = {}
    errors: dict[str, CloudError] = {}

    def collect(done: _Done[LiveStatus]) -> None:
        if done.value is not None:
            live[done.change.address] = done.value
        elif done.error is not None:
            errors[done.change.address] = done.error
            log.warning(
                "refresh failed",
                address=done.change.address,
                code=done.error.code,
                error=done.error.message,
            )

    fatal: CloudError | None = None
    if stops:
        fatal = _run_pool(
            stops,
            _call_describe,
            collect,
            api_factory=api_factory,
            settings=settings,
            halt=halt,
            clock=clock,
            rand=None,
            meter=_ProgressMeter(len(stops), clock),
            observer=None,
        )
    return RefreshReport(
        live=live,
        errors=errors,
        fatal=fatal,
        interrupted=halt.is_set() and fatal is None,
    )
