"""Choosing a store from a location string, and showing locations without secrets.

``open_store`` maps a location to a backend: ``postgresql://`` / ``postgres://``
URLs to the PostgreSQL store (psycopg imported only then), anything else to a
SQLite file. Opening is cheap and touches nothing; the stores connect and create
on first use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

from reconciler.state.errors import StoreUnavailable
from reconciler.state.interface import StateStore

#: Where state lives when neither ``--state`` nor ``RECONCILER_STATE`` says.
DEFAULT_LOCATION = ".reconciler/state.db"
#: The environment variable naming the state location.
STATE_ENV = "RECONCILER_STATE"

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_PASSWORD_PARAM = re.compile(r"(?P<key>(?:^|[?&])password=)(?P<value>[^&#]*)", re.I)
REDACTED = "***"


def is_postgres_location(location: str) -> bool:
    return location.startswith(_POSTGRES_SCHEMES)


def open_store(
    location: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> StateStore:
    """The store at ``location``, else ``$RECONCILER_STATE``, else ``.reconciler/state.db``.

    Relative file paths are taken from ``cwd`` (default: the working directory).
    Raises StoreUnavailable for a location that cannot name a store.
    """
    env = os.environ if environ is None else environ
    chosen = location if location is not None else (env.get(STATE_ENV) or DEFAULT_LOCATION)
    if not chosen.strip():
        raise StoreUnavailable("the state location is empty")
    if is_postgres_location(chosen):
        try:
            from reconciler.state.postgres import PostgresStore
        except ImportError as exc:  # psycopg is the optional "postgres" extra
            raise StoreUnavailable(
                f"state {redact_location(chosen)} needs psycopg ({exc}): "
                "pip install 'trtc-ingest-reconciler[postgres]'"
            ) from None
        return PostgresStore(chosen)
    from reconciler.state.sqlite import SqliteStore

    base = Path.cwd() if cwd is None else cwd
    return SqliteStore(base / Path(chosen).expanduser(), display=chosen)


def redact_location(location: str) -> str:
    """The location with any password (URL userinfo or ``password=`` parameter) as ``***``."""
    parts = _split_url(location)
    if parts is None:
        return location
    scheme, userinfo, rest = parts
    user, colon, password = userinfo.partition(":")
    shown_userinfo = (
        f"{user}:{REDACTED}@" if colon and password else userinfo + "@" * bool(userinfo)
    )
    return scheme + shown_userinfo + _PASSWORD_PARAM.sub(lambda m: m["key"] + REDACTED, rest)


def location_secrets(location: str) -> tuple[str, ...]:
    """The passwords written in ``location`` (raw and decoded), to scrub from messages."""
    parts = _split_url(location)
    if parts is None:
        return ()
    _, userinfo, rest = parts
    _, _, password = userinfo.partition(":")
    found = [password, *(m["value"] for m in _PASSWORD_PARAM.finditer(rest))]
    secrets = {variant for raw in found for variant in (raw, unquote(raw)) if variant}
    return tuple(sorted(secrets, key=len, reverse=True))


def _split_url(location: str) -> tuple[str, str, str] | None:
    """(``scheme://``, userinfo, everything after ``userinfo@``); None if not a URL.

    The userinfo ends at the last ``@`` before the query, so a password holding an
    unescaped ``/`` or ``@`` is still found (and hidden).
    """
    match = _SCHEME.match(location)
    if match is None:
        return None
    scheme, after = match[0], location[match.end() :]
    head = after.split("?", 1)[0]
    userinfo, at, _ = head.rpartition("@")
    if not at:
        return scheme, "", after
    return scheme, userinfo, after[len(userinfo) + 1 :]


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` on one line, with every secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return " ".join(text.split())
