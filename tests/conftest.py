"""Shared test fixtures: a PostgreSQL database (on a throwaway server, or on the
server ``RECONCILER_TEST_POSTGRES`` names), fresh state locations for every state
backend (so one contract suite runs against each), and the emulator with a CLI
environment pointed at it for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from benchmarks.throwaway_postgres import throwaway_server
from reconciler.state import StateStore, open_store
from tests.support import EmulatorFactory, EmulatorProcess, cli_env, end

#: Every state backend the contract suite runs against.
STATE_BACKENDS = ("sqlite", "postgres")


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` appended to its query string."""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


#: Set to a ``postgresql://`` URL to test against that server instead of starting one.
EXISTING_POSTGRES = "RECONCILER_TEST_POSTGRES"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty database made for this test session.

    On a throwaway server by default, so the suite never skips. With
    ``RECONCILER_TEST_POSTGRES=postgresql://USER@HOST/DB`` set, on that server instead
    (its role needs CREATEDB): the session's databases are all named
    ``reconciler_test_<id>…`` and are dropped at the end; nothing else there is touched.
    """
    import psycopg

    existing = os.environ.get(EXISTING_POSTGRES)
    with contextlib.ExitStack() as stack:
        server = existing or stack.enter_context(throwaway_server())
        prefix = f"reconciler_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{prefix}"')
        try:
            yield with_database(server, prefix)
        finally:
            if existing:  # a throwaway server goes with everything on it
                drop_databases(existing, prefix=prefix)


def drop_databases(server: str, *, prefix: str) -> None:
    """Drop every database on ``server`` whose name starts with ``prefix``."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        pattern = prefix.replace("_", r"\_") + "%"
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)
        ).fetchall()
        for (name,) in rows:
            # FORCE: a connection a failed test left open must not keep it alive.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def new_postgres_database(postgres_url: str) -> Callable[[], str]:
    """Make a fresh, empty database on the session's server; returns its URL."""
    import psycopg

    session_database = urlsplit(postgres_url).path.lstrip("/")

    def make() -> str:
        name = f"{session_database}_{uuid.uuid4().hex}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return with_database(postgres_url, name)

    return make


@pytest.fixture
def postgres_state_location(postgres_url: str) -> Callable[..., str]:
    """Make a PostgreSQL state location: ``make(name=None, *, url=postgres_url)``.

    Without a name, a fresh unique ``state=`` name (an empty state).
    """

    def make(name: str | None = None, *, url: str = postgres_url) -> str:
        return with_query(url, state=name or f"test-{uuid.uuid4().hex}")

    return make


@pytest.fixture(params=STATE_BACKENDS)
def state_backend(request: pytest.FixtureRequest) -> str:
    """The name of the state backend under test (parametrises the test)."""
    backend: str = request.param
    return backend


@pytest.fixture
def new_state_location(
    state_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], str]:
    """Make a location for a fresh, empty state of the backend under test.

    SQLite: a new ``.reconciler/state.db`` under its own directory. PostgreSQL: a
    new ``state=`` name in the session database.
    """
    if state_backend == "postgres":
        make_postgres: Callable[[], str] = request.getfixturevalue("postgres_state_location")
        return make_postgres

    def make_sqlite() -> str:
        directory = Path(tempfile.mkdtemp(prefix="state-", dir=tmp_path))
        return str(directory / ".reconciler" / "state.db")

    return make_sqlite


@pytest.fixture
def state_location(new_state_location: Callable[[], str]) -> str:
    """A location for a fresh, empty state of the backend under test."""
    return new_state_location()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """``reconciler emulator`` as a subprocess, stopped after the test."""
    emu = EmulatorProcess(cwd=tmp_path)
    yield emu
    emu.stop()


@pytest.fixture
def env(tmp_path: Path, emulator: EmulatorProcess) -> dict[str, str]:
    """The CLI's environment: emulator endpoint and credentials, a SQLite state in tmp."""
    return cli_env(tmp_path, emulator)


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[EmulatorFactory]:
    """Start emulators with given flags; all are stopped after the test."""
    started: list[EmulatorProcess] = []

    def make(*args: str) -> EmulatorProcess:
        emulator = EmulatorProcess(*args, cwd=tmp_path)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[str]]]:
    """Reconciler processes a test started; any still alive afterwards is killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        end(proc)


@pytest.fixture
def open_at() -> Iterator[Callable[[str], StateStore]]:
    """Open stores at a location; all are closed after the test."""
    opened: list[StateStore] = []

    def open_(location: str) -> StateStore:
        store = open_store(location)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(state_location: str, open_at: Callable[[str], StateStore]) -> StateStore:
    return open_at(state_location)
