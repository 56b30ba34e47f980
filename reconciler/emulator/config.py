"""The emulator's settings as values: fault kinds and rates, seed tasks, the frozen
``EmulatorConfig``, and the readers of the task seed formats (``--tasks FILE`` and
``--task SDKAPPID/TASKID@REGION``).

Everything here is a plain value or a pure parser; the only I/O is reading a seed
file in ``load_tasks_file``. Problems are raised as ``ConfigError`` with a one-line,
user-facing message.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import yaml

from reconciler.domain import REGIONS, SDK_APP_ID_MAX, SDK_APP_ID_MIN, format_address, parse_address

DEFAULT_SECRET_ID = "AKIDEMULATOR0000000000000000000000"
DEFAULT_SECRET_KEY = "emulator-secret-key-0000000000000"  # a published test key, not a secret
DEFAULT_RATE_LIMIT = 20
DEFAULT_REGION = "ap-singapore"

#: Seed files are small lists of test tasks; anything bigger is a mistake.
MAX_TASKS_FILE_BYTES = 8 * 1024 * 1024

#: Keys a task entry of a seed document may carry. ``address`` and ``stops`` are
#: the read-only fields ``GET /_emulator/tasks`` adds, accepted (and ignored) so its
#: output can be posted back as a seed document.
_TASK_KEYS = ("sdkAppId", "taskId", "region", "status")
_READ_ONLY_TASK_KEYS = ("address", "stops")


class ConfigError(ValueError):
    """A setting, seed file or admin request the emulator refuses; one-line message."""


class FaultKind(str, enum.Enum):
    """A way the emulated API can misbehave for one request."""

    INTERNAL = "internal"  # 200 JSON InternalError, nothing applied
    DROP = "drop"  # connection closed without an answer, nothing applied
    LOST = "lost"  # action applied, then connection closed without an answer
    HTTP502 = "http502"  # HTTP 502 with an HTML body, nothing applied
    THROTTLE = "throttle"  # 200 JSON RequestLimitExceeded, nothing applied
    BADJSON = "badjson"  # HTTP 200 application/json with a truncated body, nothing applied

    @classmethod
    def parse(cls, value: object) -> FaultKind:
        if isinstance(value, FaultKind):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        raise ConfigError(
            f"unknown fault kind {value!r} (expected one of: {', '.join(FAULT_NAMES)})"
        )


FAULT_NAMES: tuple[str, ...] = tuple(kind.value for kind in FaultKind)


class TaskStatus(str, enum.Enum):
    """Where a task of the emulator's table stands."""

    IN_PROGRESS = "InProgress"
    STOPPED = "Stopped"  # ended by a StopStreamIngest the emulator applied
    FINISHED = "Finished"  # ended on its own (seeded that way)

    @property
    def running(self) -> bool:
        return self is TaskStatus.IN_PROGRESS

    @classmethod
    def parse(cls, value: object) -> TaskStatus:
        if isinstance(value, TaskStatus):
            return value
        for status in cls:
            if isinstance(value, str) and value.lower() == status.value.lower():
                return status
        names = ", ".join(status.value for status in cls)
        raise ConfigError(f"unknown task status {value!r} (expected one of: {names})")


@dataclass(frozen=True)
class FaultRates:
    """Per-request probability of each fault kind; together at most 1."""

    internal: float = 0.0
    drop: float = 0.0
    lost: float = 0.0
    http502: float = 0.0
    throttle: float = 0.0
    badjson: float = 0.0

    def __post_init__(self) -> None:
        for item in fields(self):
            rate = getattr(self, item.name)
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise ConfigError(f"fault {item.name}: probability must be a number, got {rate!r}")
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ConfigError(f"fault {item.name}: probability must be within 0..1, got {rate}")
        if self.total > 1.0 + 1e-9:
            raise ConfigError(f"fault probabilities add up to {self.total:g}, more than 1")

    @classmethod
    def from_mapping(cls, rates: Mapping[str, object]) -> FaultRates:
        """Rates by kind name; kinds not named are 0."""
        values: dict[str, float] = {}
        for name, rate in rates.items():
            kind = FaultKind.parse(name)
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise ConfigError(f"fault {kind.value}: probability must be a number, got {rate!r}")
            values[kind.value] = float(rate)
        return cls(**values)

    @property
    def total(self) -> float:
        return sum(self.rate(kind) for kind in FaultKind)

    def rate(self, kind: FaultKind) -> float:
        return float(getattr(self, kind.value))

    def pick(self, draw: float) -> FaultKind | None:
        """The fault a uniform ``draw`` in [0, 1) selects, or None for a normal answer."""
        threshold = 0.0
        for kind in FaultKind:
            threshold += self.rate(kind)
            if draw < threshold:
                return kind
        return None

    def to_json(self) -> dict[str, float]:
        return {kind.value: self.rate(kind) for kind in FaultKind}


@dataclass(frozen=True)
class ScheduledFault:
    """A fault queued for the next API request (of ``action``, or of any action)."""

    kind: FaultKind
    action: str | None = None

    def matches(self, action: str) -> bool:
        return self.action is None or self.action == action

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind.value, "action": self.action}


@dataclass(frozen=True)
class SeedTask:
    """One stream-ingest task to put in the emulator's table."""

    sdk_app_id: int
    task_id: str
    region: str = DEFAULT_REGION
    status: TaskStatus = TaskStatus.IN_PROGRESS

    def __post_init__(self) -> None:
        if isinstance(self.sdk_app_id, bool) or not isinstance(self.sdk_app_id, int):
            raise ConfigError(f"sdkAppId must be an integer, got {self.sdk_app_id!r}")
        if not SDK_APP_ID_MIN <= self.sdk_app_id <= SDK_APP_ID_MAX:
            raise ConfigError(f"sdkAppId {self.sdk_app_id} is out of range 1..2^63-1")
        if not isinstance(self.task_id, str) or not self.task_id:
            raise ConfigError(f"taskId must be a non-empty string, got {self.task_id!r}")
        if self.region not in REGIONS:
            raise ConfigError(
                f"unknown region {self.region!r} (expected one of: {', '.join(sorted(REGIONS))})"
            )
        if not isinstance(self.status, TaskStatus):
            raise ConfigError(f"unknown task status {self.status!r}")

    @property
    def address(self) -> str:
        return format_address(self.sdk_app_id, self.task_id)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an emulator is started with. Runtime changes (faults, latency, rate
    limit) go through ``Emulator.configure`` and never mutate this value."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    secret_id: str = DEFAULT_SECRET_ID
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    token: str | None = field(default=None, repr=False)  # when set, X-TC-Token must match
    rate_limit: int = DEFAULT_RATE_LIMIT  # per action per sliding second; 0 disables
    latency: float = 0.0
    latency_jitter: float = 0.0
    faults: FaultRates = FaultRates()
    seed: int | None = None
    tasks: tuple[SeedTask, ...] = ()

    def __post_init__(self) -> None:
        if not _loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host!r}: the emulator binds loopback addresses only"
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ConfigError(f"port must be an integer, got {self.port!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range 0..65535")
        if not self.secret_id or not isinstance(self.secret_id, str):
            raise ConfigError("secret id must be a non-empty string")
        if not self.secret_key or not isinstance(self.secret_key, str):
            raise ConfigError("secret key must be a non-empty string")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ConfigError("token must be a non-empty string when given")
        check_rate_limit(self.rate_limit)
        check_seconds("latency", self.latency)
        check_seconds("latency jitter", self.latency_jitter)
        check_unique(self.tasks)


def check_rate_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"rate limit must be a non-negative integer (0 disables), got {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 3600.0):
        raise ConfigError(f"{name} must be within 0..3600 seconds, got {value}")
    return float(value)


def check_unique(tasks: Iterable[SeedTask]) -> None:
    seen: set[str] = set()
    for task in tasks:
        if task.address in seen:
            raise ConfigError(f"task {task.address} is declared twice")
        seen.add(task.address)


def parse_task_address(text: str, *, status: TaskStatus = TaskStatus.IN_PROGRESS) -> SeedTask:
    """``SDKAPPID/TASKID@REGION``: the TaskId is split off at the first ``/``, the region
    after the last ``@``."""
    rest, at, region = text.rpartition("@")
    if not at or not region:
        raise ConfigError(f"{text!r} is not a task (expected SDKAPPID/TASKID@REGION)")
    try:
        sdk_app_id, task_id = parse_address(rest)
    except ValueError:
        raise ConfigError(f"{text!r} is not a task (expected SDKAPPID/TASKID@REGION)") from None
    try:
        return SeedTask(sdk_app_id, task_id, region=region, status=status)
    except ConfigError as error:
        raise ConfigError(f"{text!r}: {error}") from None


def parse_tasks_document(document: object, *, source: str) -> tuple[SeedTask, ...]:
    """``{"tasks": [{"sdkAppId", "taskId", "region", "status"}, ...]}`` → seed tasks."""
    if not isinstance(document, Mapping) or "tasks" not in document:
        raise ConfigError(f'{source}: expected a mapping with a "tasks" list')
    unknown = sorted(str(key) for key in document if key != "tasks")
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (expected only tasks)")
    entries = document["tasks"]
    if entries is None:
        return ()
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)):
        raise ConfigError(f'{source}: "tasks" must be a list')
    tasks = tuple(
        _seed_entry(entry, where=f"{source}: tasks[{i}]") for i, entry in enumerate(entries)
    )
    try:
        check_unique(tasks)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return tasks


def _seed_entry(entry: object, *, where: str) -> SeedTask:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping with sdkAppId, taskId, region")
    unknown = sorted(str(key) for key in entry if key not in _TASK_KEYS + _READ_ONLY_TASK_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (expected: {', '.join(_TASK_KEYS)})"
        )
    missing = [key for key in ("sdkAppId", "taskId", "region") if key not in entry]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    task_id = entry["taskId"]
    if not isinstance(task_id, str):
        raise ConfigError(f"{where}.taskId: must be a string, got {task_id!r} (quote it)")
    region = entry["region"]
    if not isinstance(region, str):
        raise ConfigError(f"{where}.region: must be a string, got {region!r}")
    try:
        return SeedTask(
            entry["sdkAppId"],
            task_id,
            region=region,
            status=TaskStatus.parse(entry.get("status", TaskStatus.IN_PROGRESS.value)),
        )
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def load_tasks_file(path: str) -> tuple[SeedTask, ...]:
    """Read a seed file: JSON when it ends in ``.json``, YAML (safe subset) otherwise."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TASKS_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read tasks file {path}: {error.strerror or error}") from None
    if len(raw) > MAX_TASKS_FILE_BYTES:
        raise ConfigError(f"{path}: tasks file is larger than {MAX_TASKS_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: tasks file is not UTF-8 text") from None
    document: object
    if path.lower().endswith(".json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
            ) from None
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
            raise ConfigError(f"{where}: invalid YAML: {error.problem or error}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML: {error}") from None
    return parse_tasks_document(document, source=path)
