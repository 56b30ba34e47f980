"""Opening a store: ``open_store`` picks the location (``--state``, else
``$RECONCILER_STATE``, else ``.reconciler/state.db``), parses it with the one
location parser, and builds its backend (psycopg is imported only for PostgreSQL).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.clock import SYSTEM_CLOCK, Halt
from reconciler.errors import StoreUnavailable
from reconciler.state.interface import StateStore
from reconciler.state.location import PostgresLocation, parse_location

#: Where state lives when neither ``--state`` nor ``RECONCILER_STATE`` says.
DEFAULT_LOCATION = ".reconciler/state.db"
#: The environment variable naming the state location.
STATE_ENV = "RECONCILER_STATE"


def open_store(
    location: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    halt: Halt | None = None,
) -> StateStore:
    """The store at ``location``, else ``$RECONCILER_STATE``, else ``.reconciler/state.db``.

    Relative file paths are taken from ``cwd`` (default: the working directory).
    ``halt`` (with its clock) times lock waits and lock holders, and cuts short a
    database call that does not answer. Opening touches nothing: the stores connect
    and create on first use. Raises StoreUnavailable for a location that cannot
    name a store.
    """
    env = os.environ if environ is None else environ
    chosen = location if location is not None else (env.get(STATE_ENV) or DEFAULT_LOCATION)
    parsed = parse_location(chosen)
    halt = halt or Halt(SYSTEM_CLOCK)
    if isinstance(parsed, PostgresLocation):
        try:
            from reconciler.state.postgres import PostgresStore
        except ImportError as exc:  # psycopg is the optional "postgres" extra
            raise StoreUnavailable(
                f"state {parsed.display} needs psycopg ({exc}): "
                "pip install 'trtc-ingest-reconciler[postgres]'"
            ) from None
        return PostgresStore(parsed, halt=halt)
    from reconciler.state.sqlite import SqliteStore

    base = Path.cwd() if cwd is None else cwd
    return SqliteStore(base / Path(parsed.path).expanduser(), display=parsed.path, halt=halt)
