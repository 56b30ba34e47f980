"""Where recorded state lives: the store protocols and ``open_store``.

Backends: a local SQLite file (default ``.reconciler/state.db``) and PostgreSQL
(``postgresql://…?state=NAME``, psycopg imported only when used). Every backend
passes the same contract tests. This package imports only the bottom layer
(``reconciler.domain``, ``errors``, ``clock``). Its errors are the ``StateError``
branch of ``reconciler.errors``.
"""

from reconciler.state.interface import (
    StateLocker,
    StateReader,
    StateStore,
    StateWriter,
    current_holder,
)
from reconciler.state.location import (
    Location,
    LocationError,
    PostgresLocation,
    SqliteLocation,
    parse_location,
    redact_location,
)
from reconciler.state.opening import DEFAULT_LOCATION, STATE_ENV, open_store

__all__ = [
    "DEFAULT_LOCATION",
    "STATE_ENV",
    "Location",
    "LocationError",
    "PostgresLocation",
    "SqliteLocation",
    "StateLocker",
    "StateReader",
    "StateStore",
    "StateWriter",
    "current_holder",
    "open_store",
    "parse_location",
    "redact_location",
]
