"""The domain values every layer speaks: addresses, desired tasks, state records,
planned changes and apply outcomes.

Pure data: frozen dataclasses and enums, no I/O, no clock. Every other module may
import this one; it imports nothing of the package but ``reconciler.instant``.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.instant import Instant
from reconciler.text import check_text, check_time, printable

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

#: What a TaskId may not hold, as the body of a character class: whitespace and
#: control characters (C0, DEL, C1, the Unicode spaces and separators, lone
#: surrogates) and the invisible or bidirectional format characters of Unicode
#: category Cf in the Basic Multilingual Plane (soft hyphen, zero-width space and
#: joiners, the left-to-right / right-to-left marks, embeddings, overrides and
#: isolates, the byte-order mark, ...): with them two different TaskIds print alike.
#: Written with escapes that Python's ``re`` and ECMA-262 read alike.
_REFUSED_BMP = (
    r"\x00-\x20\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680"
    r"\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff\ufff9-\ufffb"
    r"\ud800-\udfff"
)
#: The format characters (Cf) outside the Basic Multilingual Plane (tag characters,
#: shorthand and musical format controls, ...), as literal characters: ECMA-262
#: without its ``u`` flag cannot name them, so the JSON Schema's pattern leaves them
#: out; every reader here refuses them.
_REFUSED_ASTRAL = "".join(
    f"{chr(low)}-{chr(high)}"
    for low, high in (
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    )
)
#: One character a TaskId may hold (a Python regular expression): the manifest
#: loader, plans and pushed states all judge TaskIds by it (through ``task_id_ok``).
TASK_ID_CHAR = f"[^{_REFUSED_BMP}{_REFUSED_ASTRAL}]"
#: The JSON Schema's TaskId pattern (ECMA-262): the same rule within the BMP.
TASK_ID_PATTERN = f"^[^{_REFUSED_BMP}]+$"
task_id_ok = re.compile(f"{TASK_ID_CHAR}{{1,{TASK_ID_MAX_LENGTH}}}").fullmatch
_refused_char = re.compile(f"[{_REFUSED_BMP}{_REFUSED_ASTRAL}]").search

#: Serials are stored as signed 64-bit integers (SQLite INTEGER, PostgreSQL bigint).
SERIAL_MAX = 2**63 - 1

#: Version of the JSON documents this tool writes (plans, pulled state).
FORMAT_VERSION = 1


def format_address(sdk_app_id: int, task_id: str) -> str:
    """The identity of a task everywhere: ``<sdkAppId>/<taskId>``."""
    return f"{sdk_app_id}/{task_id}"


def parse_address(address: str) -> tuple[int, str]:
    """Split an address at its first ``/`` into (sdkAppId, taskId), each checked.

    Raises ``InvalidValue`` (a ValueError) with a user-facing message when it is not
    the address of a task: the sdkAppId must be written in plain decimal (as
    ``format_address`` writes it) and the TaskId must pass ``check_task_id``.
    """
    app, sep, task = address.partition("/")
    if not sep or not _DECIMAL.fullmatch(app):
        raise InvalidValue(
            f"{shown(address)} is not a task address", "expected SDKAPPID/TASKID, e.g. 1400000001/a"
        )
    try:
        if len(app) > len(str(SDK_APP_ID_MAX)):
            raise InvalidValue(f"sdkAppId {shown(app)} is out of range")
        return check_sdk_app_id(int(app)), check_task_id(task)
    except InvalidValue as exc:
        raise InvalidValue(
            f"{shown(address)} is not a task address: {exc.message}", exc.hint
        ) from None


class InvalidValue(ValueError):
    """A value that breaks one of the rules below; ``hint`` says how to mend it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(f"{message} (hint: {hint})" if hint else message)
        self.message = message
        self.hint = hint


#: An sdkAppId as addresses write it: plain decimal, no sign, no leading zero.
_DECIMAL = re.compile(r"[1-9][0-9]*")
_SHOWN_CHARS = 60


def shown(text: str) -> str:
    """User text for a one-line message: quoted, shortened, invisible characters escaped."""
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    return repr(text)


def task_id_problem(task_id: str) -> InvalidValue | None:
    """What is wrong with ``task_id`` as a TaskId, or None when it is a valid one.

    The one TaskId rule: 1 to 256 characters, none of them whitespace, a control
    character, a lone surrogate or an invisible / bidirectional format character.
    """
    if task_id_ok(task_id):
        return None
    if not task_id:
        return InvalidValue("taskId must not be empty")
    if len(task_id) > TASK_ID_MAX_LENGTH:
        return InvalidValue(
            f"taskId is {len(task_id)} characters long; at most {TASK_ID_MAX_LENGTH} are allowed"
        )
    found = _refused_char(task_id)
    char = found.group() if found else task_id[0]
    code = f"U+{ord(char):04X}"
    if unicodedata.category(char) == "Cf":
        name = unicodedata.name(char, "a format character")
        return InvalidValue(
            f"taskId {shown(task_id)} holds an invisible or bidirectional format character "
            f"({code} {name})",
            "such characters make different TaskIds look alike; type the TaskId again without it",
        )
    if 0xD800 <= ord(char) <= 0xDFFF:
        return InvalidValue(
            f"taskId {shown(task_id)} holds a lone surrogate ({code})", "it is not valid text"
        )
    return InvalidValue(f"taskId {shown(task_id)} contains whitespace or a control character")


def check_task_id(value: object) -> str:
    """``value`` as a TaskId; ``InvalidValue`` if it is not a valid one."""
    if not isinstance(value, str):
        raise InvalidValue(f"taskId must be a string, not {_json_kind(value)}")
    problem = task_id_problem(value)
    if problem is not None:
        raise problem
    return value


def check_sdk_app_id(value: object) -> int:
    """``value`` as an sdkAppId (an integer in 1 .. 2^63-1); ``InvalidValue`` if not."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue(f"sdkAppId must be an integer, not {_json_kind(value)}")
    if not SDK_APP_ID_MIN <= value <= SDK_APP_ID_MAX:
        shown_value = str(value) if abs(value) < 10**30 else "a number that large"
        raise InvalidValue(
            f"sdkAppId {shown_value} is out of range ({SDK_APP_ID_MIN}..{SDK_APP_ID_MAX})"
        )
    return value


def check_region(value: object) -> str:
    """``value`` as a region TRTC knows; ``InvalidValue`` if it is not one."""
    if not isinstance(value, str):
        raise InvalidValue(f"region must be a string, not {_json_kind(value)}")
    if value not in REGIONS:
        raise InvalidValue(
            f"unknown region {shown(value)}", f"accepted regions: {', '.join(sorted(REGIONS))}"
        )
    return value


def check_serial(value: object) -> int:
    """``value`` as a state serial (a whole number up to 2^63-1); ``InvalidValue`` if not."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidValue("serial must be a whole number")
    if value > SERIAL_MAX:
        raise InvalidValue(f"serial is out of range (at most {SERIAL_MAX})")
    return value


def _json_kind(value: object) -> str:
    """How a JSON value is named in messages."""
    kinds = {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return kinds.get(type(value), type(value).__name__)


class Action(enum.Enum):
    """What a plan does to one address; each prints with its own symbol."""

    STOP = "stop"
    WAIT = "wait"  # declared, not recorded, its stopAt still ahead: nothing yet
    FORGET = "forget"

    @property
    def symbol(self) -> str:
        return _ACTION_SYMBOLS[self]


_ACTION_SYMBOLS = {Action.STOP: "-", Action.WAIT: "@", Action.FORGET: "~"}


class Outcome(enum.Enum):
    """What happened to one change on apply."""

    STOPPED = "stopped"
    ALREADY_STOPPED = "already_stopped"
    FAILED = "failed"
    FORGOTTEN = "forgotten"
    WAITING = "waiting"  # a stop not sent: its stopAt was still ahead at call time

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
    stop_at: Instant | None = None  # not to be stopped before this; None: at once

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
        """Build a record from its JSON form, checked by the rules every input shares.

        Raises ValueError (often ``InvalidValue``), KeyError or TypeError if malformed.
        """
        sdk_app_id = check_sdk_app_id(doc["sdkAppId"])
        task_id = check_task_id(doc["taskId"])
        address = _str(doc, "address")
        if address != format_address(sdk_app_id, task_id):
            raise ValueError(f"address {shown(address)} does not match sdkAppId/taskId")
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
            region=check_region(doc["region"]),
            outcome=outcome,
            request_id=None if request_id is None else check_text(request_id, "requestId"),
            time=check_time(_str(doc, "time"), "time"),
            source=check_text(_str(doc, "source"), "source"),
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
    stop_at: Instant | None = None  # the task's stopAt, for a stop or a wait

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
    timestamp: Instant | None = None  # the "now" it was planned at (waits are relative to it)
    manifests: tuple[str, ...] = ()  # the paths it was planned from, as given

    @property
    def has_changes(self) -> bool:
        """Whether applying it now would do anything (a wait does nothing yet)."""
        return any(change.action is not Action.WAIT for change in self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)


class ErrorClass(enum.Enum):
    """What a failed cloud call means for a run; the TRTC adapter decides, in one place.

    ``CONVERGED``: the goal already holds. ``THROTTLED`` and ``RETRYABLE``: try again
    later. ``UNREACHABLE``: the request never reached the endpoint (connection
    refused, DNS or TLS failure) — try again later, and the engine's circuit breaker
    counts it. ``TASK_FAILED``: this task fails, the others go on. ``FATAL``: the whole
    run stops sending requests.
    """

    CONVERGED = "converged"
    THROTTLED = "throttled"
    RETRYABLE = "retryable"
    UNREACHABLE = "unreachable"
    TASK_FAILED = "task_failed"
    FATAL = "fatal"

    @property
    def transient(self) -> bool:
        return self in (ErrorClass.THROTTLED, ErrorClass.RETRYABLE, ErrorClass.UNREACHABLE)


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
        text = f"{printable(self.file)}:{self.line}:{self.col}: {self.message}"
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
