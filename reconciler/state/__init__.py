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
    DEFAULT_LOCATION,
    STATE_ENV,
    is_postgres_location,
    open_store,
)
from reconciler.state.urls import redact_location

__all__ = [
    "DEFAULT_LOCATION",
    "STATE_ENV",
    "StateLocker",
    "StateReader",
    "StateStore",
    "StateWriter",
    "current_holder",
    "is_postgres_location",
    "open_store",
    "redact_location",
]
