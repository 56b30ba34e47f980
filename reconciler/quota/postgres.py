"""The shared-quota board in PostgreSQL: two small tables and one transaction per
heartbeat.

- ``reconciler_quota_groups(name, action, schedule jsonb, quiet_until)`` — one row
  per group and API: the epochs of its schedule (``reconciler.quota.schedule``);
- ``reconciler_quota_members(member, group_name, action, host, pid, operation, rate,
  interval, backend_pid, joined_at, read_at)`` — one row per runner in a group.

Times are seconds since the epoch on the database's clock (``clock_timestamp()``),
never a runner's. A heartbeat locks its group's row (``FOR UPDATE``, so heartbeats
of one group take turns), reads the clock, reads the members — each with whether
its session still exists (``pg_stat_activity``: a SIGKILLed runner's session ends
with it) — plans (``schedule.plan``), writes the plan back and its own ``read_at``,
and commits: about seven round trips, a few milliseconds on a nearby database, some
seven times a second per runner. Nothing per request: granting a slot is local.

The connection bounds every wait (a statement, a lock, an open transaction), and
TCP keepalives and a user timeout make a vanished server an error within seconds
instead of a hang. The tables are created on first use, in the connection's
schema, under a transaction-level advisory lock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import psycopg

from reconciler.errors import QuotaUnavailable
from reconciler.quota.member import BoardView, Identity
from reconciler.quota.report import GroupReport, MemberReport
from reconciler.quota.schedule import Epoch, MemberRow, Schedule, plan
from reconciler.state.location import LocationError, PostgresLocation, parse_location
from reconciler.state.pgconnect import Connection, connect_options
from reconciler.state.postgres import advisory_key

SCHEMA_VERSION = 1
_SCHEMA_KEY = advisory_key("quota-schema")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS reconciler_quota_version (
        version integer PRIMARY KEY
    )""",
    """CREATE TABLE IF NOT EXISTS reconciler_quota_groups (
        name text NOT NULL,
        action text NOT NULL,
        schedule jsonb NOT NULL DEFAULT '[]',
        quiet_until double precision NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (name, action)
    )""",
    """CREATE TABLE IF NOT EXISTS reconciler_quota_members (
        member text PRIMARY KEY,
        group_name text NOT NULL,
        action text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        operation text NOT NULL,
        rate double precision NOT NULL,
        interval double precision NOT NULL,
        backend_pid integer NOT NULL,
        joined_at double precision NOT NULL,
        read_at double precision NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS reconciler_quota_members_group
        ON reconciler_quota_members (group_name, action)""",
)
#: Every wait of the quota connection is bounded, far tighter than the state's: a
#: heartbeat that cannot finish in a few seconds is better given up (milliseconds).
_SESSION = (
    "SET statement_timeout = 2000",
    "SET lock_timeout = 1000",
    "SET idle_in_transaction_session_timeout = 5000",
)
#: libpq bounds, unless the URL sets them: connect, and notice a dead peer, quickly.
_LIBPQ = {
    "connect_timeout": "3",
    "keepalives_idle": "2",
    "keepalives_interval": "1",
    "keepalives_count": "2",
    "tcp_user_timeout": "3000",
}
_NOW = "SELECT extract(epoch FROM clock_timestamp())::float8"
_MEMBERS = """
    SELECT member, joined_at, read_at, interval,
           backend_pid IN (SELECT pid FROM pg_stat_activity) AS connected
    FROM reconciler_quota_members WHERE group_name = %s AND action = %s
"""
_UPSERT_ME = """
    INSERT INTO reconciler_quota_members (member, group_name, action, host, pid, operation,
        rate, interval, backend_pid, joined_at, read_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, pg_backend_pid(), %s, %s)
    ON CONFLICT (member) DO UPDATE SET read_at = EXCLUDED.read_at,
        backend_pid = EXCLUDED.backend_pid, rate = EXCLUDED.rate, interval = EXCLUDED.interval
"""


def schedule_from_json(document: Any) -> Schedule:
    epochs = document if isinstance(document, list) else json.loads(document or "[]")
    return Schedule(tuple(Epoch.from_json(epoch) for epoch in epochs))


class PostgresBoard:
    """A group's board in a PostgreSQL database (see the module docstring)."""

    def __init__(self, location: str) -> None:
        self._location = _postgres_location(location)
        self.display = self._location.display
        self._conn: Connection | None = None
        self._groups_known: set[tuple[str, str]] = set()

    def beat(self, me: Identity, *, leaving: bool = False) -> BoardView:
        key = (me.group, me.action)
        with self._errors() as conn, conn.transaction():
            schedule, quiet_until = self._lock_group(conn, key)
            now = _scalar(conn.execute(_NOW).fetchone())
            rows = [
                MemberRow(member, joined, read_at, interval, bool(connected))
                for member, joined, read_at, interval, connected in conn.execute(_MEMBERS, key)
            ]
            mine = next((r for r in rows if r.member == me.member), None)
            joined = mine.joined if mine is not None else now
            previous = mine.read_at if mine is not None else 0.0
            result = plan(
                schedule,
                rows,
                me=MemberRow(me.member, joined, previous, me.interval, True),
                leaving=leaving,
                now=now,
                quiet_until=quiet_until,
            )
            epochs = json.dumps([epoch.to_json() for epoch in result.schedule.epochs])
            conn.execute(
                "UPDATE reconciler_quota_groups SET schedule = %s, quiet_until = %s, "
                "updated_at = clock_timestamp() WHERE name = %s AND action = %s",
                (epochs, result.quiet_until, *key),
            )
            gone = [*result.remove, *([me.member] if leaving else [])]
            if gone:
                conn.execute("DELETE FROM reconciler_quota_members WHERE member = ANY(%s)", (gone,))
            if not leaving:
                identity = (me.member, me.group, me.action, me.host, me.pid, me.operation)
                conn.execute(_UPSERT_ME, (*identity, me.rate, me.interval, joined, now))
        return BoardView(result.schedule, now)

    def _lock_group(self, conn: Connection, key: tuple[str, str]) -> tuple[Schedule, float]:
        """The group's schedule and quiet time, its row locked until the transaction ends."""
        if key not in self._groups_known:
            conn.execute(
                "INSERT INTO reconciler_quota_groups (name, action) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                key,
            )
        row = conn.execute(
            "SELECT schedule, quiet_until FROM reconciler_quota_groups "
            "WHERE name = %s AND action = %s FOR UPDATE",
            key,
        ).fetchone()
        assert row is not None
        self._groups_known.add(key)
        return schedule_from_json(row[0]), float(row[1])

    def now(self) -> float:
        with self._errors() as conn:
            return float(_scalar(conn.execute(_NOW).fetchone()))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _connection(self) -> Connection:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self.close()
        if self._conn is None:
            options = connect_options(
                self._location, application_name="trtc-ingest-reconciler quota"
            )
            for key, value in _LIBPQ.items():
                if key not in self._location.params:
                    options[key] = value
            conn: Connection = psycopg.connect(autocommit=True, **options)
            try:
                for statement in _SESSION:
                    conn.execute(statement)
                ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[Connection]:
        try:
            yield self._connection()
        except psycopg.Error as exc:
            self.close()  # reconnect on the next heartbeat
            # libpq gets the password as a keyword and never repeats it.
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise QuotaUnavailable(f"shared quota {self.display}: {reason}") from None


def _postgres_location(text: str) -> PostgresLocation:
    try:
        location = parse_location(text)
    except LocationError as exc:
        raise QuotaUnavailable(str(exc).replace("state location", "shared quota", 1)) from None
    if not isinstance(location, PostgresLocation):
        raise QuotaUnavailable(f"shared quota {text!r}: not a postgresql:// URL")
    return location


def ensure_schema(conn: Connection) -> None:
    """Create the quota tables if missing; refuse a newer schema."""
    with conn.transaction():
        exists = _scalar(
            conn.execute("SELECT to_regclass('reconciler_quota_version') IS NOT NULL").fetchone()
        )
        if exists:
            version = _scalar(
                conn.execute("SELECT max(version) FROM reconciler_quota_version").fetchone()
            )
            if version == SCHEMA_VERSION:
                return
            if version is not None and version > SCHEMA_VERSION:
                raise psycopg.errors.FeatureNotSupported(
                    f"the quota tables have schema version {version}, newer than this "
                    f"reconciler knows ({SCHEMA_VERSION}); upgrade reconciler"
                )
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_KEY,))
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO reconciler_quota_version (version) VALUES (%s) ON CONFLICT DO NOTHING",
            (SCHEMA_VERSION,),
        )


def _scalar(row: tuple[Any, ...] | None) -> Any:
    assert row is not None
    return row[0]


def read_groups(location: str, *, group: str | None = None) -> list[GroupReport]:
    """Who holds what now in every group (or in ``group``) at ``location``; raises
    ``QuotaUnavailable``."""
    board = PostgresBoard(location)
    try:
        with board._errors() as conn:
            now = _scalar(conn.execute(_NOW).fetchone())
            groups = conn.execute(
                "SELECT name, action, schedule FROM reconciler_quota_groups "
                "WHERE %s::text IS NULL OR name = %s ORDER BY name, action",
                (group, group),
            ).fetchall()
            members = conn.execute(
                "SELECT group_name, action, member, host, pid, operation, rate, read_at, "
                "joined_at, backend_pid IN (SELECT pid FROM pg_stat_activity) "
                "FROM reconciler_quota_members ORDER BY joined_at, member"
            ).fetchall()
    finally:
        board.close()
    reports = []
    for name, action, document in groups:
        schedule = schedule_from_json(document)
        epoch = schedule.current(now)
        mine = tuple(
            MemberReport(
                member=m[2],
                host=m[3],
                pid=m[4],
                operation=m[5],
                rate=m[6],
                share=schedule.share(m[2], now),
                heartbeat_age=max(0.0, now - m[7]),
                joined_age=max(0.0, now - m[8]),
                connected=bool(m[9]),
            )
            for m in members
            if (m[0], m[1]) == (name, action)
        )
        if not mine:
            continue
        group_rate = 1.0 / epoch.interval if epoch is not None and epoch.members else 0.0
        reports.append(GroupReport(name, action, group_rate, mine))
    return reports
