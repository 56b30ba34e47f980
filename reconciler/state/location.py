"""Choosing a store from a location string.

``open_store`` maps a location to a backend: ``postgresql://`` / ``postgres://``
URLs to the PostgreSQL store (psycopg imported only then), anything else to a
SQLite file. Opening is cheap and touches nothing; the stores connect and create
on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.errors import StoreUnavailable
from reconciler.state.interface import StateStore
from reconciler.state.urls import redact_location

#: Where state lives when neither ``--state`` nor ``RECONCILER_STATE`` says.
DEFAULT_LOCATION = ".reconciler/state.db"
#: The environment variable naming the state location.
STATE_ENV = "RECONCILER_STATE"

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_location(location: str) -> bool:
    return location.startswith(_POSTGRES_SCHEMES)


def open_store(
    location: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> StateStore:
    """The store at ``location``, else ``$RECONCILER_STATE``, else ``.reconciler/state.db``.

    Relative file paths are taken from ``cwd`` (default: the working directory);
    ``clock`` times lock waits and lock holders.
    Raises StoreUnavailable for a location that cannot name a store.
    """
    env = os.environ if environ is None else environ
    chosen = location if location is not None else (env.get(STATE_ENV) or DEFAULT_LOCATION)
    if not chosen.strip():
        raise StoreUnavailable("the state location is empty")
    if is_postgres_location(chosen):
        try:
            from reconciler.state.postgres import PostgresStore
        except ImportError as exc:  # psycopg is the optional "postgres" extra
            raise StoreUnavailable(
                f"state {redact_location(chosen)} needs psycopg ({exc}): "
                "pip install 'trtc-ingest-reconciler[postgres]'"
            ) from None
        return PostgresStore(chosen, clock=clock)
    from reconciler.state.sqlite import SqliteStore

    base = Path.cwd() if cwd is None else cwd
    return SqliteStore(base / Path(chosen).expanduser(), display=chosen, clock=clock)
