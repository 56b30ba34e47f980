"""Database URLs shown and scrubbed without their passwords.

Used by every message that names a state location, and by the PostgreSQL store
to scrub its driver's error texts. Imports nothing of the product.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_PASSWORD_PARAM = re.compile(r"(?P<key>(?:^|[?&])password=)(?P<value>[^&#]*)", re.I)
REDACTED = "***"


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
