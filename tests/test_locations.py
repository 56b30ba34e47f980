"""State locations: the one parser accepts exactly its schemes, hands libpq keywords
(never a URL), and no error message ever holds the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.state import (
    LocationError,
    PostgresLocation,
    SqliteLocation,
    parse_location,
    redact_location,
)
from reconciler.state.pgconnect import connect_options
from tests.support import cli_env, manifest, no_traceback, reconciler

PASSWORD = "Pw-7f3a9c2b"


@pytest.mark.parametrize(
    ("location", "params", "state", "shown"),
    [
        (
            "postgresql://alice:pw@db:5432/app?state=prod",
            {"user": "alice", "password": "pw", "host": "db", "port": "5432", "dbname": "app"},
            "prod",
            "postgresql://alice:***@db:5432/app?state=prod",
        ),
        (
            "POSTGRES://alice:p%40ss@h1,h2:6432/app",
            {
                "user": "alice",
                "password": "p@ss",
                "host": "h1,h2",
                "port": ",6432",
                "dbname": "app",
            },
            "default",
            "postgres://alice:***@h1,h2:6432/app",
        ),
        # unescaped ?, /, # and @ in the password: the user information ends at the last @
        (
            "postgresql://bob:a?b/c#d@e@[::1]:5433/db?sslmode=disable",
            {
                "user": "bob",
                "password": "a?b/c#d@e",
                "host": "::1",
                "port": "5433",
                "dbname": "db",
                "sslmode": "disable",
            },
            "default",
            "postgresql://bob:***@[::1]:5433/db?sslmode=disable",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/x",
            {"user": "postgres", "dbname": "postgres", "host": "/tmp/x"},
            "default",
            "postgresql://postgres:@/postgres?host=/tmp/x",
        ),
        (
            "postgresql://db/app?user=a&password=p%26w&state=s",
            {"user": "a", "password": "p&w", "host": "db", "dbname": "app"},
            "s",
            "postgresql://db/app?user=a&password=***&state=s",
        ),
        # an @ in a parameter is not user information
        (
            "postgresql://db/app?application_name=me@home",
            {"host": "db", "dbname": "app", "application_name": "me@home"},
            "default",
            "postgresql://db/app?application_name=me@home",
        ),
    ],
)
def test_postgres_locations_parse_into_libpq_keywords(
    location: str, params: dict[str, str], state: str, shown: str
) -> None:
    parsed = parse_location(location)
    assert isinstance(parsed, PostgresLocation)
    assert dict(parsed.params) == params
    assert parsed.state_name == state
    assert parsed.display == shown == redact_location(location)
    assert "pw" not in repr(parsed) or "pw" in shown


@pytest.mark.parametrize(
    "path", [".reconciler/state.db", "/abs/state.db", "notes:v2.db", "./sqlite:x.db", "a@b.db"]
)
def test_anything_not_url_like_is_a_sqlite_path(path: str) -> None:
    assert parse_location(path) == SqliteLocation(path)


@pytest.mark.parametrize(
    ("location", "words"),
    [
        (f"postgresql+psycopg://u:{PASSWORD}@h/d", "names a driver"),
        (f"postgresql:/u:{PASSWORD}@h/d", "malformed"),
        (f"POSTGRESQL:u:{PASSWORD}@h/d", "malformed"),
        (f"sqlite:///{PASSWORD}.db", "plain file path"),
        (f"file:/tmp/{PASSWORD}.db", "plain file path"),
        (f"mysql://u:{PASSWORD}@h/d", "unsupported scheme"),
        (f"postgresql://u:{PASSWORD}%zz@h/d", "starts no percent-escape"),
        (f"postgresql://u:{PASSWORD}%ff@h/d", "not UTF-8"),
        (f"postgresql://u:{PASSWORD}%00@h/d", "NUL"),
        (f"postgresql://u@h/d?password={PASSWORD}%g1", "starts no percent-escape"),
        (f"postgresql://u:{PASSWORD}@h/d#x", "fragment"),
        (f"postgresql://u:{PASSWORD}@h:port/d", r"HOST\[:PORT\]"),
        (f"postgresql://u:{PASSWORD}@h/d?sslmode", "has no value"),
        (f"postgresql://u:{PASSWORD}@h/d?state=a&state=b", "more than once"),
        ("   ", "empty"),
    ],
)
def test_bad_locations_are_refused_without_the_password(location: str, words: str) -> None:
    with pytest.raises(LocationError, match=words) as caught:
        parse_location(location)
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in redact_location(location)


def test_connect_options_add_bounds_the_url_can_override() -> None:
    parsed = parse_location("postgresql://u:pw@h/d?connect_timeout=3")
    assert isinstance(parsed, PostgresLocation)
    options = connect_options(parsed)
    assert options["connect_timeout"] == "3"
    assert options["keepalives"] == "1" and int(options["keepalives_idle"]) > 0
    assert options["password"] == "pw" and options["host"] == "h"


def test_the_cli_refuses_bad_locations_in_one_line_and_creates_no_file(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    for location in (
        f"postgresql://u:{PASSWORD}?x@127.0.0.1:1/db",  # parsed: a connection error
        f"postgresql://u:{PASSWORD}%zz@127.0.0.1:1/db",
        f"POSTGRESQL:/u:{PASSWORD}@127.0.0.1:1/db",
        f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db",
        f"sqlite:///{PASSWORD}.db",
    ):
        for args in (["state", "list"], ["plan", "--state", location]):
            run_env = env if "--state" in args else {**env, "RECONCILER_STATE": location}
            result = reconciler(*args, env=run_env, cwd=tmp_path)
            assert result.returncode == 1, (location, result.stdout)
            assert no_traceback(result), result.stderr
            assert PASSWORD not in result.stdout + result.stderr, location
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
            assert "state" in lines[0], lines[0]
    assert [p.name for p in tmp_path.iterdir()] == ["manifests"]  # no file named after a URL
