"""Typed arguments: the parsed command line as one ``Invocation``, built in one place.

``from_namespace`` is the only code that reads argparse's ``Namespace``; everything
after it gets frozen dataclasses — the operation's own arguments (``PlanArgs``,
``ApplyArgs``, …), how to reach the outside world (``Connection``), and how to
show the result (``Presentation``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.backoff import RetryPolicy
from reconciler.cli.values import whole_text
from reconciler.credentials import CredentialOptions
from reconciler.engine import EngineSettings
from reconciler.errors import UsageError
from reconciler.logs import LEVELS
from reconciler.operations import ApplyArgs, PlanArgs
from reconciler.quota import check_group
from reconciler.ratelimit import RateSettings
from reconciler.runloop import LoopSettings
from reconciler.state.location import LocationError, PostgresLocation, parse_location

#: ``--quota off``: coordinate with no one.
QUOTA_OFF = "off"


@dataclass(frozen=True)
class QuotaOptions:
    """Where runners share the API quota: ``location`` is a postgresql:// URL, "off",
    or None (the state's database if it is PostgreSQL)."""

    location: str | None = None  # --quota, else RECONCILER_QUOTA
    group: str | None = None  # --quota-group, else RECONCILER_QUOTA_GROUP
    operation: str = "apply"  # how this process shows in ``reconciler quota``


@dataclass(frozen=True)
class Connection:
    """Where the state, the TRTC API and the shared quota are (before anything is
    opened)."""

    state: str | None = None  # --state, else RECONCILER_STATE, else the default file
    endpoint: str | None = None  # --endpoint, else RECONCILER_ENDPOINT, else the SDK's
    request_timeout: float = 10.0
    environ: Mapping[str, str] = field(default_factory=dict)
    credentials: CredentialOptions = field(default_factory=CredentialOptions)
    quota: QuotaOptions = field(default_factory=QuotaOptions)


@dataclass(frozen=True)
class Presentation:
    """How results and logs are shown."""

    json: bool = False
    markdown: bool = False
    detailed_exitcode: bool = False
    log_format: str = "auto"
    log_level: str | None = None  # None: warning on a terminal, info otherwise
    no_color: bool = False  # --no-color or NO_COLOR
    dumb: bool = False  # TERM=dumb: no colour, no cursor movement


@dataclass(frozen=True)
class ValidateArgs:
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateReadArgs:
    """``state list`` (addresses) or ``state pull`` (the whole document)."""

    pull: bool = False


@dataclass(frozen=True)
class StateShowArgs:
    address: str


@dataclass(frozen=True)
class StateRmArgs:
    addresses: tuple[str, ...]
    lock_timeout: float = 0.0


@dataclass(frozen=True)
class StatePushArgs:
    file: str
    force: bool = False
    lock_timeout: float = 0.0


@dataclass(frozen=True)
class ShowArgs:
    plan_file: str


@dataclass(frozen=True)
class CompletionArgs:
    shell: str


@dataclass(frozen=True)
class QuotaArgs:
    """``quota``: show who holds what (the group comes from the connection's options)."""


@dataclass(frozen=True)
class NoArgs:
    """A command that takes no arguments of its own (``schema``, ``version``)."""


@dataclass(frozen=True)
class RunArgs:
    apply: ApplyArgs
    loop: LoopSettings
    metrics_file: str | None = None
    metrics_addr: str | None = None  # HOST:PORT to serve /metrics and /healthz on


@dataclass(frozen=True)
class EmulatorArgs:
    """The emulator parses its own flags; ``seed_manifests`` is the reconciler's addition."""

    namespace: argparse.Namespace
    seed_manifests: tuple[str, ...] = ()


CommandArgs = (
    ValidateArgs
    | PlanArgs
    | ApplyArgs
    | StateReadArgs
    | StateShowArgs
    | StateRmArgs
    | StatePushArgs
    | RunArgs
    | ShowArgs
    | CompletionArgs
    | EmulatorArgs
    | QuotaArgs
    | NoArgs
)


@dataclass(frozen=True)
class Invocation:
    command: str  # "plan", "apply", "state list", …
    args: CommandArgs
    connection: Connection = field(default_factory=Connection)
    presentation: Presentation = field(default_factory=Presentation)


#: Commands whose results can be shown as JSON (``--json``).
_JSON_COMMANDS = frozenset({"validate", "plan", "show", "apply", "version", "state list", "quota"})
#: Commands whose results can be shown as a pull-request comment (``--markdown``).
_MARKDOWN_COMMANDS = frozenset({"plan", "show"})
#: Commands that talk to the TRTC API (``--request-timeout`` and the engine options).
_CLOUD_COMMANDS = frozenset({"plan", "apply", "run"})


def from_namespace(ns: argparse.Namespace, environ: Mapping[str, str]) -> Invocation:
    """The invocation ``ns`` describes; ``UsageError`` for flags that cannot go together."""
    command = ns.command if ns.command != "state" else f"state {ns.state_command}"
    if command == "emulator":
        return Invocation(command, EmulatorArgs(ns, tuple(ns.seed_manifests)))
    connection = Connection(
        state=ns.state,
        endpoint=ns.endpoint or environ.get("RECONCILER_ENDPOINT"),
        request_timeout=ns.request_timeout if command in _CLOUD_COMMANDS else 10.0,
        environ=environ,
        credentials=_credentials(ns) if command in _CLOUD_COMMANDS else CredentialOptions(),
        quota=_quota_options(command, ns, environ),
    )
    presentation = Presentation(
        json=command in _JSON_COMMANDS and ns.json,
        markdown=command in _MARKDOWN_COMMANDS and ns.markdown,
        detailed_exitcode=command == "plan" and ns.detailed_exitcode,
        log_format=ns.log_format,
        log_level=ns.log_level or _env_log_level(environ),
        # no-color.org: set and not empty
        no_color=ns.no_color or bool(environ.get("NO_COLOR")),
        dumb=environ.get("TERM") == "dumb",
    )
    return Invocation(command, _command_args(command, ns, environ), connection, presentation)


def _quota_options(
    command: str, ns: argparse.Namespace, environ: Mapping[str, str]
) -> QuotaOptions:
    if command not in (*_CLOUD_COMMANDS, "quota"):
        return QuotaOptions()
    for flag, given in (("--quota", ns.quota), ("--quota-group", ns.quota_group)):
        if given is not None and not given.strip():  # said, and said as nothing: a mistake
            raise UsageError(f"{flag} is empty: give a value, or leave the option out")
    location = ns.quota or environ.get("RECONCILER_QUOTA") or None
    if location is not None and location.strip().lower() == QUOTA_OFF:
        location = QUOTA_OFF
    elif location is not None:
        _check_quota_location(location)
    group = ns.quota_group or environ.get("RECONCILER_QUOTA_GROUP") or None
    return QuotaOptions(
        location=location,
        group=check_group(group) if group is not None else None,
        operation=command,
    )


def _env_log_level(environ: Mapping[str, str]) -> str | None:
    value = environ.get("RECONCILER_LOG_LEVEL", "").strip().lower()
    if not value:
        return None
    if value not in LEVELS:
        raise UsageError(f"RECONCILER_LOG_LEVEL={value!r}: expected one of {', '.join(LEVELS)}")
    return value


def _max_stops(ns: argparse.Namespace, environ: Mapping[str, str]) -> int | None:
    """``--max-stops``, else ``RECONCILER_MAX_STOPS``, else None (no limit)."""
    if ns.max_stops is not None:
        return int(ns.max_stops)
    text = environ.get("RECONCILER_MAX_STOPS", "").strip()
    if not text:
        return None
    value = whole_text(text)
    if value is None:
        raise UsageError(f"RECONCILER_MAX_STOPS={text!r}: expected a whole number (0 or more)")
    return value


def _check_quota_location(location: str) -> None:
    wrong = UsageError(
        "--quota takes a postgresql:// URL or 'off' (it can also come from RECONCILER_QUOTA)"
    )
    if not location.lower().startswith(("postgresql:", "postgres:")):
        raise wrong
    try:
        parsed = parse_location(location)
    except LocationError as exc:  # its message shows the URL without its password
        raise UsageError("--quota: " + str(exc).removeprefix("state location ")) from None
    if not isinstance(parsed, PostgresLocation):
        raise wrong


def _command_args(command: str, ns: argparse.Namespace, environ: Mapping[str, str]) -> CommandArgs:
    if command == "validate":
        return ValidateArgs(tuple(ns.paths))
    if command == "plan":
        return PlanArgs(
            paths=tuple(ns.paths),
            targets=tuple(ns.target),
            out=ns.out,
            refresh=ns.refresh,
            engine=_engine(ns),
            max_stops=_max_stops(ns, environ),
        )
    if command == "apply":
        return _apply_args(ns, environ)
    if command == "run":
        return RunArgs(
            ApplyArgs(
                paths=tuple(ns.paths),
                auto_approve=True,
                lock_timeout=ns.lock_timeout,
                engine=_engine(ns),
                operation="run",
                max_stops=_max_stops(ns, environ),
            ),
            LoopSettings(interval=ns.interval, jitter=ns.jitter, max_cycles=ns.max_cycles),
            ns.metrics_file,
            ns.metrics_addr,
        )
    if command == "show":
        return ShowArgs(ns.plan_file)
    if command == "completion":
        return CompletionArgs(ns.shell)
    if command in ("state list", "state pull"):
        return StateReadArgs(pull=command == "state pull")
    if command == "state show":
        return StateShowArgs(ns.address)
    if command == "state rm":
        return StateRmArgs(tuple(ns.addresses), ns.lock_timeout)
    if command == "state push":
        return StatePushArgs(ns.file, ns.force, ns.lock_timeout)
    if command == "quota":
        return QuotaArgs()
    return NoArgs()


def _apply_args(ns: argparse.Namespace, environ: Mapping[str, str]) -> ApplyArgs:
    paths = tuple(ns.paths)
    # A single argument naming a .json file is a saved plan; anything else is manifests.
    plan_file = paths[0] if len(paths) == 1 and paths[0].endswith(".json") else None
    if ns.json and plan_file is None and not ns.auto_approve:
        raise UsageError("apply --json needs --auto-approve or a saved plan file")
    return ApplyArgs(
        paths=() if plan_file is not None else paths,
        plan_file=plan_file,
        targets=tuple(ns.target),
        auto_approve=ns.auto_approve,
        lock_timeout=ns.lock_timeout,
        engine=_engine(ns),
        max_stops=_max_stops(ns, environ),
    )


def _credentials(ns: argparse.Namespace) -> CredentialOptions:
    """The credential flags (the chain reads the environment and files itself)."""
    return CredentialOptions(
        profile=ns.profile,
        assume_role=ns.assume_role,
        session_name=ns.assume_role_session_name,
        duration=ns.assume_role_duration,
        web_identity_token_file=ns.web_identity_token_file,
        web_identity_provider=ns.web_identity_provider,
        sts_endpoint=ns.sts_endpoint,
    )


def _engine(ns: argparse.Namespace) -> EngineSettings:
    return EngineSettings(
        parallelism=ns.parallelism,
        rate=RateSettings(rate=ns.rate),
        retry=RetryPolicy(max_attempts=ns.max_attempts, deadline=ns.retry_deadline),
    )
