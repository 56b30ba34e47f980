"""The local state store: one SQLite file, plus a sibling lock file.

Layout: ``meta`` (one row: schema version, lineage, serial) and ``records`` (one
row per address). WAL journal with ``synchronous=FULL``: each ``record`` is one
transaction that upserts the row and bumps the serial, fsync'd before it returns,
so a SIGKILL at any instant loses nothing that was returned.

Files are owner-only from birth: directories this store creates are 0700, the
database and ``<db>.lock`` are created 0600 before anything is written (SQLite
gives its ``-wal`` / ``-shm`` files the database's mode). Nothing is created until
the first write or lock; reading a missing file gives ``EMPTY_STATE``.

Read-only locations work for reading: when the file or its directory cannot be
written (a mounted ConfigMap, a read-only cache), reads open it ``mode=ro`` and,
when no ``-wal`` file holds changes, ``immutable=1`` — so nothing is created there
(SQLite would otherwise create ``-wal`` / ``-shm`` files to read a WAL database).
Writing to such a location fails with one clear message, and ``check_writable``
says so before an apply sends anything.

Waits are bounded and cancellable: SQLite's own busy wait (another program holding
the write lock) is kept to a second per attempt and retried here, up to
``BUSY_TIMEOUT_SECONDS``, ending early on a halt. Every SQLite or file-system error
(a full disk, a damaged file, a missing row) becomes one ``StateError``.

The writer lock is ``flock(LOCK_EX | LOCK_NB)`` on ``<db>.lock``, held through an
open descriptor: the kernel drops it when the holder dies, so a dead holder never
blocks. The holder writes itself into the lock file as JSON so a busy locker can
name it. The lock file is never deleted (deleting flock'd files races).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

from reconciler.clock import Halt, pause
from reconciler.domain import EMPTY_STATE, LockHolder, Record, StateSnapshot
from reconciler.errors import Interrupted, LockBusy, StateError, StoreUnavailable
from reconciler.state.base import WRITE_PROBE, StoreBase
from reconciler.state.interface import (
    RECORD_COLUMNS,
    check_pushable,
    dump_holder,
    load_holder,
    new_lineage,
    push_serial,
    record_row,
    snapshot_from_rows,
)

#: The schema this build writes; older files are migrated on open, newer refused.
SCHEMA_VERSION = 1

#: Statements taking the schema from version N-1 to N, at index N-1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            schema_version INTEGER NOT NULL,
            lineage TEXT,
            serial INTEGER NOT NULL
        )""",
        "INSERT INTO meta (id, schema_version, lineage, serial) VALUES (1, 0, NULL, 0)",
        """CREATE TABLE records (
            address TEXT PRIMARY KEY,
            sdk_app_id INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            region TEXT NOT NULL,
            outcome TEXT NOT NULL,
            request_id TEXT,
            time TEXT NOT NULL,
            source TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
)

#: How long a write waits for another program's SQLite write lock, in all.
BUSY_TIMEOUT_SECONDS = 30.0
#: SQLite's own (uncancellable) busy wait per attempt.
_BUSY_ATTEMPT_SECONDS = 1.0
_SQLITE_BUSY = 5
_COLUMNS = ", ".join(RECORD_COLUMNS)
_UPSERT = f"INSERT OR REPLACE INTO records ({_COLUMNS}) VALUES ({', '.join('?' * 8)})"


class SqliteStore(StoreBase[int]):
    """State in a local SQLite file; see the module docstring for the design.

    Its lock session is the open descriptor of the lock file.
    """

    lock_poll_interval = 0.05

    def __init__(self, path: Path, *, display: str | None = None, halt: Halt | None = None) -> None:
        super().__init__(display if display is not None else str(path), halt=halt or Halt())
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._conn: sqlite3.Connection | None = None
        self._read_only = False  # the connection was opened read-only
        self._schema_ready = False

    # -- reader ---------------------------------------------------------------

    def read(self) -> StateSnapshot:
        with self._mutex, self._errors():
            conn = self._connection(create=False, write=False)
            if conn is None:
                return EMPTY_STATE
            with self._transaction(conn, write=False):
                lineage, serial = self._meta(conn)
                rows = conn.execute(f"SELECT {_COLUMNS} FROM records").fetchall()
            return snapshot_from_rows(lineage, serial, rows=rows, location=self.display)

    def _disconnect(self) -> None:
        conn, self._conn, self._schema_ready = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- writer ---------------------------------------------------------------

    def record(self, record: Record) -> int:
        row = record_row(record)
        with self._mutex, self._errors():
            conn = self._connection(create=True)
            assert conn is not None
            with self._transaction(conn, write=True):
                lineage, serial = self._meta(conn)
                conn.execute(_UPSERT, row)
                serial += 1
                conn.execute(
                    "UPDATE meta SET lineage = ?, serial = ?", (lineage or new_lineage(), serial)
                )
            return serial

    def remove(self, addresses: Sequence[str]) -> int:
        with self._mutex, self._errors():
            conn = self._connection(create=False)
            if conn is None:
                return EMPTY_STATE.serial
            with self._transaction(conn, write=True):
                _, serial = self._meta(conn)
                deleted = conn.executemany(
                    "DELETE FROM records WHERE address = ?", [(a,) for a in addresses]
                ).rowcount
                if deleted > 0:
                    serial += 1
                    conn.execute("UPDATE meta SET serial = ?", (serial,))
            return serial

    def check_writable(self) -> None:
        with self._mutex, self._errors():
            conn = self._connection(create=True)
            assert conn is not None
            with self._transaction(conn, write=True, keep=False):
                _, serial = self._meta(conn)
                conn.execute(_UPSERT, record_row(WRITE_PROBE))
                conn.execute("DELETE FROM records WHERE address = ?", (WRITE_PROBE.address,))
                conn.execute("UPDATE meta SET serial = ?", (serial,))

    def push(self, snapshot: StateSnapshot, *, force: bool = False) -> None:
        lineage = check_pushable(snapshot)
        rows = [record_row(record) for record in snapshot.records.values()]
        with self._mutex, self._errors():
            conn = self._connection(create=True)
            assert conn is not None
            with self._transaction(conn, write=True):
                current_lineage, current_serial = self._meta(conn)
                serial = push_serial(
                    current_lineage=current_lineage,
                    current_serial=current_serial,
                    snapshot=snapshot,
                    force=force,
                    location=self.display,
                )
                conn.execute("DELETE FROM records")
                conn.executemany(_UPSERT, rows)
                conn.execute("UPDATE meta SET lineage = ?, serial = ?", (lineage, serial))

    # -- locker ---------------------------------------------------------------

    def _open_lock_session(self, holder: LockHolder) -> int:
        try:
            _make_private_dirs(self.lock_path.parent)
            return _create_private_file(self.lock_path, os.O_RDWR)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the lock file for state {self.display}: {exc.strerror}"
            ) from None

    def _try_lock(self, session: int) -> bool:
        try:
            fcntl.flock(session, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _busy(self, session: int, waited: float) -> LockBusy:
        """LockBusy naming the holder from the lock file, when it can be told."""
        holder = None
        for attempt in range(3):  # the holder writes itself just after acquiring
            try:
                holder = load_holder(self.lock_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                break
            if holder is not None or attempt == 2:
                break
            pause(self.clock, 0.02)
        return LockBusy(self.display, holder, waited=waited)

    def _announce(self, session: int, holder: LockHolder) -> None:
        with self._errors():  # a full disk, say
            os.ftruncate(session, 0)
            os.pwrite(session, dump_holder(holder).encode(), 0)

    def _release(self, session: int) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(session, 0)
        with contextlib.suppress(OSError):  # closing the descriptor releases it anyway
            fcntl.flock(session, fcntl.LOCK_UN)

    def _close_lock_session(self, session: int) -> None:
        os.close(session)

    # -- internals ------------------------------------------------------------

    def _connection(self, *, create: bool, write: bool = True) -> sqlite3.Connection | None:
        """The open connection with the schema ready; None if there is no state and
        ``create`` is false (then nothing is created). Only reading (``write`` false)
        a location that cannot be written opens it read-only (see the module
        docstring); asking to write there raises StoreUnavailable."""
        if self._conn is None:
            if self.path.exists() and not self.path.is_file():
                # SQLite reads a device as an empty database and fails on a FIFO
                # with "disk I/O error": say what is wrong instead.
                raise StoreUnavailable(f"state {self.display} is not a regular file")
            if not self.path.exists():
                if not create:
                    return None
                _make_private_dirs(self.path.parent)
                os.close(_create_private_file(self.path, os.O_WRONLY))
            self._read_only = not write and not self._writable()
            self._conn = sqlite3.connect(
                self._uri(),
                uri=True,
                timeout=_BUSY_ATTEMPT_SECONDS,
                isolation_level=None,  # transactions are explicit below
                check_same_thread=False,  # guarded by self._mutex instead
            )
            self._conn.execute("PRAGMA synchronous = FULL")
        if write and self._read_only:
            raise StoreUnavailable(
                f"state {self.display} is read-only (its file or directory cannot be "
                "written); this command needs a writable state"
            )
        if not self._schema_ready and not self._migrate(self._conn, create=create):
            return None
        return self._conn

    def _writable(self) -> bool:
        return all(
            os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)
            for path in (self.path, self.path.parent)
        )

    def _uri(self) -> str:
        uri = f"file:{quote(str(self.path))}?mode={'ro' if self._read_only else 'rw'}"
        wal = self.path.with_name(self.path.name + "-wal")
        if self._read_only and (not wal.exists() or wal.stat().st_size == 0):
            # Every committed change is in the file itself and nothing can write
            # here: read it as it is, creating no -wal / -shm file beside it.
            uri += "&immutable=1"
        return uri

    def _migrate(self, conn: sqlite3.Connection, *, create: bool) -> bool:
        """Bring the schema to SCHEMA_VERSION; False if there is none and ``create`` is false."""
        version = self._schema_version(conn)
        if version == 0 and not create:
            return False
        if version < SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent; not allowed in a transaction
            with self._transaction(conn, write=True):
                version = self._schema_version(conn)  # another process may have migrated
                for statements in _MIGRATIONS[version:]:
                    for statement in statements:
                        conn.execute(statement)
                conn.execute("UPDATE meta SET schema_version = ?", (SCHEMA_VERSION,))
        self._schema_ready = True
        return True

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return 0
        if "meta" not in tables:
            raise StoreUnavailable(f"{self.display} is not a reconciler state database")
        row = conn.execute("SELECT schema_version FROM meta").fetchone()
        if row is None:
            raise StoreUnavailable(f"state {self.display} is damaged: its meta row is missing")
        (version,) = row
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"state {self.display} has schema version {version}, newer than this "
                f"reconciler knows ({SCHEMA_VERSION}); upgrade reconciler"
            )
        return version

    def _meta(self, conn: sqlite3.Connection) -> tuple[str | None, int]:
        row = conn.execute("SELECT lineage, serial FROM meta").fetchone()
        if row is None:
            raise StoreUnavailable(f"state {self.display} is damaged: its meta row is missing")
        lineage, serial = row
        if not isinstance(serial, int) or (lineage is not None and not isinstance(lineage, str)):
            raise StoreUnavailable(f"state {self.display} is damaged: its meta row is not ours")
        return lineage, serial

    @contextlib.contextmanager
    def _transaction(
        self, conn: sqlite3.Connection, *, write: bool, keep: bool = True
    ) -> Iterator[None]:
        """One transaction for the ``with`` block, committed (or, ``keep=False``,
        rolled back) at its end."""
        if write:
            self._begin_immediate(conn)
        else:
            conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if keep else "ROLLBACK")

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE: take the write lock up front (two writers queue instead of
        failing to upgrade a read), waiting for another program's lock in short,
        cancellable attempts."""
        started = self.clock.monotonic()
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            if self.halt.is_set():
                raise Interrupted(f"interrupted while waiting to write state {self.display}")
            if self.clock.monotonic() - started >= BUSY_TIMEOUT_SECONDS:
                raise StoreUnavailable(
                    f"state {self.display} is locked by another program (waited "
                    f"{BUSY_TIMEOUT_SECONDS:g}s for SQLite's write lock)"
                )
            self.halt.wait(0.05)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite and file-system errors into StoreUnavailable, naming the store."""
        try:
            yield
        except StateError:
            raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"state {self.display}: {_one_line(str(exc))}") from None
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            raise StoreUnavailable(f"state {self.display}: {reason}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return code == _SQLITE_BUSY if code is not None else "database is locked" in str(exc)


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents, each 0700; existing ones are left alone."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)  # whatever the umask


def _create_private_file(path: Path, flags: int) -> int:
    """Open ``path``, creating it 0600 (before any byte is written) if it is missing."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return os.open(path, flags)
    os.fchmod(fd, 0o600)  # whatever the umask
    _fsync_directory(path.parent)
    return fd


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (the file's data is fsync'd by SQLite)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
