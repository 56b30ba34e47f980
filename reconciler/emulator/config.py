"""The emulator's settings as values: fault kinds and rates, test credentials and
roles, the frozen ``EmulatorConfig`` it starts with, the ``SettingsChange`` that
``POST /_emulator/config`` (or ``Emulator.configure``) applies while it runs, and the
one loopback check.

Plain values and pure parsers; the only I/O is ``load_credentials_file``. Problems
are raised as ``ConfigError`` with a one-line, user-facing message.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TypedDict, TypeVar

from reconciler.emulator.documents import ConfigError, parse_choice, read_document
from reconciler.emulator.seeds import SeedTask, check_unique
from reconciler.emulator.window import RateCounting, check_foreign_rate

DEFAULT_SECRET_ID = "AKIDEMULATOR0000000000000000000000"
DEFAULT_SECRET_KEY = "emulator-secret-key-0000000000000"  # a published test key, not a secret
DEFAULT_RATE_LIMIT = 20
#: STS issues credentials for 7200 s unless asked otherwise, and for at most 43200 s.
DEFAULT_CREDENTIAL_TTL = 7200
MAX_CREDENTIAL_TTL = 43200
#: ``qcs::cam::uin/12345678:roleName/NAME`` or ``qcs::cam::uin/12345678:role/ROLEID``
#: (service roles add a path), as the AssumeRole reference spells role ARNs.
ROLE_ARN = re.compile(r"^qcs::cam::uin/\d+:(?:roleName|role)/[\w+=,.@/-]+$")


T = TypeVar("T")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IPv4/IPv6 address (an IPv6 zone suffix is ignored)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


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
        return parse_choice(cls, value, what="fault kind")


FAULT_NAMES: tuple[str, ...] = tuple(kind.value for kind in FaultKind)


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


def parse_scheduled_faults(items: object) -> list[ScheduledFault]:
    """``["drop", {"kind": "lost", "action": "StopStreamIngest", "count": 2}]`` → queue entries."""
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise ConfigError('"next_faults" must be a list')
    queued: list[ScheduledFault] = []
    for item in items:
        if isinstance(item, ScheduledFault):
            queued.append(item)
            continue
        if isinstance(item, (str, FaultKind)):
            queued.append(ScheduledFault(FaultKind.parse(item)))
            continue
        if not isinstance(item, Mapping) or "kind" not in item:
            raise ConfigError(f'next_faults entry {item!r} must be a kind or {{"kind": ...}}')
        extra = sorted(str(key) for key in item if key not in ("kind", "action", "count"))
        if extra:
            raise ConfigError(f"next_faults entry: unknown key(s) {', '.join(extra)}")
        action = item.get("action")
        if action is not None and not isinstance(action, str):
            raise ConfigError("next_faults entry: action must be a string")
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise ConfigError("next_faults entry: count must be an integer within 1..100000")
        queued.extend([ScheduledFault(FaultKind.parse(item["kind"]), action)] * count)
    return queued


@dataclass(frozen=True)
class KeyPair:
    """A long-term test credential of the emulated account, with the session token
    its requests must carry when ``token`` is set."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret_id, str) or not self.secret_id.strip():
            raise ConfigError("secret id must be a non-empty string")
        if self.secret_id != self.secret_id.strip() or "/" in self.secret_id:
            raise ConfigError(f"secret id {self.secret_id!r} must not hold spaces or '/'")
        if not isinstance(self.secret_key, str) or not self.secret_key:
            raise ConfigError("secret key must be a non-empty string")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ConfigError("token must be a non-empty string when given")


def parse_credentials_document(document: object, *, source: str) -> tuple[KeyPair, ...]:
    """``{"credentials": [{"secretId", "secretKey", "token"?}, ...]}`` → key pairs."""
    if not isinstance(document, Mapping) or set(document) != {"credentials"}:
        raise ConfigError(f'{source}: expected a mapping with only a "credentials" list')
    entries = document["credentials"]
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)) or not entries:
        raise ConfigError(f'{source}: "credentials" must be a non-empty list')
    pairs = []
    for index, entry in enumerate(entries):
        where = f"{source}: credentials[{index}]"
        if not isinstance(entry, Mapping) or not {"secretId", "secretKey"} <= set(entry):
            raise ConfigError(f"{where}: expected a mapping with secretId and secretKey")
        unknown = sorted(str(key) for key in entry if key not in ("secretId", "secretKey", "token"))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            pairs.append(KeyPair(entry["secretId"], entry["secretKey"], token=entry.get("token")))
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
    return tuple(pairs)


def load_credentials_file(path: str) -> tuple[KeyPair, ...]:
    return parse_credentials_document(read_document(path, what="credentials file"), source=path)


@dataclass(frozen=True)
class WebIdentity:
    """What ``AssumeRoleWithWebIdentity`` accepts: one OIDC provider id and the
    tokens it would have issued."""

    provider_id: str
    tokens: tuple[str, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.provider_id, str) or not self.provider_id:
            raise ConfigError("web identity provider id must be a non-empty string")
        if not self.tokens or not all(isinstance(t, str) and t for t in self.tokens):
            raise ConfigError("web identity needs at least one non-empty accepted token")


def check_role_arn(value: object) -> str:
    if not isinstance(value, str) or not ROLE_ARN.match(value):
        raise ConfigError(
            f"role {value!r} is not a role ARN (expected qcs::cam::uin/UIN:roleName/NAME)"
        )
    return value


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


def check_credential_ttl(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"credential TTL must be a whole number of seconds, got {value!r}")
    if not 1 <= value <= MAX_CREDENTIAL_TTL:
        raise ConfigError(f"credential TTL must be within 1..{MAX_CREDENTIAL_TTL} s, got {value}")
    return value


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an emulator is started with. Runtime changes go through
    ``SettingsChange`` (``Emulator.configure``) and never mutate this value.

    ``secret_id`` / ``secret_key`` / ``token`` are the first credential of the
    account; ``extra_credentials`` more of the same account, sharing its quota."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    secret_id: str = DEFAULT_SECRET_ID
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    token: str | None = field(default=None, repr=False)  # when set, X-TC-Token must match
    extra_credentials: tuple[KeyPair, ...] = ()
    rate_limit: int = DEFAULT_RATE_LIMIT  # per TRTC action per sliding second; 0 disables
    rate_limit_counts: RateCounting = RateCounting.THROTTLED
    foreign_rate: float = 0.0  # synthetic StopStreamIngest arrivals per second
    latency: float = 0.0
    latency_jitter: float = 0.0
    faults: FaultRates = FaultRates()
    roles: tuple[str, ...] = ()  # role ARNs STS lets callers assume
    web_identity: WebIdentity | None = None
    credential_ttl: int = DEFAULT_CREDENTIAL_TTL  # the longest life of issued credentials
    seed: int | None = None
    tasks: tuple[SeedTask, ...] = ()

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host!r}: the emulator binds loopback addresses only"
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ConfigError(f"port must be an integer, got {self.port!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range 0..65535")
        secret_ids = [pair.secret_id for pair in self.credentials]  # checks the first pair
        duplicated = sorted({i for i in secret_ids if secret_ids.count(i) > 1})
        if duplicated:
            raise ConfigError(f"secret id {duplicated[0]} is given twice")
        check_rate_limit(self.rate_limit)
        if not isinstance(self.rate_limit_counts, RateCounting):
            raise ConfigError(f"unknown rate limit counting {self.rate_limit_counts!r}")
        check_foreign_rate(self.foreign_rate)
        check_seconds("latency", self.latency)
        check_seconds("latency jitter", self.latency_jitter)
        for role in self.roles:
            check_role_arn(role)
        check_credential_ttl(self.credential_ttl)
        check_unique(self.tasks)

    @property
    def credentials(self) -> tuple[KeyPair, ...]:
        """Every long-term credential of the emulated account, the first one first."""
        return (KeyPair(self.secret_id, self.secret_key, token=self.token), *self.extra_credentials)


class SettingChanges(TypedDict, total=False):
    """A settings change in keyword form — the body of ``POST /_emulator/config`` and
    the keywords of ``Emulator.configure`` / ``AdminClient.configure`` — in JSON
    values or the value objects themselves."""

    faults: FaultRates | Mapping[str, float]
    next_faults: Sequence[FaultKind | str | ScheduledFault | Mapping[str, object]]
    clear_next_faults: bool
    latency: float
    latency_jitter: float
    rate_limit: int
    rate_limit_counts: RateCounting | str
    foreign_rate: float
    credential_ttl: int


#: The keys of a settings change, in the order they are documented.
SETTING_KEYS = tuple(SettingChanges.__annotations__)


@dataclass(frozen=True)
class SettingsChange:
    """A validated change of the runtime settings: ``faults`` replaces all rates;
    ``next_faults`` are queued after any already queued; None leaves a setting be."""

    faults: FaultRates | None = None
    next_faults: tuple[ScheduledFault, ...] = ()
    clear_next_faults: bool = False
    latency: float | None = None
    latency_jitter: float | None = None
    rate_limit: int | None = None
    rate_limit_counts: RateCounting | None = None
    foreign_rate: float | None = None
    credential_ttl: int | None = None

    @classmethod
    def from_mapping(cls, document: object) -> SettingsChange:
        """A change from JSON-shaped values (or the value objects themselves), e.g.
        ``{"faults": {"internal": 0.1}, "next_faults": ["drop"], "latency": 0.1}``.
        Everything is checked before anything changes."""
        if not isinstance(document, Mapping):
            raise ConfigError("config body must be a JSON object")
        unknown = sorted(str(key) for key in document if key not in SETTING_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(unknown)} (expected: {', '.join(SETTING_KEYS)})"
            )
        given: dict[str, object] = {str(k): v for k, v in document.items() if v is not None}
        faults = given.get("faults")
        if isinstance(faults, Mapping):
            faults = FaultRates.from_mapping(faults)
        elif faults is not None and not isinstance(faults, FaultRates):
            raise ConfigError('"faults" must map fault kinds to probabilities')
        clear = given.get("clear_next_faults", False)
        if not isinstance(clear, bool):
            raise ConfigError('"clear_next_faults" must be true or false')
        return cls(
            faults=faults,
            next_faults=tuple(parse_scheduled_faults(given.get("next_faults", ()))),
            clear_next_faults=clear,
            latency=_optional(given, "latency", lambda v: check_seconds("latency", v)),
            latency_jitter=_optional(
                given, "latency_jitter", lambda v: check_seconds("latency jitter", v)
            ),
            rate_limit=_optional(given, "rate_limit", check_rate_limit),
            rate_limit_counts=_optional(given, "rate_limit_counts", RateCounting.parse),
            foreign_rate=_optional(given, "foreign_rate", check_foreign_rate),
            credential_ttl=_optional(given, "credential_ttl", check_credential_ttl),
        )


def _optional(given: Mapping[str, object], key: str, check: Callable[[object], T]) -> T | None:
    return check(given[key]) if key in given else None
