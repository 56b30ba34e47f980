"""The command line's value converters: each turns one option's text into its value,
or refuses it with one clear line (an ``argparse.ArgumentTypeError``, which the
parser reports as a usage error)."""

from __future__ import annotations

import argparse
import re

from reconciler.credentials import MAX_DURATION_SECONDS
from reconciler.errors import UsageError
from reconciler.service import parse_listen_address

#: The longest duration any option takes: a year (and a day).
MAX_DURATION = 366 * 24 * 3600.0
#: The slowest --rate: one request every 100 seconds.
MIN_RATE = 0.01
#: The fastest --rate: far past any TRTC quota, and small enough for the limiter to
#: keep a slot per request of its window.
MAX_RATE = 10_000.0
#: Numbers as people type them in ASCII. ``int`` and ``float`` also take other
#: scripts' digits (``٣``, ``３``) and ``1_000``; the environment variables never did.
_INTEGER = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1h30m' → seconds, at most ``MAX_DURATION``."""
    match = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?\s*",
        text,
        flags=re.ASCII,
    )
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (examples: 30s, 5m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not total <= MAX_DURATION:  # also refuses an overflow to infinity
        raise argparse.ArgumentTypeError(f"duration {text!r} is too long (at most 366 days)")
    return total


def positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than zero, got {text!r}")
    return seconds


def positive_int(text: str) -> int:
    """1, 2, 3, …"""
    return _whole(text, at_least=1)


def whole_number(text: str) -> int:
    """0, 1, 2, … (a count that may be zero)."""
    return _whole(text, at_least=0)


def whole_text(text: str) -> int | None:
    """The whole number ``text`` spells in ASCII digits (spaces around allowed); None
    if it spells none. The one reading of counts, for flags and environment alike."""
    stripped = text.strip()
    return int(stripped) if _INTEGER.fullmatch(stripped) else None


def _whole(text: str, *, at_least: int) -> int:
    value = whole_text(text)
    if value is None and _INTEGER.fullmatch(text.strip().removeprefix("-")):
        value = int(text)  # a negative number: said below as too small
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    if value < at_least:
        raise argparse.ArgumentTypeError(f"must be at least {at_least}, got {value}")
    return value


def positive_float(text: str) -> float:
    if not _DECIMAL.fullmatch(text.strip().removeprefix("-")):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    value = float(text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def rate_value(text: str) -> float:
    value = positive_float(text)
    if value < MIN_RATE:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_RATE:g} (one request every {1 / MIN_RATE:g} s), got {text!r}"
        )
    if value > MAX_RATE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_RATE:,.0f}, got {text!r}")
    return value


def listen_address(text: str) -> str:
    try:
        parse_listen_address(text)
    except UsageError:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (e.g. 0.0.0.0:9100), got {text!r}"
        ) from None
    return text


def role_duration(text: str) -> int:
    """A role session's length: a duration of whole seconds, at most 12 hours."""
    seconds = parse_duration(text)
    if not 1 <= seconds <= MAX_DURATION_SECONDS or seconds != int(seconds):
        raise argparse.ArgumentTypeError(
            f"must be whole seconds from 1s to 12h, got {text!r} (examples: 900, 1h)"
        )
    return int(seconds)
