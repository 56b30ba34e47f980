"""``reconciler.instant``: RFC 3339 read strictly and written in UTC, held to
``datetime`` (the reference) over the whole calendar, and the one due rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.instant import Instant, InvalidTime, due, parse_time

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ns_of(moment: datetime) -> int:
    """Nanoseconds since the epoch, by ``datetime``'s own arithmetic."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)


@given(moments, st.booleans())
def test_parsing_agrees_with_datetime_everywhere(moment: datetime, lower: bool) -> None:
    text = moment.isoformat(timespec="microseconds")
    if lower:
        text = text.replace("T", "t")
    instant = parse_time(text)
    assert instant.ns == ns_of(moment)
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    whole, _, fraction = utc.partition(".")
    assert (
        instant.text() == whole + (f".{fraction}".rstrip("0") if fraction.strip("0") else "") + "Z"
    )
    assert parse_time(instant.text()) == instant  # written as it is read


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-05T22:00:00+07:00", "2026-12-05T15:00:00Z"),
        ("2026-12-05t15:00:00z", "2026-12-05T15:00:00Z"),
        ("2026-12-05T15:00:00.5Z", "2026-12-05T15:00:00.5Z"),
        ("2026-12-05T15:00:00.123456789Z", "2026-12-05T15:00:00.123456789Z"),
        ("2026-12-05T15:00:00.1234567891234Z", "2026-12-05T15:00:00.123456789Z"),
        ("2026-12-05T15:00:00.000Z", "2026-12-05T15:00:00Z"),
        ("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00Z"),
        ("1970-01-01T00:00:00+00:00", "1970-01-01T00:00:00Z"),
        ("1969-12-31T23:59:59.75Z", "1969-12-31T23:59:59.75Z"),
    ],
)
def test_examples(text: str, utc: str) -> None:
    assert parse_time(text).text() == utc


@pytest.mark.parametrize(
    ("text", "reason", "hint"),
    [
        ("2026-12-05", "is a date without a time", '"2026-12-05T22:00:00+07:00"'),
        ("2026-12-05T22:00:00", "has no UTC offset", '"2026-12-05T22:00:00Z" for UTC'),
        ("2026-12-05 22:00:00", "has no UTC offset", '"2026-12-05T22:00:00+07:00"'),
        ("2026-12-05T22:00", "has no UTC offset", "time zone"),
        ("2026-12-05 22:00:00+07:00", "is not an RFC 3339 time", "a date, T, a time"),
        ("2026-12-05T22:00:00+0700", "is not an RFC 3339 time", "its offset"),
        ("2026-12-05T22:00:00 +07:00", "is not an RFC 3339 time", "its offset"),
        ("2001-12-14 21:59:43.10 -5", "is not an RFC 3339 time", "its offset"),
        ("1796482800", "is not an RFC 3339 time", "its offset"),
        ("٢٠٢٦-12-05T22:00:00Z", "is not an RFC 3339 time", "its offset"),  # not ASCII digits
        ("2026-02-29T00:00:00Z", "has day 29, past the end of 2026-02", "28 days"),
        ("2026-13-01T00:00:00Z", "has month 13", "01 to 12"),
        ("2026-12-05T24:00:00Z", "has no such time of day (24:00:00)", "23:59:59"),
        ("2026-12-31T23:59:60Z", "has no such time of day", "leap second"),
        ("2026-12-05T22:00:00+24:00", "has no such offset (+24:00)", "+23:59"),
        ("0000-12-31T23:00:00Z", "is out of range", "0001-01-01"),
        ("9999-12-31T23:00:00-02:00", "is out of range", "9999-12-31"),
    ],
)
def test_refusals_say_what_is_wrong_and_how_to_write_it(text: str, reason: str, hint: str) -> None:
    with pytest.raises(InvalidTime) as caught:
        parse_time(text)
    assert caught.value.reason.startswith(reason)
    assert hint in caught.value.hint


def test_due_is_reached_at_the_instant_itself() -> None:
    at = parse_time("2026-12-05T15:00:00Z")
    assert due(None, at)  # no stopAt: at once
    assert due(at, at)
    assert due(at, Instant(at.ns + 1))
    assert not due(at, Instant(at.ns - 1))


def test_wall_clock_readings_keep_microseconds() -> None:
    instant = Instant.from_seconds(1_796_482_800.123456)
    assert instant.text() == "2026-12-05T15:00:00.123456Z"
    assert instant.seconds == pytest.approx(1_796_482_800.123456)
