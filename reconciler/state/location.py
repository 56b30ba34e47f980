"""State locations: the one parser of ``--state``, and the one place that knows
how to show a location without its password.

A location is exactly one of:

- a PostgreSQL URL, ``postgresql://`` or ``postgres://`` (the scheme in any case,
  as RFC 3986 allows; it is passed on lower-cased)::

      postgresql://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DBNAME[?state=NAME&…]

  ``state=NAME`` picks one of several states in the database (default
  ``default``; ``[A-Za-z0-9_.-]{1,128}``); every other query parameter is a libpq
  keyword passed on as given (``sslmode``, ``host=/socket/dir``, ``options``…).
  User, password, host, database and parameters are percent-decoded here, strictly
  (a ``%`` that starts no ``%XX``, or bytes that are not UTF-8, are refused), and
  handed to libpq as separate keywords, never as a URL — so libpq never parses, and
  never echoes, a password. A password may hold ``?``, ``/``, ``#`` or ``@``
  unescaped: the user information ends at the *last* ``@`` as long as the user name
  itself holds no ``/``, ``?`` or ``#``. A ``#`` anywhere after it is refused (a URL
  fragment means nothing to PostgreSQL: percent-encode it as ``%23``).
- a SQLite file path: anything that does not look like a URL.

Everything else that looks like a URL is refused, never taken as a file name:
any ``scheme://…``, and ``postgresql:…`` / ``postgres:…`` without the ``//``, the
SQLAlchemy forms ``postgresql+psycopg://…`` (the reconciler picks its own driver),
and ``sqlite:…`` / ``file:…`` URLs (give a SQLite state as a plain path). A file
whose name really starts like that is named ``./sqlite:x.db``.

Every error message shows the location through ``redact_location``: the password
(in the user information or a ``password=`` parameter) as ``***``, or — when the
text cannot be parsed far enough to know where a password would be — only its
scheme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from reconciler.errors import StoreUnavailable

DEFAULT_STATE_NAME = "default"
STATE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
REDACTED = "***"

_POSTGRES_SCHEMES = ("postgresql", "postgres")
#: Schemes refused even without ``//``: they can only mean a database URL.
_DATABASE_SCHEMES = (*_POSTGRES_SCHEMES, "sqlite", "sqlite3", "file")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class LocationError(StoreUnavailable):
    """A location that names no store this build can open."""


@dataclass(frozen=True)
class SqliteLocation:
    path: str  # as given (relative paths are taken from the working directory)


@dataclass(frozen=True, repr=False)
class PostgresLocation:
    """A parsed PostgreSQL location: libpq keywords, the state name, the display."""

    params: Mapping[str, str]  # libpq keywords; may hold the password: never show them
    state_name: str
    display: str  # the URL with its password as ``***``

    def __repr__(self) -> str:
        return f"PostgresLocation({self.display!r})"


Location = SqliteLocation | PostgresLocation


def parse_location(text: str) -> Location:
    """The store ``text`` names; ``LocationError`` (no password in it) if none."""
    if not text.strip():
        raise LocationError("the state location is empty")
    match = _SCHEME.match(text)
    if match is None:
        return SqliteLocation(text)
    scheme = match[1].lower()
    slashes = text[match.end() :].startswith("//")
    base = scheme.partition("+")[0]
    if not slashes and base not in _DATABASE_SCHEMES:
        return SqliteLocation(text)  # a file such as "notes:v2.db"
    shown = f"{match[1]}:…"
    if scheme in _POSTGRES_SCHEMES and slashes:
        return _parse_postgres(scheme, text[match.end() + 2 :])
    if scheme in _POSTGRES_SCHEMES:
        raise LocationError(
            f"state location {shown} is malformed: a PostgreSQL location starts with {scheme}://"
        )
    if base in _POSTGRES_SCHEMES:
        raise LocationError(
            f"state location {shown} names a driver ({scheme}); write it as "
            f"{base}://… (the reconciler picks its own driver)"
        )
    if base in _DATABASE_SCHEMES:
        raise LocationError(
            f"state location {shown} is not supported: give a SQLite state as a plain "
            "file path (e.g. .reconciler/state.db)"
        )
    raise LocationError(
        f"state location {shown} has an unsupported scheme {match[1]!r}: use a file path "
        "for a SQLite state or a postgresql:// URL"
    )


def redact_location(text: str) -> str:
    """``text`` fit to show: any password as ``***``; never raises."""
    try:
        location = parse_location(text)
    except LocationError:
        match = _SCHEME.match(text)
        return f"{match[1]}:…" if match else text
    return location.display if isinstance(location, PostgresLocation) else location.path


def _parse_postgres(scheme: str, rest: str) -> PostgresLocation:
    userinfo = None
    at = rest.rfind("@")
    if at >= 0 and not any(c in rest[:at].partition(":")[0] for c in "/?#"):
        userinfo, rest = rest[:at], rest[at + 1 :]
    authority, after = _split_at(rest, "/?#")
    path, after = _split_at(after, "?#") if after.startswith("/") else ("", after)
    query, fragment = _split_at(after[1:], "#") if after.startswith("?") else ("", after)
    display = _display(scheme, userinfo, authority, path, query)
    if fragment:
        raise LocationError(
            f"state location {display} has a '#': a URL fragment means nothing to "
            "PostgreSQL (write a '#' in a value as %23)"
        )
    params: dict[str, str] = {}
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        params["user"] = _decode(user, "the user name", display)
        if colon and password:
            params["password"] = _decode(password, "the password", display)
    hosts, ports = _hosts(authority, display)
    params.update({"host": hosts, "port": ports})
    params["dbname"] = _decode(path[1:], "the database name", display)
    state_names = _query(query, params, display)
    if len(state_names) > 1:
        raise LocationError(f"state location {display} gives state= more than once")
    name = state_names[0] if state_names else DEFAULT_STATE_NAME
    if not STATE_NAME_PATTERN.fullmatch(name):
        raise LocationError(
            f"state location {display}: state name {name!r} must be 1 to 128 letters, "
            "digits, '_', '.' or '-'"
        )
    kept = {key: value for key, value in params.items() if value}
    return PostgresLocation(params=kept, state_name=name, display=display)


def _split_at(text: str, stops: str) -> tuple[str, str]:
    """``text`` cut before the first of ``stops``: (before, the rest from that character)."""
    index = next((i for i, c in enumerate(text) if c in stops), len(text))
    return text[:index], text[index:]


def _display(scheme: str, userinfo: str | None, authority: str, path: str, query: str) -> str:
    shown = f"{scheme}://"
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        shown += user + (":" + (REDACTED if password else "") if colon else "") + "@"
    parts = []
    for part in query.split("&") if query else ():
        key, equals, _ = part.partition("=")
        secret = equals and _lenient(key) == "password"
        parts.append(f"{key}={REDACTED}" if secret else part)
    return shown + authority + path + ("?" + "&".join(parts) if query else "")


def _lenient(text: str) -> str:
    return unquote_to_bytes(text).decode("utf-8", "replace")


def _decode(text: str, what: str, display: str) -> str:
    """Percent-decode ``text`` strictly; the message never holds the text itself."""
    if _BAD_ESCAPE.search(text):
        raise LocationError(
            f"state location {display}: {what} holds a '%' that starts no percent-escape "
            "(write a '%' as %25)"
        )
    try:
        decoded = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise LocationError(
            f"state location {display}: {what} is not UTF-8 once percent-decoded"
        ) from None
    if "\x00" in decoded:
        raise LocationError(f"state location {display}: {what} holds a NUL character")
    return decoded


_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:]*)(?::([0-9]*))?")


def _hosts(authority: str, display: str) -> tuple[str, str]:
    """libpq's ``host`` and ``port`` keywords for ``HOST[:PORT][,…]`` (either may be empty)."""
    hosts: list[str] = []
    ports: list[str] = []
    for entry in authority.split(",") if authority else ():
        match = _HOST.fullmatch(entry)
        if match is None:
            raise LocationError(f"state location {display}: {entry!r} is not HOST[:PORT]")
        hosts.append(_decode(match[1].strip("[]"), "a host", display))
        ports.append(match[2] or "")
    return ",".join(hosts), ",".join(ports) if any(ports) else ""


def _query(query: str, params: dict[str, str], display: str) -> list[str]:
    """Add the query's libpq keywords to ``params``; the ``state=`` values found."""
    names: list[str] = []
    for part in query.split("&") if query else ():
        if not part:
            continue
        raw_key, equals, raw_value = part.partition("=")
        key = _decode(raw_key, "a parameter name", display)
        if not key:
            raise LocationError(f"state location {display} has a parameter without a name")
        if not equals:
            raise LocationError(f"state location {display}: parameter {key!r} has no value")
        what = "the password" if key == "password" else f"parameter {key!r}"
        value = _decode(raw_value, what, display)
        if key == "state":
            names.append(value)
        else:
            params[key] = value
    return names
