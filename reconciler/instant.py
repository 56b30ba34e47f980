"""Points in time as values: ``Instant`` (nanoseconds since the Unix epoch), read
from and written as RFC 3339 text.

A manifest's ``stopAt`` and a plan's times are Instants. Parsing is strict RFC 3339
(``2026-12-05T22:00:00+07:00``, ``…T15:00:00.5Z``; ``t`` and ``z`` in either case):
an explicit UTC offset is required, since a time without one would mean whatever
zone the runner happens to be in. Writing is always UTC with ``Z``.

Pure: it imports nothing, reads no clock (the planner and the domain use it, and
they must not). The calendar arithmetic is Howard Hinnant's days-from-civil and
civil-from-days, exact for every proleptic Gregorian date; the tests hold it to
``datetime``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS

#: RFC 3339's date-time, in the syntax Python's ``re`` and ECMA-262 (the JSON
#: Schema's) read alike: ``[0-9]``, never ``\d``, which in Python matches any
#: Unicode digit.
RFC3339_PATTERN = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_RFC3339 = re.compile(RFC3339_PATTERN)
#: What people write instead, to say what is missing: a date alone, or a date and a
#: time (``T`` or a space between them, as YAML 1.1 allows) with no offset after.
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_NO_OFFSET = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]*)?)?"
)
#: The suggested spelling, on the user's own date and time when they fit the shape.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[Tt]|[ \t]+)([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)"
)
EXAMPLE = "2026-12-05T22:00:00+07:00"
#: The instants whose UTC text has four digits of year, as RFC 3339 requires.
_FIRST = -62_135_596_800 * _NS  # 0001-01-01T00:00:00Z
_END = 253_402_300_800 * _NS  # 10000-01-01T00:00:00Z


class InvalidTime(ValueError):
    """Text that is not an RFC 3339 time with an offset. ``reason`` reads after the
    value (``is a date without a time``); ``hint`` says how to write it."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(f"{reason} (hint: {hint})")
        self.reason = reason
        self.hint = hint


@dataclass(frozen=True, order=True, slots=True)
class Instant:
    """A point in time, to the nanosecond, on the UTC time line."""

    ns: int  # since 1970-01-01T00:00:00Z

    @classmethod
    def from_seconds(cls, seconds: float) -> Instant:
        """The instant of a wall-clock reading (seconds since the epoch), to the
        microsecond: a float of today's epoch seconds holds no finer digits."""
        return cls(round(seconds * 1_000_000) * 1000)

    @property
    def seconds(self) -> float:
        """Seconds since the epoch, as the wall clock counts them."""
        return self.ns / _NS

    def text(self) -> str:
        """RFC 3339 in UTC: ``2026-12-05T15:00:00Z``, a fraction only when there is one."""
        days, rest = divmod(self.ns, _DAY_NS)
        year, month, day = _civil(days)
        seconds, fraction = divmod(rest, _NS)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        frac = f".{fraction:09d}".rstrip("0") if fraction else ""
        return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{frac}Z"


def due(at: Instant | None, now: Instant) -> bool:
    """Whether what is scheduled ``at`` (None: at once) is due at ``now``: the one rule
    the planner (stop or wait) and the engine (send or not) share."""
    return at is None or at <= now


def parse_time(text: str) -> Instant:
    """The instant RFC 3339 ``text`` names; ``InvalidTime`` saying what is wrong if none.

    Fractions of a second keep nine digits (more are cut, never rounded up past the
    second written). A leap second (``:60``) is refused: the epoch count has none.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise _shape_problem(text)
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zulu, sign, off_hour, off_minute = match.groups()[6:]
    if not 1 <= month <= 12:
        raise InvalidTime(f"has month {month:02d}", "months run from 01 to 12")
    if not 1 <= day <= _days_in_month(year, month):
        raise InvalidTime(
            f"has day {day:02d}, past the end of {year:04d}-{month:02d}",
            f"{year:04d}-{month:02d} has {_days_in_month(year, month)} days",
        )
    if hour > 23 or minute > 59 or second > 59:
        hint = (
            "a leap second cannot be scheduled; write :59"
            if second == 60
            else "00:00:00 to 23:59:59"
        )
        raise InvalidTime(f"has no such time of day ({hour:02d}:{minute:02d}:{second:02d})", hint)
    offset = 0
    if not zulu:
        if int(off_hour) > 23 or int(off_minute) > 59:
            raise InvalidTime(
                f"has no such offset ({sign}{off_hour}:{off_minute})", "-23:59 to +23:59"
            )
        offset = (int(off_hour) * 60 + int(off_minute)) * (1 if sign == "+" else -1)
    seconds = _days(year, month, day) * 86_400 + hour * 3600 + (minute - offset) * 60 + second
    instant = Instant(seconds * _NS + int((fraction or "0")[:9].ljust(9, "0")))
    if not _FIRST <= instant.ns < _END:
        raise InvalidTime("is out of range", "from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z")
    return instant


def _shape_problem(text: str) -> InvalidTime:
    """What is wrong with text that is not RFC 3339, and the spelling to use."""
    if _DATE_ONLY.fullmatch(text):
        date = text if _DATE.fullmatch(text) else "2026-12-05"
        return InvalidTime(
            "is a date without a time", f'give a time and its offset, e.g. "{date}T22:00:00+07:00"'
        )
    if _NO_OFFSET.fullmatch(text):
        shape = _DATE_TIME.fullmatch(text)
        written = f"{shape[1]}T{shape[2]}" if shape else "2026-12-05T22:00:00"
        return InvalidTime(
            "has no UTC offset",
            f'add one, e.g. "{written}+07:00", or "{written}Z" for UTC: without it the time '
            "would depend on the runner's time zone",
        )
    return InvalidTime(
        "is not an RFC 3339 time", f'write a date, T, a time and its offset, e.g. "{EXAMPLE}"'
    )


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to this date of the proleptic Gregorian calendar."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _civil(days: int) -> tuple[int, int, int]:
    """The (year, month, day) that is ``days`` after 1970-01-01: ``_days`` undone."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day
