"""The emulated TRTC API itself, without HTTP: the task table, request authentication
and the three actions, the per-action sliding-window rate limiter, fault selection
and the statistics.

No network I/O: the HTTP layer (``reconciler.emulator.server``) hands each request
in as an ``ApiCall`` value and frames what comes back. All state sits behind one
lock; the clocks are injected so the window logic is testable on fake time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import random
import string
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from reconciler.domain import REGIONS, SDK_APP_ID_MAX, format_address
from reconciler.emulator.config import (
    EmulatorConfig,
    FaultKind,
    FaultRates,
    ScheduledFault,
    SeedTask,
    TaskStatus,
    check_rate_limit,
    check_seconds,
)
from reconciler.emulator.signing import (
    ALGORITHM,
    TERMINATOR,
    UNSIGNED_PAYLOAD,
    MalformedAuthorization,
    parse_authorization,
    signatures_match,
    tc3_signature,
)

SERVICE = "trtc"
API_VERSION = "2019-07-22"
#: How far X-TC-Timestamp may be from the emulator's clock, as on the real API.
MAX_CLOCK_SKEW_SECONDS = 300
WINDOW_SECONDS = 1.0
MISSING_ACTION = "<missing>"

JsonDict = dict[str, Any]
Clock = Callable[[], float]

_START_FIELDS = frozenset(
    {
        "SdkAppId", "RoomId", "RoomIdType", "UserId", "UserSig", "StreamUrl", "PrivateMapKey",
        "VideoEncodeParams", "AudioEncodeParams", "SourceUrl", "SeekSecond", "AutoPush",
        "RepeatNum", "MaxDuration", "Volume", "EnableProgress", "Tempo", "IdleTimeout",
    }
)  # fmt: skip
_TASK_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


class ApiError(Exception):
    """An API-level error answer: HTTP 200 with ``Response.Error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ApiCall:
    """One API request as the HTTP layer received it."""

    method: str
    path: str  # without the query string
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    @property
    def action(self) -> str:
        return self.headers.get("x-tc-action", "").strip() or MISSING_ACTION


@dataclass(frozen=True)
class Admission:
    """What arrival bookkeeping decided for one API request."""

    accepted: bool  # False: throttled by the rate limiter
    fault: FaultKind | None
    delay: float  # seconds to wait before answering


@dataclass(frozen=True)
class TaskRecord:
    sdk_app_id: int
    task_id: str
    region: str
    status: TaskStatus
    stops: int = 0

    @property
    def address(self) -> str:
        return format_address(self.sdk_app_id, self.task_id)

    def to_json(self) -> JsonDict:
        return {
            "address": self.address,
            "sdkAppId": self.sdk_app_id,
            "taskId": self.task_id,
            "region": self.region,
            "status": self.status.value,
            "stops": self.stops,
        }


@dataclass(frozen=True)
class RuntimeSettings:
    """The settings that can change while serving; replaced whole, never mutated."""

    rate_limit: int
    latency: float
    latency_jitter: float
    faults: FaultRates

    def to_json(self) -> JsonDict:
        return {
            "rate_limit": self.rate_limit,
            "latency": self.latency,
            "latency_jitter": self.latency_jitter,
            "faults": self.faults.to_json(),
        }


class SlidingWindow:
    """Event times within the last ``WINDOW_SECONDS``; O(1) amortised per event."""

    __slots__ = ("_times", "peak")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.peak = 0

    def count(self, now: float) -> int:
        times = self._times
        horizon = now - WINDOW_SECONDS
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def add(self, now: float) -> None:
        self.count(now)
        self._times.append(now)
        self.peak = max(self.peak, len(self._times))


def _utc(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _positive_app_id(value: object, *, from_query: bool) -> int:
    if from_query and isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SDK_APP_ID_MAX:
        raise ApiError(
            "InvalidParameter.SdkAppId", f"SdkAppId must be a positive integer, got {value!r}."
        )
    return value


def _task_id(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(
            "InvalidParameter.TaskId", f"TaskId must be a non-empty string, got {value!r}."
        )
    return value


def _require(params: Mapping[str, object], *names: str) -> None:
    for name in names:
        if name not in params:
            raise ApiError(
                "MissingParameter", f"The request is missing a required parameter `{name}`."
            )


def _only(params: Mapping[str, object], allowed: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ApiError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")


class EmulatorCore:
    """The task table, the limiter, the fault dice and the counters, under one lock."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self._config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)
        self._settings = RuntimeSettings(
            rate_limit=config.rate_limit,
            latency=config.latency,
            latency_jitter=config.latency_jitter,
            faults=config.faults,
        )
        self._scheduled: list[ScheduledFault] = []
        self._tasks: dict[str, TaskRecord] = {}
        self._started_at = wall_clock()
        self._in_flight = 0
        self._reset_counters(reset_at=None)
        self._actions: dict[str, Callable[[str, Mapping[str, object], bool], JsonDict]] = {
            "StopStreamIngest": self._stop,
            "DescribeStreamIngest": self._describe,
            "StartStreamIngest": self._start,
        }
        self.add_tasks(config.tasks)

    # -- bookkeeping ---------------------------------------------------------------

    def _reset_counters(self, *, reset_at: float | None) -> None:
        self._reset_at = reset_at
        self._calls: Counter[str] = Counter()
        self._accepted: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._faults: Counter[FaultKind] = Counter()
        self._errors: Counter[str] = Counter()
        self._effective_stops: Counter[str] = Counter()
        self._arrivals: dict[str, SlidingWindow] = {}
        self._admitted: dict[str, SlidingWindow] = {}
        self._max_in_flight = self._in_flight

    def admit(self, action: str) -> Admission:
        """Record an API request's arrival, apply the rate limit, roll for a fault."""
        with self._lock:
            now = self._clock()
            settings = self._settings
            self._calls[action] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._arrivals.setdefault(action, SlidingWindow()).add(now)
            admitted = self._admitted.setdefault(action, SlidingWindow())
            delay = settings.latency
            if settings.latency_jitter:
                delay += self._random.uniform(0.0, settings.latency_jitter)
            if settings.rate_limit and admitted.count(now) >= settings.rate_limit:
                self._rate_limited[action] += 1
                return Admission(accepted=False, fault=None, delay=delay)
            admitted.add(now)
            self._accepted[action] += 1
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
            f"Your current request times equals to `{self._settings.rate_limit}` in a second,"
            f" which exceeds the frequency limit for `{action}`. Please reduce the frequency"
            " of calls.",
        )

    # -- the API ---------------------------------------------------------------------

    def call(self, request: ApiCall) -> JsonDict:
        """Authenticate, validate and apply one API request; the JSON document to answer."""
        try:
            fields = self._dispatch(request)
        except ApiError as error:
            return self.error_document(error.code, error.message)
        return {"Response": {**fields, "RequestId": str(uuid.uuid4())}}

    def _dispatch(self, request: ApiCall) -> JsonDict:
        headers = request.headers
        action = headers.get("x-tc-action", "").strip()
        if not action:
            raise ApiError(
                "MissingParameter", "The request is missing a required parameter `Action`."
            )
        version = headers.get("x-tc-version", "").strip()
        if not version:
            raise ApiError(
                "MissingParameter", "The request is missing a required parameter `Version`."
            )
        if version != API_VERSION:
            raise ApiError("NoSuchVersion", f"The API version `{version}` of trtc does not exist.")
        handler = self._actions.get(action)
        if handler is None:
            raise ApiError(
                "InvalidAction", f"The action `{action}` of trtc {API_VERSION} is not found."
            )
        self._authenticate(request)
        region = headers.get("x-tc-region", "").strip()
        if not region:
            raise ApiError(
                "MissingParameter", "The request is missing a required parameter `Region`."
            )
        if region not in REGIONS:
            raise ApiError("UnsupportedRegion", f"The region `{region}` is not supported by trtc.")
        from_query = request.method.upper() == "GET"
        return handler(region, self._params(request, from_query=from_query), from_query)

    def _authenticate(self, request: ApiCall) -> None:
        headers = request.headers
        raw = headers.get("authorization", "").strip()
        if not raw or not raw.startswith(ALGORITHM + " "):
            raise ApiError(
                "AuthFailure.InvalidAuthorization",
                "Authorization is missing or not TC3-HMAC-SHA256;"
                " the emulator checks TC3 signatures only.",
            )
        try:
            auth = parse_authorization(raw)
        except MalformedAuthorization as error:
            raise ApiError(
                "AuthFailure.InvalidAuthorization", f"Authorization is malformed: {error}."
            ) from None
        if auth.service != SERVICE or auth.terminator != TERMINATOR:
            raise ApiError(
                "AuthFailure.InvalidAuthorization",
                f"The credential scope must be DATE/{SERVICE}/{TERMINATOR}, got"
                f" {auth.date}/{auth.service}/{auth.terminator}.",
            )
        if not {"content-type", "host"} <= {name.lower() for name in auth.signed_headers}:
            raise ApiError(
                "AuthFailure.InvalidAuthorization",
                "SignedHeaders must include content-type and host.",
            )
        timestamp_text = headers.get("x-tc-timestamp", "").strip()
        if not timestamp_text:
            raise ApiError(
                "MissingParameter", "The request is missing a required parameter `Timestamp`."
            )
        if not timestamp_text.isdigit():
            raise ApiError(
                "InvalidParameter",
                f"X-TC-Timestamp must be a Unix time in seconds, got {timestamp_text!r}.",
            )
        timestamp = int(timestamp_text)
        skew = timestamp - self._wall_clock()
        if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
            raise ApiError(
                "AuthFailure.SignatureExpire",
                f"The request timestamp is {abs(skew):.0f} s off the server time (at most"
                f" {MAX_CLOCK_SKEW_SECONDS} s allowed); check your clock.",
            )
        if auth.secret_id != self._config.secret_id:
            raise ApiError(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure it is correct.",
            )
        if auth.date != dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).strftime(
            "%Y-%m-%d"
        ):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                "The credential scope date does not match the UTC date of X-TC-Timestamp.",
            )
        payload = request.body
        if headers.get("x-tc-content-sha256", "").strip() == UNSIGNED_PAYLOAD:
            payload = UNSIGNED_PAYLOAD.encode("ascii")
        expected = tc3_signature(
            self._config.secret_key,
            method=request.method,
            uri=request.path,
            query=request.query,
            headers=headers,
            signed_headers=auth.signed_headers,
            payload=payload,
            timestamp=timestamp_text,
            date=auth.date,
            service=auth.service,
        )
        if not signatures_match(expected, auth.signature):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated."
                " Please check your signature is correct.",
            )
        token = headers.get("x-tc-token")
        wanted = self._config.token
        if wanted is None:
            if token:
                raise ApiError(
                    "AuthFailure.TokenFailure",
                    "A session token was sent but this SecretId takes none.",
                )
        elif token is None or not hmac.compare_digest(wanted.encode(), token.encode()):
            raise ApiError("AuthFailure.TokenFailure", "The session token is missing or invalid.")

    @staticmethod
    def _params(request: ApiCall, *, from_query: bool) -> Mapping[str, object]:
        if from_query:
            return dict(parse_qsl(request.query, keep_blank_values=True))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(
                "InvalidParameter.BodyParamsError",
                f"POST requests must carry application/json, got {content_type or 'nothing'!r}.",
            )
        try:
            params = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(
                "InvalidParameter.BodyParamsError", "The request body is not valid JSON."
            ) from None
        if not isinstance(params, dict):
            raise ApiError(
                "InvalidParameter.BodyParamsError", "The request body must be a JSON object."
            )
        return params

    def _target(self, params: Mapping[str, object], *, from_query: bool) -> tuple[int, str]:
        _require(params, "SdkAppId", "TaskId")
        _only(params, ("SdkAppId", "TaskId"))
        return _positive_app_id(params["SdkAppId"], from_query=from_query), _task_id(
            params["TaskId"]
        )

    def _stop(self, region: str, params: Mapping[str, object], from_query: bool) -> JsonDict:
        sdk_app_id, task_id = self._target(params, from_query=from_query)
        address = format_address(sdk_app_id, task_id)
        with self._lock:
            task = self._tasks.get(address)
            if task is None or task.region != region:
                raise ApiError(
                    "InvalidParameter.TaskId", f"The task `{task_id}` does not exist in {region}."
                )
            if not task.status.running:
                raise ApiError("FailedOperation.TaskFinished", "The task has already finished.")
            self._tasks[address] = replace(task, status=TaskStatus.STOPPED, stops=task.stops + 1)
            self._effective_stops[address] += 1
        return {}

    def _describe(self, region: str, params: Mapping[str, object], from_query: bool) -> JsonDict:
        sdk_app_id, task_id = self._target(params, from_query=from_query)
        with self._lock:
            task = self._tasks.get(format_address(sdk_app_id, task_id))
        running = task is not None and task.region == region and task.status.running
        return {"Status": "InProgress" if running else "NotExist"}

    def _start(self, region: str, params: Mapping[str, object], from_query: bool) -> JsonDict:
        _require(params, "SdkAppId", "RoomId", "UserId")
        _only(params, _START_FIELDS)
        sdk_app_id = _positive_app_id(params["SdkAppId"], from_query=from_query)
        for name in ("RoomId", "UserId"):
            value = params[name]
            if not isinstance(value, str) or not value:
                raise ApiError(f"InvalidParameter.{name}", f"{name} must be a non-empty string.")
        if not params.get("StreamUrl") and not params.get("SourceUrl"):
            raise ApiError(
                "MissingParameter", "The request is missing a required parameter `StreamUrl`."
            )
        with self._lock:
            while True:
                task_id = "".join(self._random.choice(_TASK_ID_ALPHABET) for _ in range(64))
                address = format_address(sdk_app_id, task_id)
                if address not in self._tasks:
                    break
            self._tasks[address] = TaskRecord(sdk_app_id, task_id, region, TaskStatus.IN_PROGRESS)
        return {"TaskId": task_id}

    # -- administration -------------------------------------------------------------

    def add_tasks(self, tasks: Iterable[SeedTask]) -> list[str]:
        """Insert or replace tasks (a replaced task keeps its stop count); their addresses."""
        added = []
        with self._lock:
            for seed in tasks:
                old = self._tasks.get(seed.address)
                self._tasks[seed.address] = TaskRecord(
                    seed.sdk_app_id,
                    seed.task_id,
                    seed.region,
                    seed.status,
                    stops=old.stops if old else 0,
                )
                added.append(seed.address)
        return added

    def tasks(self) -> list[JsonDict]:
        with self._lock:
            return [self._tasks[address].to_json() for address in sorted(self._tasks)]

    def configure(
        self,
        *,
        faults: FaultRates | Mapping[str, object] | None = None,
        next_faults: Sequence[FaultKind | str | ScheduledFault] = (),
        clear_next_faults: bool = False,
        latency: float | None = None,
        latency_jitter: float | None = None,
        rate_limit: int | None = None,
    ) -> JsonDict:
        """Change runtime settings (``faults`` replaces all rates; ``next_faults`` are
        queued after any already queued). All is validated before anything changes.
        Returns the settings after the change."""
        changes: dict[str, Any] = {}
        if faults is not None:
            changes["faults"] = (
                faults if isinstance(faults, FaultRates) else FaultRates.from_mapping(faults)
            )
        if latency is not None:
            changes["latency"] = check_seconds("latency", latency)
        if latency_jitter is not None:
            changes["latency_jitter"] = check_seconds("latency jitter", latency_jitter)
        if rate_limit is not None:
            changes["rate_limit"] = check_rate_limit(rate_limit)
        queued = [
            item if isinstance(item, ScheduledFault) else ScheduledFault(FaultKind.parse(item))
            for item in next_faults
        ]
        with self._lock:
            self._settings = replace(self._settings, **changes)
            if clear_next_faults:
                self._scheduled.clear()
            self._scheduled.extend(queued)
        return self.settings()

    def settings(self) -> JsonDict:
        with self._lock:
            document = self._settings.to_json()
            document["next_faults"] = [item.to_json() for item in self._scheduled]
        return document

    def reset_stats(self) -> None:
        with self._lock:
            self._reset_counters(reset_at=self._wall_clock())

    def stats(self) -> JsonDict:
        with self._lock:
            rate_limited = sum(self._rate_limited.values())
            injected = self._faults[FaultKind.THROTTLE]
            return {
                "started_at": _utc(self._started_at),
                "reset_at": None if self._reset_at is None else _utc(self._reset_at),
                "rate_limit": self._settings.rate_limit,
                "calls": dict(sorted(self._calls.items())),
                "accepted": dict(sorted(self._accepted.items())),
                "throttled": rate_limited + injected,
                "throttled_by": {"rate_limit": rate_limited, "injected": injected},
                "rate_limited": dict(sorted(self._rate_limited.items())),
                "faults": {kind.value: self._faults[kind] for kind in FaultKind},
                "errors": dict(sorted(self._errors.items())),
                "max_in_window": {a: w.peak for a, w in sorted(self._arrivals.items())},
                "max_accepted_in_window": {a: w.peak for a, w in sorted(self._admitted.items())},
                "effective_stops": dict(sorted(self._effective_stops.items())),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
            }
