"""Logging setup: structlog, configured once at the CLI entry.

Console rendering on a terminal, JSON lines otherwise, always on stderr (stdout
carries plans and summaries). On a terminal the level defaults to warning (the
results on stdout tell a person what happened); elsewhere to info. Other
libraries' records go through the same processors and renderer. The official
SDK's own logger, which prints whole requests with their Authorization headers at
DEBUG, never passes a DEBUG record, whatever the level.

A secret (secret key, session token, database password) never reaches a log line,
at any level, by three rules, in this order:

1. Messages are built from redacted values. Every location is shown through
   ``redact_location`` (password as ``***``); credentials are never put in a
   message or a field at all. Nothing here has to find them afterwards.
2. Fields are redacted by name, not by content: a field (or a nested key) named
   like a secret — ``password``, ``token``, ``secret_key``, ``authorization``… —
   is replaced whole by ``***``.
3. Text that comes from outside — an SDK or server error message, an exception's
   text, another library's log record — is the one place a credential could still
   hide. There a password is masked by its place, not its value: the password of
   any URL (``scheme://user:***@host``) and any ``password=***`` parameter. And
   the secret key and session token are registered (``add_secrets``) and replaced
   wherever they occur. Only values of at least ``MIN_SECRET_LENGTH``
   characters are registered: a credential that long is random, so what matches is
   the credential itself and never part of an ordinary word. Replacing a short
   value — a database password ``xp`` — inside a message would garble it
   (``e***ired``) and, by where it masked, give the value away. Database passwords
   are therefore never registered: libpq receives them as a keyword and never
   repeats them, and rule 1 covers every message of ours.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, Protocol

import structlog

from reconciler.trtc import silence_sdk_logger

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("auto", "console", "json")
REDACTED = "***"
#: The shortest value ``add_secrets`` takes (see the module docstring, rule 3).
MIN_SECRET_LENGTH = 16
_SECRET_KEYS = frozenset(
    {"secret_key", "secretkey", "token", "password", "authorization", "x_tc_token", "session_token"}
)

#: The registered credentials, longest first; replaced whole (under the lock) when
#: one is added, so every log line reads them without taking it.
_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def add_secrets(values: Iterable[str | None]) -> None:
    """Register credentials that must never appear in a log line; values shorter than
    ``MIN_SECRET_LENGTH`` are not taken (rule 3 of the module docstring)."""
    global _secrets
    with _secrets_lock:
        found = set(_secrets) | {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
        _secrets = tuple(sorted(found, key=len, reverse=True))


#: A URL's password (up to the last ``@`` of the word, which may hold more ``@``) and a
#: ``password=`` parameter, wherever they stand in a text.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)\S*@")
_PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword=)[^\s&]+")


def redact_text(text: str) -> str:
    """``text`` with every password in a URL or ``password=`` parameter, and every
    registered credential, replaced by ``***``."""
    if "://" in text or "=" in text:
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
        text = _PASSWORD_PARAMETER.sub(rf"\1{REDACTED}", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(str(value))
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _is_secret_name(key)


@functools.lru_cache(maxsize=1024)
def _is_secret_name(key: str) -> bool:
    return key.lower().replace("-", "_") in _SECRET_KEYS


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub secrets from every field of the event."""
    for key in list(event_dict):
        event_dict[key] = REDACTED if _is_secret_key(key) else _redact(event_dict[key])
    return event_dict


class SupportsWrite(Protocol):
    """Where log lines go: a text stream (on a terminal, the console's channel)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


#: The handler ``configure_logging`` put on the root logger (replaced if called again).
_handler: logging.Handler | None = None


def default_level(stream: object) -> str:
    """The level when none is asked for: warnings and errors on a terminal (a person
    reads results there, not the log), everything from info up otherwise."""
    return "warning" if _isatty(stream) else "info"


def configure_logging(
    *,
    fmt: str = "auto",
    level: str | None = None,
    stream: SupportsWrite | None = None,
    color: bool | None = None,
) -> None:
    """Configure logging for the whole process (call once, at the entry point).

    structlog's own events and the standard library's records (psycopg, urllib3,
    the SDK's logger) take the same processors — level, time, redaction — and the
    same renderer, and reach the same stream: on a terminal, the console's channel,
    which keeps the progress line out of them.
    """
    out: SupportsWrite = stream or sys.stderr
    chosen = level or default_level(out)
    numeric = getattr(logging, chosen.upper(), logging.INFO)
    console = fmt == "console" or (fmt == "auto" and _isatty(out))
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=_isatty(out) if color is None else color)
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(out, numeric, shared, renderer)


def _route_stdlib_logging(out: SupportsWrite, level: int, shared: list[Any], renderer: Any) -> None:
    """Other libraries' log records through the same pipeline (``foreign_pre_chain``)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(out)
    handler.setLevel(level)  # records propagated from a chattier library's logger too
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    # Last, so that whatever the level, the SDK's logger never passes a DEBUG record
    # (it prints whole requests, Authorization header included).
    silence_sdk_logger()


def bind_run(**context: Any) -> None:
    """Bind context (run id, command) to every log line of this run."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False
