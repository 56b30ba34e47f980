"""The emulated account without HTTP: it admits each request (rate limit, fault
dice, latency), routes it to its service — TRTC or STS — after authentication, and
keeps the runtime settings and the statistics.

No network I/O: the HTTP layer (``reconciler.emulator.server``) hands each request
in as an ``ApiCall`` value and frames what comes back. Settings, fault queue and
tallies sit behind one lock; the task table and the keyring have their own. The
clocks are injected, so everything time-dependent is testable on fake time.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace

from reconciler.domain import REGIONS
from reconciler.emulator.actions import trtc_actions
from reconciler.emulator.api import (
    STS,
    TRTC,
    ActionRequest,
    ApiCall,
    ApiError,
    JsonDict,
    missing,
    request_params,
    service_for,
    utc_text,
)
from reconciler.emulator.auth import Keyring
from reconciler.emulator.config import (
    EmulatorConfig,
    FaultKind,
    FaultRates,
    ScheduledFault,
    SettingsChange,
)
from reconciler.emulator.seeds import SeedTask
from reconciler.emulator.sts import sts_actions
from reconciler.emulator.tasks import TaskTable
from reconciler.emulator.traffic import UNSIGNED_CALLER, Traffic
from reconciler.emulator.window import RateCounting

Clock = Callable[[], float]
#: STS answers up to 600 requests per second (AssumeRole reference), not TRTC's 20.
STS_RATE_LIMIT = 600


@dataclass(frozen=True)
class Admission:
    """What arrival bookkeeping decided for one API request."""

    accepted: bool  # False: throttled by the rate limiter
    fault: FaultKind | None
    delay: float  # seconds to wait before answering


@dataclass(frozen=True)
class RuntimeSettings:
    """The settings that can change while serving; replaced whole, never mutated."""

    rate_limit: int
    rate_limit_counts: RateCounting
    foreign_rate: float
    latency: float
    latency_jitter: float
    faults: FaultRates
    credential_ttl: int

    def changed(self, change: SettingsChange) -> RuntimeSettings:
        given = {
            item.name: getattr(change, item.name)
            for item in fields(self)
            if getattr(change, item.name) is not None
        }
        return replace(self, **given)

    def to_json(self) -> JsonDict:
        return {
            "rate_limit": self.rate_limit,
            "rate_limit_counts": self.rate_limit_counts.value,
            "foreign_rate": self.foreign_rate,
            "latency": self.latency,
            "latency_jitter": self.latency_jitter,
            "faults": self.faults.to_json(),
            "credential_ttl": self.credential_ttl,
        }


class EmulatorCore:
    """The emulated account: its tasks, credentials, limiter, faults and counters."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)  # fault dice and latency jitter
        self._settings = RuntimeSettings(
            rate_limit=config.rate_limit,
            rate_limit_counts=config.rate_limit_counts,
            foreign_rate=config.foreign_rate,
            latency=config.latency,
            latency_jitter=config.latency_jitter,
            faults=config.faults,
            credential_ttl=config.credential_ttl,
        )
        self._scheduled: list[ScheduledFault] = []
        self._tasks = TaskTable(config.tasks, seed=config.seed, wall_clock=wall_clock)
        self._keyring = Keyring(config.credentials, wall_clock=wall_clock)
        self._traffic = Traffic(foreign_rate=config.foreign_rate, now=clock())
        self._actions = {
            **trtc_actions(self._tasks),
            **sts_actions(
                self._keyring,
                roles=config.roles,
                web_identity=config.web_identity,
                credential_ttl=lambda: self._settings.credential_ttl,
            ),
        }
        self._started_at = wall_clock()
        self._in_flight = 0
        self._reset_counters(reset_at=None)

    # -- arrivals ------------------------------------------------------------------

    def _reset_counters(self, *, reset_at: float | None) -> None:
        self._reset_at = reset_at
        self._faults: Counter[FaultKind] = Counter()
        self._errors: Counter[str] = Counter()
        self._max_in_flight = self._in_flight
        self._traffic.reset()

    def _limit_for(self, action: str) -> int:
        limit = self._settings.rate_limit
        return STS_RATE_LIMIT if limit and action in STS.actions else limit

    def admit(
        self, action: str, *, caller: str = UNSIGNED_CALLER, arrived: float | None = None
    ) -> Admission:
        """Record an API request's arrival, apply the rate limit, roll for a fault.

        ``arrived``: when the request reached the server, on this core's clock (the
        kernel's stamp of its first bytes), if known; else it arrives now."""
        with self._lock:
            settings = self._settings
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            now = self._clock()
            accepted = self._traffic.arrive(
                action,
                now if arrived is None else min(arrived, now),
                caller=caller,
                limit_for=self._limit_for,
                counting=settings.rate_limit_counts,
            )
            delay = settings.latency
            if settings.latency_jitter:
                delay += self._random.uniform(0.0, settings.latency_jitter)
            if not accepted:
                return Admission(accepted=False, fault=None, delay=delay)
            fault = self._take_fault(action, settings.faults)
            if fault is not None:
                self._faults[fault] += 1
            return Admission(accepted=True, fault=fault, delay=delay)

    def _take_fault(self, action: str, rates: FaultRates) -> FaultKind | None:
        for index, scheduled in enumerate(self._scheduled):
            if scheduled.matches(action):
                del self._scheduled[index]
                return scheduled.kind
        if rates.total <= 0.0:
            return None
        return rates.pick(self._random.random())

    def finished(self) -> None:
        """An admitted request's handling is over (answered or abandoned)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def error_document(self, code: str, message: str) -> JsonDict:
        """The 200 JSON error answer, counted under its code."""
        with self._lock:
            self._errors[code] += 1
        return {
            "Response": {
                "Error": {"Code": code, "Message": message},
                "RequestId": str(uuid.uuid4()),
            }
        }

    def throttled_document(self, action: str) -> JsonDict:
        return self.error_document(
            "RequestLimitExceeded",
            f"Your current request times equals to `{self._limit_for(action)}` in a second,"
            f" which exceeds the frequency limit for `{action}`. Please reduce the frequency"
            " of calls.",
        )

    # -- the API ---------------------------------------------------------------------

    def call(self, request: ApiCall) -> JsonDict:
        """Authenticate, validate and apply one API request; the JSON document to answer."""
        try:
            answer = self._dispatch(request)
        except ApiError as error:
            return self.error_document(error.code, error.message)
        return {"Response": {**answer, "RequestId": str(uuid.uuid4())}}

    def _dispatch(self, request: ApiCall) -> JsonDict:
        action = request.header("x-tc-action")
        if not action:
            raise missing("Action")
        version = request.header("x-tc-version")
        if not version:
            raise missing("Version")
        service = service_for(action, version=version)
        if version != service.version:
            raise ApiError(
                "NoSuchVersion", f"The API version `{version}` of {service.name} does not exist."
            )
        handler = self._actions.get(action)
        if handler is None:
            raise ApiError(
                "InvalidAction",
                f"The action `{action}` of {service.name} {service.version} is not found.",
            )
        caller = self._keyring.authenticate(request, service=service)
        region = request.header("x-tc-region")
        if not region:
            raise missing("Region")
        if service is TRTC and region not in REGIONS:
            raise ApiError("UnsupportedRegion", f"The region `{region}` is not supported by trtc.")
        return handler(
            ActionRequest(
                region=region,
                params=request_params(request),
                from_query=request.from_query,
                caller=caller,
            )
        )

    # -- administration -------------------------------------------------------------

    def add_tasks(self, tasks: Iterable[SeedTask]) -> list[str]:
        """Insert or replace tasks (a replaced task keeps its stop count); their addresses."""
        return self._tasks.add(tasks)

    def tasks(self) -> list[JsonDict]:
        return self._tasks.listing()

    def credentials(self) -> list[JsonDict]:
        """The temporary credentials STS issued (never their keys or tokens)."""
        return self._keyring.issued()

    def expire_credentials(self) -> int:
        """Let every issued temporary credential expire now; how many were valid."""
        return self._keyring.expire_all()

    def configure(self, change: SettingsChange) -> JsonDict:
        """Apply a validated change; the settings after it."""
        with self._lock:
            if change.foreign_rate is not None:
                now = self._clock()
                # Arrivals due at the old rate still happen before the rate changes.
                self._traffic.catch_up(
                    now, limit_for=self._limit_for, counting=self._settings.rate_limit_counts
                )
                self._traffic.set_foreign_rate(change.foreign_rate, now=now)
            self._settings = self._settings.changed(change)
            if change.clear_next_faults:
                self._scheduled.clear()
            self._scheduled.extend(change.next_faults)
        return self.settings()

    def settings(self) -> JsonDict:
        with self._lock:
            document = self._settings.to_json()
            document["next_faults"] = [item.to_json() for item in self._scheduled]
        return document

    def reset_stats(self) -> None:
        with self._lock:
            self._reset_counters(reset_at=self._wall_clock())
        self._tasks.reset_stats()

    def stats(self) -> JsonDict:
        with self._lock:
            settings = self._settings
            traffic = self._traffic
            traffic.catch_up(
                self._clock(), limit_for=self._limit_for, counting=settings.rate_limit_counts
            )
            rate_limited = sum(traffic.requests.rate_limited.values())
            injected = self._faults[FaultKind.THROTTLE]
            return {
                "started_at": utc_text(self._started_at),
                "reset_at": None if self._reset_at is None else utc_text(self._reset_at),
                "rate_limit": settings.rate_limit,
                "rate_limit_counts": settings.rate_limit_counts.value,
                **traffic.to_json(),
                "throttled": rate_limited + injected,
                "throttled_by": {"rate_limit": rate_limited, "injected": injected},
                "faults": {kind.value: self._faults[kind] for kind in FaultKind},
                "errors": dict(sorted(self._errors.items())),
                "effective_stops": self._tasks.effective_stops(),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
            }
