"""The shared state store: PostgreSQL, through psycopg 3.

Location: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?state=NAME][&libpq
params]``, parsed by ``reconciler.state.location`` (which documents it) and handed
to libpq as keywords. ``state=NAME`` picks one of several independent states kept
in the same database (one per team or environment). Prefer ``PGPASSWORD`` or
``~/.pgpass`` to a password in the URL; either way it never appears in a message
(``***``).

Every call is bounded: ``reconciler.state.pgconnect`` sets the connect timeout,
TCP keepalives and the server-side ``statement_timeout`` / ``lock_timeout`` on every
connection, and a client-side watchdog (``CallGuard``) covers a server that stops
answering altogether (paused, or a black hole that keeps TCP up), where none of
those can fire: a call that runs past ``CALL_TIMEOUT_SECONDS``, or past
``HALT_GRACE_SECONDS`` after a SIGINT / SIGTERM, is cut off by shutting its socket
down. A call cut off by a signal raises ``Interrupted``; after it the store makes
no more calls (the server releases the lock when the sessions end).

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
import os
import socket
from collections.abc import Iterator, Sequence

import psycopg

from reconciler.clock import Halt, pause
from reconciler.domain import EMPTY_STATE, LockHolder, Record, StateSnapshot
from reconciler.errors import Interrupted, LockBusy, StateError, StoreUnavailable
from reconciler.state.base import WRITE_PROBE, StoreBase
from reconciler.state.guard import CallGuard, GuardTripped
from reconciler.state.interface import (
    RECORD_COLUMNS,
    check_pushable,
    new_lineage,
    push_serial,
    record_row,
    snapshot_from_rows,
)
from reconciler.state.location import PostgresLocation
from reconciler.state.pgconnect import STATEMENT_TIMEOUT_SECONDS, Connection, connect

#: The schema this build writes; older databases are migrated, newer refused.
SCHEMA_VERSION = 1

#: The client-side bound on one call: the server's own bound, plus room for the network.
CALL_TIMEOUT_SECONDS = STATEMENT_TIMEOUT_SECONDS + 15
#: After a SIGINT / SIGTERM, how long a call in flight may still take.
HALT_GRACE_SECONDS = 1.5

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


def _holder_row(holder: LockHolder) -> tuple[str, int, str, str, str]:
    return (holder.host, holder.pid, holder.since, holder.operation, holder.run_id)


def advisory_key(purpose: str) -> int:
    """A stable signed 64-bit advisory lock key for ``purpose``."""
    digest = hashlib.sha256(f"trtc-ingest-reconciler:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_MIGRATION_KEY = advisory_key("schema-migration")


class PostgresStore(StoreBase[Connection]):
    """State in a PostgreSQL database; see the module docstring for the design.

    Its lock session is a dedicated autocommit connection holding the advisory lock.
    """

    lock_poll_interval = 0.2

    def __init__(self, location: PostgresLocation, *, halt: Halt | None = None) -> None:
        self._location = location
        super().__init__(location.display, halt=halt or Halt())
        self.state_name = location.state_name
        self.lock_key = advisory_key(f"state:{self.state_name}")
        self._conn: Connection | None = None
        self._schema_ready = False
        self._sessions: list[Connection] = []  # open lock sessions
        self._guard = CallGuard(
            self.halt, timeout=CALL_TIMEOUT_SECONDS, grace=HALT_GRACE_SECONDS, name="postgres"
        )

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
        self._guard.close()

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

    def check_writable(self) -> None:
        with self._mutex, self._errors():
            conn = self._connection(create=True)
            assert conn is not None
            with conn.transaction(force_rollback=True):
                lineage, serial = self._lock_state_row(conn, create=True)
                conn.execute(_UPSERT, (self.state_name, *record_row(WRITE_PROBE)))
                conn.execute(
                    "DELETE FROM reconciler_records WHERE state_name = %s AND address = %s",
                    (self.state_name, WRITE_PROBE.address),
                )
                self._set_state(conn, lineage or new_lineage(), serial)

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
            session = self._connect(autocommit=True, application_name=short_name[:63])
            self._sessions.append(session)
            return session

    def _try_lock(self, session: Connection) -> bool:
        with self._errors():
            row = session.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_key,)).fetchone()
        return bool(row and row[0])

    def _announce(self, session: Connection, holder: LockHolder) -> None:
        with self._errors():
            session.execute(_UPSERT_HOLDER, (self.state_name, *_holder_row(holder)))

    def _release(self, session: Connection) -> None:
        # Failing here is harmless: ending the session releases the lock anyway.
        with contextlib.suppress(StateError, Interrupted), self._errors():
            session.execute(
                "DELETE FROM reconciler_lock_holders "
                "WHERE state_name = %s AND backend_pid = pg_backend_pid()",
                (self.state_name,),
            )
            session.execute("SELECT pg_advisory_unlock(%s)", (self.lock_key,))

    def _close_lock_session(self, session: Connection) -> None:
        # Ending the session releases the advisory lock even if the release failed.
        with contextlib.suppress(ValueError):
            self._sessions.remove(session)
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
        def attempt() -> Connection:
            return connect(self._location, autocommit=autocommit, application_name=application_name)

        try:
            # Connecting cannot be cancelled; a halt stops waiting for it instead.
            return self._guard.abandonable(attempt, discard=_close_quietly)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to state {self.display}: {_reason(exc)}"
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

    def _cut(self) -> None:
        """Shut down every socket of this store (the watchdog's ``cancel``): the call
        waiting on one ends at once with an error, whatever the server does."""
        for conn in (self._conn, *self._sessions):
            if conn is None or conn.closed:
                continue
            with (
                contextlib.suppress(OSError, psycopg.Error),
                socket.socket(fileno=os.dup(conn.fileno())) as sock,
            ):
                sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Run the block as one guarded call; turn psycopg errors into StateError /
        StoreUnavailable (or ``Interrupted``, when a signal cut the call off)."""
        try:
            with self._guard.call(self._cut) as call:
                try:
                    yield
                except psycopg.Error as exc:
                    if self._conn is not None and self._conn.broken:
                        self._disconnect()  # reconnect on the next call
                    raise self._failure(exc, call.cut) from None
        except GuardTripped:
            raise Interrupted(
                f"state {self.display} was not written: its server stopped answering "
                "and the run was interrupted"
            ) from None

    def _failure(self, exc: psycopg.Error, cut: str | None) -> StateError | Interrupted:
        # ``from None`` at the raise: a chained driver error adds nothing for a user.
        if cut == "halt":
            return Interrupted(
                f"state {self.display}: the server did not answer within "
                f"{HALT_GRACE_SECONDS:g}s of the signal; the call was abandoned, "
                "its change may not be recorded"
            )
        if cut == "timeout":
            return StoreUnavailable(
                f"state {self.display}: the server did not answer within "
                f"{CALL_TIMEOUT_SECONDS:g}s; the call was abandoned"
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailable(f"state {self.display}: {_reason(exc)}")
        return StateError(f"state {self.display}: {_reason(exc)}")


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(psycopg.Error):
        conn.close()


def _reason(exc: BaseException) -> str:
    """The server's (or libpq's) reason, on one line. libpq gets the password as a
    keyword and never repeats it, so there is nothing to scrub."""
    return " ".join(str(exc).split()) or type(exc).__name__
