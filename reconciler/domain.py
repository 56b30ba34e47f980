"""The domain values every layer speaks: addresses, desired tasks, state records,
planned changes and apply outcomes.

Pure data: frozen dataclasses and enums, no I/O. Every other module of the package
may import this one; it imports nothing of the package.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The regions TRTC's ``StopStreamIngest`` is documented for: the union of the
#: international site's list and the China site's list.
REGIONS: frozenset[str] = frozenset(
    {
        "ap-bangkok",
        "ap-jakarta",
        "ap-mumbai",
        "ap-singapore",
        "ap-beijing",
        "ap-chongqing",
        "ap-guangzhou",
        "ap-shanghai",
    }
)

SDK_APP_ID_MIN = 1
SDK_APP_ID_MAX = 2**63 - 1
TASK_ID_MAX_LENGTH = 256

#: What every manifest document declares.
API_VERSION = "reconciler/v1"
KIND = "StreamIngestStop"

#: One character a TaskId may hold: anything but whitespace and control characters
#: (C0, DEL, C1, the Unicode spaces, the byte-order mark, lone surrogates). Written
#: with escapes that Python's ``re`` and ECMA-262 read alike, so the loader and the
#: JSON Schema share it.
TASK_ID_CHAR = (
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    r"\ud800-\udfff]"
)
TASK_ID_PATTERN = f"^{TASK_ID_CHAR}+$"

#: Version of the JSON documents this tool writes (plans, pulled state).
FORMAT_VERSION = 1


def format_address(sdk_app_id: int, task_id: str) -> str:
    """The identity of a task everywhere: ``<sdkAppId>/<taskId>``."""
    return f"{sdk_app_id}/{task_id}"


def parse_address(address: str) -> tuple[int, str]:
    """Split an address at its first ``/`` into (sdkAppId, taskId).

    Raises ValueError with a user-facing message when it is not an address.
    """
    app, sep, task = address.partition("/")
    if not sep or not task or not app.isdigit():
        raise ValueError(f"{address!r} is not a task address (expected SDKAPPID/TASKID)")
    return int(app), task


class Action(enum.Enum):
    """What a plan does to one address; each prints with its own symbol."""

    STOP = "stop"
    FORGET = "forget"

    @property
    def symbol(self) -> str:
        return _ACTION_SYMBOLS[self]


_ACTION_SYMBOLS = {Action.STOP: "-", Action.FORGET: "~"}


class Outcome(enum.Enum):
    """What happened to one change on apply."""

    STOPPED = "stopped"
    ALREADY_STOPPED = "already_stopped"
    FAILED = "failed"
    FORGOTTEN = "forgotten"

    @property
    def recorded(self) -> bool:
        """Whether this outcome leaves a record in state (the goal holds)."""
        return self in (Outcome.STOPPED, Outcome.ALREADY_STOPPED)


class LiveStatus(enum.Enum):
    """What ``DescribeStreamIngest`` says of a task."""

    IN_PROGRESS = "InProgress"
    NOT_EXIST = "NotExist"


@dataclass(frozen=True, slots=True)
class DesiredTask:
    """One task a manifest declares must be stopped."""

    sdk_app_id: int
    task_id: str
    region: str
    source: str  # "FILE:LINE" of its declaration
    note: str | None = None

    @property
    def address(self) -> str:
        return format_address(self.sdk_app_id, self.task_id)


@dataclass(frozen=True, slots=True)
class Record:
    """One task recorded in state: the goal held at ``time``."""

    address: str
    sdk_app_id: int
    task_id: str
    region: str
    outcome: Outcome  # STOPPED or ALREADY_STOPPED
    request_id: str | None
    time: str  # UTC, RFC 3339
    source: str

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "sdkAppId": self.sdk_app_id,
            "taskId": self.task_id,
            "region": self.region,
            "outcome": self.outcome.value,
            "requestId": self.request_id,
            "time": self.time,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Record:
        """Build a record from its JSON form; raises ValueError/KeyError/TypeError if malformed."""
        sdk_app_id = doc["sdkAppId"]
        if not isinstance(sdk_app_id, int) or isinstance(sdk_app_id, bool):
            raise TypeError("sdkAppId must be an integer")
        task_id = _str(doc, "taskId")
        address = _str(doc, "address")
        if address != format_address(sdk_app_id, task_id):
            raise ValueError(f"address {address!r} does not match sdkAppId/taskId")
        request_id = doc.get("requestId")
        if request_id is not None and not isinstance(request_id, str):
            raise TypeError("requestId must be a string or null")
        outcome = Outcome(_str(doc, "outcome"))
        if not outcome.recorded:
            raise ValueError(f"outcome {outcome.value!r} is never recorded in state")
        return cls(
            address=address,
            sdk_app_id=sdk_app_id,
            task_id=task_id,
            region=_str(doc, "region"),
            outcome=outcome,
            request_id=request_id,
            time=_str(doc, "time"),
            source=_str(doc, "source"),
        )


def _str(doc: Mapping[str, object], key: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


@dataclass(frozen=True)
class StateSnapshot:
    """The whole recorded state at one serial."""

    lineage: str | None  # None: no state has been written yet
    serial: int
    records: Mapping[str, Record] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "format_version": FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "records": [self.records[a].to_json() for a in sorted(self.records)],
        }


EMPTY_STATE = StateSnapshot(lineage=None, serial=0, records={})


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change to one address."""

    action: Action
    sdk_app_id: int
    task_id: str
    region: str
    source: str
    live: LiveStatus | None = None  # set by ``plan --refresh``

    @property
    def address(self) -> str:
        return format_address(self.sdk_app_id, self.task_id)


@dataclass(frozen=True)
class Plan:
    """What apply would do, against the state at (lineage, serial)."""

    lineage: str | None
    serial: int
    changes: tuple[Change, ...]
    unchanged: int

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)


class ErrorClass(enum.Enum):
    """What a failed cloud call means for a run; the TRTC adapter decides, in one place.

    ``CONVERGED``: the goal already holds. ``THROTTLED`` and ``RETRYABLE``: try again
    later. ``TASK_FAILED``: this task fails, the others go on. ``FATAL``: the whole run
    stops sending requests.
    """

    CONVERGED = "converged"
    THROTTLED = "throttled"
    RETRYABLE = "retryable"
    TASK_FAILED = "task_failed"
    FATAL = "fatal"

    @property
    def transient(self) -> bool:
        return self in (ErrorClass.THROTTLED, ErrorClass.RETRYABLE)


@dataclass(frozen=True, slots=True)
class CallError:
    """An error the cloud (or the way to it) answered for one call."""

    code: str
    message: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The outcome of one change on apply; committed to state before it is reported."""

    change: Change
    outcome: Outcome
    request_id: str | None = None
    error: CallError | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file the user gave, at FILE:LINE:COL (1-based; 0:0 = whole file)."""

    file: str
    line: int
    col: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.message}"
        if self.hint is None:
            return text
        if self.hint.startswith("did you mean"):
            return f"{text}; {self.hint}"
        return f"{text} (hint: {self.hint})"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or wants) the state's writer lock: enough to find and judge the process."""

    host: str
    pid: int
    since: str  # UTC, RFC 3339
    operation: str  # "apply", "run", "state rm", ...
    run_id: str

    def describe(self) -> str:
        """One phrase for messages: operation, run, host, pid, since."""
        return (
            f"{self.operation} (run {self.run_id}) on host {self.host}, pid {self.pid}, "
            f"since {self.since}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
            "operation": self.operation,
            "run_id": self.run_id,
        }

    @classmethod
    def from_json(cls, doc: object) -> LockHolder | None:
        """The holder ``to_json`` wrote; None when ``doc`` is not one (empty, torn)."""
        if not isinstance(doc, dict):
            return None
        pid = doc.get("pid")
        fields = [doc.get(key) for key in ("host", "since", "operation", "run_id")]
        if not isinstance(pid, int) or not all(isinstance(value, str) for value in fields):
            return None
        host, since, operation, run_id = (str(value) for value in fields)
        return cls(host=host, pid=pid, since=since, operation=operation, run_id=run_id)
