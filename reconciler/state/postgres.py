"""The shared state store: PostgreSQL, through psycopg 3.

Location: a libpq URL with one extra query parameter, ``state``::

    postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?state=NAME][&other libpq params]

``state=NAME`` picks one of several independent states kept in the same database
(one per team or environment); it defaults to ``default`` and must match
``[A-Za-z0-9_.-]{1,128}``. It is removed before the URL reaches libpq; every other
parameter (``host=/socket/dir``, ``sslmode=…``, ``options=-csearch_path=…``) is
passed through untouched. Prefer ``PGPASSWORD`` or ``~/.pgpass`` to a password in
the URL; either way it never appears in a message (``***``).

Tables (created on the first write or lock, in the connection's current schema,
versioned in ``reconciler_schema_version`` and migrated under a transaction-level
advisory lock so concurrent first runs do not collide):

- ``reconciler_states(name PK, lineage, serial, updated_at)`` — one row per state;
- ``reconciler_records(state_name, address, sdk_app_id BIGINT, task_id, region,
  outcome, request_id, time, source)`` keyed by (state_name, address);
- ``reconciler_lock_holders(state_name PK, backend_pid, host, pid, since,
  operation, run_id)`` — who holds each state's lock.

Every write is one explicit transaction that locks the state's row, changes the
records and bumps the serial, and is committed before the method returns.

Lock: a session-level ``pg_try_advisory_lock`` on a dedicated connection, keyed by
a 64-bit hash of the state name (two states in one database lock independently).
PostgreSQL releases it when that connection ends, so a dead holder never blocks.
The holder upserts its row in ``reconciler_lock_holders`` tagged with its backend
pid and sets ``application_name`` to a short form; a busy locker finds the
backend that holds the advisory lock in ``pg_locks`` and joins the row on that
pid, so a row left by a dead holder is never reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import psycopg

from reconciler.clock import SYSTEM_CLOCK, Clock, pause
from reconciler.domain import EMPTY_STATE, LockHolder, Record, StateSnapshot
from reconciler.errors import LockBusy, StateError, StoreUnavailable
from reconciler.state.base import StoreBase
from reconciler.state.interface import (
    RECORD_COLUMNS,
    check_pushable,
    new_lineage,
    push_serial,
    record_row,
    snapshot_from_rows,
)
from reconciler.state.urls import location_secrets, redact_location, scrub

#: The schema this build writes; older databases are migrated, newer refused.
SCHEMA_VERSION = 1
DEFAULT_STATE_NAME = "default"
STATE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")

#: Statements taking the schema from version N-1 to N, at index N-1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS reconciler_states (
            name text PRIMARY KEY,
            lineage text,
            serial bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE IF NOT EXISTS reconciler_records (
            state_name text NOT NULL REFERENCES reconciler_states (name) ON DELETE CASCADE,
            address text NOT NULL,
            sdk_app_id bigint NOT NULL,
            task_id text NOT NULL,
            region text NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ('stopped', 'already_stopped')),
            request_id text,
            time text NOT NULL,
            source text NOT NULL,
            PRIMARY KEY (state_name, address)
        )""",
        """CREATE TABLE IF NOT EXISTS reconciler_lock_holders (
            state_name text PRIMARY KEY,
            backend_pid integer NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            since text NOT NULL,
            operation text NOT NULL,
            run_id text NOT NULL
        )""",
    ),
)

_CONNECT_TIMEOUT_SECONDS = 10
_APPLICATION_NAME = "trtc-ingest-reconciler"
_COLUMNS = ", ".join(RECORD_COLUMNS)
_UPSERT = (
    f"INSERT INTO reconciler_records (state_name, {_COLUMNS}) "
    f"VALUES (%s, {', '.join(['%s'] * len(RECORD_COLUMNS))}) "
    "ON CONFLICT (state_name, address) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in RECORD_COLUMNS if c != "address")
)
_COPY_RECORDS = f"COPY reconciler_records (state_name, {_COLUMNS}) FROM STDIN"
_HOLDER_QUERY = """
    SELECT l.pid, h.host, h.pid, h.since, h.operation, h.run_id
    FROM pg_locks l
    LEFT JOIN reconciler_lock_holders h ON h.state_name = %s AND h.backend_pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = %s::oid AND l.objid = %s::oid
"""

_UPSERT_HOLDER = """
    INSERT INTO reconciler_lock_holders
        (state_name, backend_pid, host, pid, since, operation, run_id)
    VALUES (%s, pg_backend_pid(), %s, %s, %s, %s, %s)
    ON CONFLICT (state_name) DO UPDATE SET
        backend_pid = EXCLUDED.backend_pid, host = EXCLUDED.host, pid = EXCLUDED.pid,
        since = EXCLUDED.since, operation = EXCLUDED.operation, run_id = EXCLUDED.run_id
"""

Connection = psycopg.Connection[tuple[Any, ...]]


def _holder_row(holder: LockHolder) -> tuple[str, int, str, str, str]:
    return (holder.host, holder.pid, holder.since, holder.operation, holder.run_id)


@dataclass(frozen=True, repr=False)
class PostgresLocation:
    """A parsed location: what libpq gets, which state, and what to keep secret."""

    conninfo: str  # the URL without ``state=``; may hold a password: never show it
    state_name: str
    display: str  # redacted
    secrets: tuple[str, ...]
    has_connect_timeout: bool

    def __repr__(self) -> str:
        return f"PostgresLocation({self.display!r})"

    @classmethod
    def parse(cls, location: str) -> PostgresLocation:
        display = redact_location(location)
        base, _, query = location.partition("?")
        kept: list[str] = []
        names: list[str] = []
        keys: set[str] = set()
        for part in query.split("&") if query else ():
            key, _, value = part.partition("=")
            if unquote(key) == "state":
                names.append(unquote(value))
            elif part:
                kept.append(part)
                keys.add(unquote(key))
        if len(names) > 1:
            raise StoreUnavailable(f"state location {display} gives state= more than once")
        name = names[0] if names else DEFAULT_STATE_NAME
        if not STATE_NAME_PATTERN.fullmatch(name):
            raise StoreUnavailable(
                f"state location {display}: state name {name!r} must be 1 to 128 letters, "
                "digits, '_', '.' or '-'"
            )
        return cls(
            conninfo=base + ("?" + "&".join(kept) if kept else ""),
            state_name=name,
            display=display,
            secrets=location_secrets(location),
            has_connect_timeout="connect_timeout" in keys,
        )


def advisory_key(purpose: str) -> int:
    """A stable signed 64-bit advisory lock key for ``purpose``."""
    digest = hashlib.sha256(f"trtc-ingest-reconciler:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_MIGRATION_KEY = advisory_key("schema-migration")


def connect(
    location: PostgresLocation,
    *,
    autocommit: bool,
    application_name: str | None = None,
    connect_timeout: int = _CONNECT_TIMEOUT_SECONDS,
    **libpq: Any,
) -> Connection:
    """A connection to ``location`` with the reconciler's defaults: its application
    name, and ``connect_timeout`` unless the URL sets one. ``libpq`` adds parameters.
    Raises ``psycopg.Error``; its text may hold the URL's password (see ``scrub``).
    """
    options: dict[str, Any] = dict(libpq)
    if application_name is not None:
        options["application_name"] = application_name
    else:
        options["fallback_application_name"] = _APPLICATION_NAME
    if not location.has_connect_timeout:
        options["connect_timeout"] = connect_timeout
    return psycopg.connect(location.conninfo, autocommit=autocommit, **options)


class PostgresStore(StoreBase[Connection]):
    """State in a PostgreSQL database; see the module docstring for the design.

    Its lock session is a dedicated autocommit connection holding the advisory lock.
    """

    lock_poll_interval = 0.2

    def __init__(self, location: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._location = PostgresLocation.parse(location)
        super().__init__(self._location.display, clock=clock)
        self.state_name = self._location.state_name
        self.lock_key = advisory_key(f"state:{self.state_name}")
        self._conn: Connection | None = None
        self._schema_ready = False

    # -- reader ---------------------------------------------------------------

    def read(self) -> StateSnapshot:
        with self._mutex, self._errors():
            conn = self._connection(create=False)
            if conn is None:
                return EMPTY_STATE
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                row = conn.execute(
                    "SELECT lineage, serial FROM reconciler_states WHERE name = %s",
                    (self.state_name,),
                ).fetchone()
                if row is None:
                    return EMPTY_STATE
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM reconciler_records WHERE state_name = %s",
                    (self.state_name,),
                ).fetchall()
            return snapshot_from_rows(row[0], row[1], rows=rows, location=self.display)

    def _disconnect(self) -> None:
        conn, self._conn, self._schema_ready = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    # -- writer ---------------------------------------------------------------

    def record(self, record: Record) -> int:
        row = record_row(record)
        with self._mutex, self._errors():
            conn = self._connection(create=True)
            assert conn is not None
            with conn.transaction():
                lineage, serial = self._lock_state_row(conn, create=True)
                conn.execute(_UPSERT, (self.state_name, *row))
                return self._set_state(conn, lineage or new_lineage(), serial + 1)

    def remove(self, addresses: Sequence[str]) -> int:
        with self._mutex, self._errors():
            conn = self._connection(create=False)
            if conn is None:
                return EMPTY_STATE.serial
            with conn.transaction():
                lineage, serial = self._lock_state_row(conn, create=False)
                if lineage is None:
                    return serial
                deleted = conn.execute(
                    "DELETE FROM reconciler_records WHERE state_name = %s AND address = ANY(%s)",
                    (self.state_name, list(addresses)),
                ).rowcount
                if deleted > 0:
                    serial = self._set_state(conn, lineage, serial + 1)
                return serial

    def push(self, snapshot: StateSnapshot, *, force: bool = False) -> None:
        lineage = check_pushable(snapshot)
        rows = [(self.state_name, *record_row(r)) for r in snapshot.records.values()]
        with self._mutex, self._errors():
            conn = self._connection(create=True)
            assert conn is not None
            with conn.transaction():
                current_lineage, current_serial = self._lock_state_row(conn, create=True)
                serial = push_serial(
                    current_lineage=current_lineage,
                    current_serial=current_serial,
                    snapshot=snapshot,
                    force=force,
                    location=self.display,
                )
                conn.execute(
                    "DELETE FROM reconciler_records WHERE state_name = %s", (self.state_name,)
                )
                with conn.cursor().copy(_COPY_RECORDS) as copy:
                    for row in rows:
                        copy.write_row(row)
                self._set_state(conn, lineage, serial)

    # -- locker ---------------------------------------------------------------

    def _open_lock_session(self, holder: LockHolder) -> Connection:
        short_name = f"reconciler {holder.operation} pid {holder.pid}@{holder.host}"
        with self._mutex, self._errors():
            self._connection(create=True)  # the holders table lives in the schema
            return self._connect(autocommit=True, application_name=short_name[:63])

    def _try_lock(self, session: Connection) -> bool:
        with self._errors():
            row = session.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,)).fetchone()
        return bool(row and row[0])

    def _announce(self, session: Connection, holder: LockHolder) -> None:
        with self._errors():
            session.execute(_UPSERT_HOLDER, (self.state_name, *_holder_row(holder)))

    def _release(self, session: Connection) -> None:
        with contextlib.suppress(psycopg.Error):
            session.execute(
                "DELETE FROM reconciler_lock_holders "
                "WHERE state_name = %s AND backend_pid = pg_backend_pid()",
                (self.state_name,),
            )
            session.execute("SELECT pg_advisory_unlock(%s)", (self.lock_key,))

    def _close_lock_session(self, session: Connection) -> None:
        # Ending the session releases the advisory lock even if the release failed.
        with contextlib.suppress(psycopg.Error):
            session.close()

    def _busy(self, session: Connection, waited: float) -> LockBusy:
        """LockBusy naming the holder, found through pg_locks (never a stale row)."""
        unsigned = self.lock_key & 0xFFFF_FFFF_FFFF_FFFF
        params = (self.state_name, str(unsigned >> 32), str(unsigned & 0xFFFF_FFFF))
        backend_pid = None
        for attempt in range(3):  # the holder writes its row just after acquiring
            with self._errors():
                row = session.execute(_HOLDER_QUERY, params).fetchone()
            if row is None:
                break
            backend_pid, host, pid, since, operation, run_id = row
            if host is not None:
                holder = LockHolder(
                    host=host, pid=pid, since=since, operation=operation, run_id=run_id
                )
                return LockBusy(self.display, holder, waited=waited)
            if attempt < 2:
                pause(self.clock, 0.05)
        detail = f"PostgreSQL session {backend_pid}" if backend_pid is not None else None
        return LockBusy(self.display, None, waited=waited, detail=detail)

    # -- internals ------------------------------------------------------------

    def _connect(self, *, autocommit: bool, application_name: str | None = None) -> Connection:
        try:
            return connect(self._location, autocommit=autocommit, application_name=application_name)
        except psycopg.Error as exc:
            # ``from None``: the chained error would repeat what we scrubbed here.
            raise StoreUnavailable(
                f"cannot connect to state {self.display}: {self._reason(exc)}"
            ) from None

    def _connection(self, *, create: bool) -> Connection | None:
        """The open connection with the schema ready; None if there are no tables yet
        and ``create`` is false (then nothing is created)."""
        if self._conn is not None and self._conn.closed:
            self._conn, self._schema_ready = None, False
        if self._conn is None:
            self._conn = self._connect(autocommit=False)
        if not self._schema_ready and not self._migrate(self._conn, create=create):
            return None
        return self._conn

    def _migrate(self, conn: Connection, *, create: bool) -> bool:
        """Bring the schema to SCHEMA_VERSION; False if there is none and ``create`` is false."""
        with conn.transaction():
            version = self._schema_version(conn)
        if version is None and not create:
            return False
        if version != SCHEMA_VERSION:
            with conn.transaction():
                # Serialises concurrent first runs: CREATE TABLE IF NOT EXISTS alone races.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_KEY,))
                conn.execute(
                    """CREATE TABLE IF NOT EXISTS reconciler_schema_version (
                        version integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )"""
                )
                version = self._schema_version(conn) or 0
                for target, statements in enumerate(_MIGRATIONS[version:], start=version + 1):
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO reconciler_schema_version (version) VALUES (%s)", (target,)
                    )
        self._schema_ready = True
        return True

    def _schema_version(self, conn: Connection) -> int | None:
        """The applied schema version; None when the version table does not exist."""
        row = conn.execute("SELECT to_regclass('reconciler_schema_version') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return None
        row = conn.execute("SELECT max(version) FROM reconciler_schema_version").fetchone()
        version = row[0] if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"state {self.display} has schema version {version}, newer than this "
                f"reconciler knows ({SCHEMA_VERSION}); upgrade reconciler"
            )
        return int(version)

    def _lock_state_row(self, conn: Connection, *, create: bool) -> tuple[str | None, int]:
        """(lineage, serial) of this state, its row locked until the transaction ends."""
        if create:
            conn.execute(
                "INSERT INTO reconciler_states (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                (self.state_name,),
            )
        row = conn.execute(
            "SELECT lineage, serial FROM reconciler_states WHERE name = %s FOR UPDATE",
            (self.state_name,),
        ).fetchone()
        return (None, 0) if row is None else (row[0], int(row[1]))

    def _set_state(self, conn: Connection, lineage: str, serial: int) -> int:
        conn.execute(
            "UPDATE reconciler_states SET lineage = %s, serial = %s, updated_at = now() "
            "WHERE name = %s",
            (lineage, serial, self.state_name),
        )
        return serial

    def _reason(self, exc: BaseException) -> str:
        """The server's (or libpq's) reason, on one line, without secrets."""
        return scrub(str(exc), self._location.secrets) or type(exc).__name__

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn psycopg errors into StateError / StoreUnavailable, naming the store."""
        try:
            yield
        except StateError:
            raise
        except psycopg.OperationalError as exc:
            if self._conn is not None and self._conn.broken:
                self.close()  # reconnect on the next call
            raise StoreUnavailable(f"state {self.display}: {self._reason(exc)}") from None
        except psycopg.Error as exc:
            raise StateError(f"state {self.display}: {self._reason(exc)}") from None
