"""The shared-quota board on a real PostgreSQL: joining, groups kept apart, a member
whose session ended reaped after its lease, leaving, what ``reconciler quota``
reads, and failures that name the database without its password."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from reconciler.errors import QuotaUnavailable
from reconciler.quota.member import Identity
from reconciler.quota.postgres import SCHEMA_VERSION, PostgresBoard, read_groups
from reconciler.quota.schedule import LEASE

INTERVAL = 1.015 / 20


def identity(member: str, group: str = "g", *, pid: int = 1) -> Identity:
    return Identity(member, group, "StopStreamIngest", "host", pid, "apply", 20.0, INTERVAL)


@pytest.fixture
def quota_db(new_postgres_database: Callable[[], str]) -> str:
    return new_postgres_database()


@pytest.fixture
def boards(quota_db: str) -> Iterator[Callable[[], PostgresBoard]]:
    opened: list[PostgresBoard] = []

    def make() -> PostgresBoard:
        board = PostgresBoard(quota_db)
        opened.append(board)
        return board

    yield make
    for board in opened:
        board.close()


def test_members_of_a_group_share_its_grid_and_groups_stay_apart(
    boards: Callable[[], PostgresBoard], quota_db: str
) -> None:
    first, second, elsewhere = boards(), boards(), boards()
    alone = first.beat(identity("a"))
    assert alone.schedule.epochs[-1].members == ("a",)
    assert alone.schedule.epochs[-1].start <= alone.read_at  # alone: at once
    joined = second.beat(identity("b"))
    epoch = joined.schedule.epochs[-1]
    assert epoch.members == ("a", "b")
    assert epoch.start >= alone.read_at + LEASE  # what "a" read holds until then
    other = elsewhere.beat(identity("c", "other-team"))
    assert other.schedule.epochs[-1].members == ("c",)
    shown = {group.group: group for group in read_groups(quota_db)}
    assert sorted(shown) == ["g", "other-team"]
    assert [m.member for m in shown["g"].members] == ["a", "b"]
    assert [m.member for m in read_groups(quota_db, group="g")[0].members] == ["a", "b"]


def test_a_member_whose_session_ended_is_reaped_after_its_lease(
    boards: Callable[[], PostgresBoard], quota_db: str
) -> None:
    keeper, victim = boards(), boards()
    keeper.beat(identity("a"))
    last = victim.beat(identity("b"))
    with psycopg.connect(quota_db, autocommit=True) as conn:
        row = conn.execute(
            "SELECT backend_pid FROM reconciler_quota_members WHERE member = 'b'"
        ).fetchone()
        assert row is not None
        conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        # pg_terminate_backend only signals: wait until the session has really ended.
        deadline = time.monotonic() + 10
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (row[0],)).fetchone():
            assert time.monotonic() < deadline, "the terminated session lingers"
            time.sleep(0.01)
    view = keeper.beat(identity("a"))
    epoch = view.schedule.epochs[-1]
    assert epoch.members == ("a",)
    assert epoch.start >= last.read_at + LEASE  # "b" may have used what it read until then
    assert [m.member for m in read_groups(quota_db)[0].members] == ["a"]


def test_leaving_removes_the_member(boards: Callable[[], PostgresBoard], quota_db: str) -> None:
    board = boards()
    board.beat(identity("a"))
    board.beat(identity("a"), leaving=True)
    assert read_groups(quota_db) == []


def test_an_unreachable_database_is_named_without_its_password(tmp_path: object) -> None:
    board = PostgresBoard("postgresql://user:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=1")
    with pytest.raises(QuotaUnavailable) as caught:
        board.beat(identity("a"))
    assert "shared quota postgresql://user:***@127.0.0.1:1/nowhere" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


def test_a_newer_schema_is_refused(boards: Callable[[], PostgresBoard], quota_db: str) -> None:
    boards().beat(identity("a"))
    with psycopg.connect(quota_db, autocommit=True) as conn:
        conn.execute("INSERT INTO reconciler_quota_version VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(QuotaUnavailable, match="newer than this reconciler knows"):
        boards().beat(identity("b"))
