"""User text fit to show and to store: ``printable`` escapes what would break a
line, a Markdown code block or the terminal; ``check_text`` refuses, in a document
a user hands in, what not every store can keep, and ``check_time`` a time that is
not one. Pure: no I/O."""

from __future__ import annotations

import unicodedata

from reconciler.instant import InvalidTime, parse_time

#: The longest free text a state or plan document may carry in one field.
MAX_TEXT_CHARS = 4096


def printable(text: str) -> str:
    """``text`` with control and format characters escaped (``\\n``, ``\\x1b``,
    ``\\u202e``): a file name is shown as it is, but a newline or an escape sequence in
    it must not break a line, a Markdown code block or the terminal."""
    if text.isprintable() or all(unicodedata.category(c) not in ("Cc", "Cf") for c in text):
        return text  # (isprintable, in C, is false for every Cc and Cf character)
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Cf") else c
        for c in text
    )


def check_text(value: str, what: str) -> str:
    """``value`` if every store can keep it and a terminal can show it: no control
    characters (PostgreSQL refuses NUL, SQLite keeps it), at most ``MAX_TEXT_CHARS``."""
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{what} is longer than {MAX_TEXT_CHARS:,} characters")
    if not value.isprintable() and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError(f"{what} {value[:60]!r} holds a control character")
    return value


def check_time(value: str, what: str) -> str:
    """``value`` if it is an RFC 3339 time with an offset (as state records hold)."""
    try:
        parse_time(value)
    except InvalidTime as exc:
        raise ValueError(f"{what} {value[:60]!r} {exc.reason}") from None
    return value
