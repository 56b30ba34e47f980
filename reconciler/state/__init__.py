"""Where recorded state lives: the store protocols, their errors, and ``open_store``.

Backends: a local SQLite file (default ``.reconciler/state.db``) and PostgreSQL
(``postgresql://…?state=NAME``, psycopg imported only when used). Every backend
passes the same contract tests. This package imports only ``reconciler.domain``.
"""

from reconciler.state.errors import LockBusy, StateConflict, StateError, StoreUnavailable
from reconciler.state.interface import (
    LockHolder,
    StateLocker,
    StateReader,
    StateStore,
    StateWriter,
)
from reconciler.state.location import (
    DEFAULT_LOCATION,
    STATE_ENV,
    is_postgres_location,
    open_store,
    redact_location,
)
from reconciler.state.sqlite import SqliteStore

__all__ = [
    "DEFAULT_LOCATION",
    "STATE_ENV",
    "LockBusy",
    "LockHolder",
    "SqliteStore",
    "StateConflict",
    "StateError",
    "StateLocker",
    "StateReader",
    "StateStore",
    "StateWriter",
    "StoreUnavailable",
    "is_postgres_location",
    "open_store",
    "redact_location",
]
