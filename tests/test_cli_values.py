"""Hostile option values: every number and duration is written in ASCII digits (the
flag and its environment variable agree), values too large to use are refused, and
an option given explicitly as empty is refused rather than read as absent."""

from __future__ import annotations

import pytest

from reconciler.cli.args import from_namespace
from reconciler.cli.parser import ParseError, build_parser
from reconciler.errors import UsageError


def parse(*argv: str, **environ: str) -> object:
    return from_namespace(build_parser().parse_args(list(argv)), environ)


@pytest.mark.parametrize("value", ["０", "٣", "1_000", "²"])
def test_counts_are_ascii_digits_as_in_the_environment(value: str) -> None:
    for option in ("--max-stops", "--parallelism", "--max-attempts"):
        with pytest.raises(ParseError, match="expected a whole number"):
            parse("apply", option, value)
    with pytest.raises(UsageError, match="expected a whole number"):
        parse("apply", RECONCILER_MAX_STOPS=value)


@pytest.mark.parametrize("value", ["٣s", "１m", "1_0s", "٣"])
def test_durations_are_ascii_digits(value: str) -> None:
    with pytest.raises(ParseError, match="invalid duration"):
        parse("run", "--interval", value)


@pytest.mark.parametrize("value", ["1e308", "1e9", "١٠", "1_0", "inf", "nan"])
def test_rates_out_of_range_or_not_ascii_are_refused(value: str) -> None:
    with pytest.raises(ParseError, match="argument --rate"):
        parse("apply", "--rate", value)


def test_a_large_rate_is_still_taken() -> None:
    parse("apply", "--rate", "10000")


def test_empty_quota_options_are_refused_not_taken_as_absent() -> None:
    with pytest.raises(UsageError, match="--quota is empty"):
        parse("apply", "--quota", "", RECONCILER_QUOTA="off")
    with pytest.raises(UsageError, match="--quota-group is empty"):
        parse("apply", "--quota-group", "", RECONCILER_QUOTA_GROUP="team-a")
    parse("apply", RECONCILER_QUOTA="", RECONCILER_QUOTA_GROUP="")  # unset, as usual


def test_a_huge_quota_group_is_not_echoed_whole() -> None:
    with pytest.raises(UsageError) as caught:
        parse("apply", "--quota-group", "x" * 100_000)
    assert len(str(caught.value)) < 300
