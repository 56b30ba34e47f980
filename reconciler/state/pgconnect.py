"""Connecting to the state's PostgreSQL server, every bound set: the one place that
says how (``connect_options`` / ``connect``), for the state store and any other
part of the reconciler that talks to the same server.

- ``connect_timeout`` (10 s) on connecting;
- TCP keepalives and ``tcp_user_timeout``, so the kernel notices a dead peer or a
  network black hole within about half a minute instead of never;
- ``statement_timeout`` and ``lock_timeout`` on the server, and
  ``idle_in_transaction_session_timeout`` so a stalled client never keeps a row
  locked.

Parameters the user put in the URL win over these defaults. A server that stops
answering altogether (paused) defeats all of them; the state store's watchdog
(``reconciler.state.guard``) covers that.
"""

from __future__ import annotations

from typing import Any

import psycopg

from reconciler.state.location import PostgresLocation

Connection = psycopg.Connection[tuple[Any, ...]]

#: Bounds on every connection (seconds).
CONNECT_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_SECONDS = 60
LOCK_TIMEOUT_SECONDS = 15
IDLE_IN_TRANSACTION_SECONDS = 60
KEEPALIVE_IDLE_SECONDS = 10
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_SECONDS = 30
_APPLICATION_NAME = "trtc-ingest-reconciler"


def connect_options(
    location: PostgresLocation, *, application_name: str | None = None
) -> dict[str, Any]:
    """The keyword arguments for ``psycopg.connect`` to ``location``: its libpq keywords,
    plus the connect timeout and TCP keepalives unless the URL sets them."""
    options: dict[str, Any] = dict(location.params)
    defaults = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
        "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
        "keepalives_count": KEEPALIVE_COUNT,
    }
    if psycopg.pq.version() >= 120000:  # libpq 12 knows tcp_user_timeout
        defaults["tcp_user_timeout"] = TCP_USER_TIMEOUT_SECONDS * 1000
    for key, value in defaults.items():
        options.setdefault(key, str(value))
    if application_name is not None:
        options["application_name"] = application_name
    else:
        options.setdefault("fallback_application_name", _APPLICATION_NAME)
    return options


#: Server-side bounds for a session, set once on connecting (milliseconds).
SESSION_TIMEOUTS = {
    "statement_timeout": STATEMENT_TIMEOUT_SECONDS * 1000,
    "lock_timeout": LOCK_TIMEOUT_SECONDS * 1000,
    "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_SECONDS * 1000,
}
_SET_TIMEOUTS = "SELECT " + ", ".join(
    f"set_config('{name}', %s, false)" for name in SESSION_TIMEOUTS
)


def connect(
    location: PostgresLocation, *, autocommit: bool, application_name: str | None = None
) -> Connection:
    """A connection to ``location`` with every bound of the module docstring set
    (the client-side watchdog aside); psycopg errors are the caller's to handle."""
    conn = psycopg.connect(
        autocommit=True, **connect_options(location, application_name=application_name)
    )
    try:
        conn.execute(_SET_TIMEOUTS, [str(value) for value in SESSION_TIMEOUTS.values()])
        conn.autocommit = autocommit
    except BaseException:
        conn.close()
        raise
    return conn
