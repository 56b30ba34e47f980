"""The shape every state backend shares: naming, closing, and the writer lock's steps.

A backend subclasses ``StoreBase`` and fills in its driver's parts: how to drop
its connection, and the four steps of its lock (open a lock session, try to take
the lock, announce the holder, release). The order of those steps, the polling
with a timeout, cancelling on a halt and always closing the session live here
once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from reconciler.clock import Halt
from reconciler.domain import LockHolder, Outcome, Record
from reconciler.errors import LockBusy
from reconciler.state.interface import acquire_polling

Session = TypeVar("Session")

#: The record ``check_writable`` writes and rolls back: it touches every column.
WRITE_PROBE = Record(
    address="1/reconciler-write-probe",
    sdk_app_id=1,
    task_id="reconciler-write-probe",
    region="ap-singapore",
    outcome=Outcome.STOPPED,
    request_id=None,
    time="1970-01-01T00:00:00Z",
    source="reconciler",
)


class StoreBase(Generic[Session]):
    """Common behaviour of the stores; ``Session`` is the backend's lock handle."""

    #: Seconds between two attempts at a busy lock.
    lock_poll_interval = 0.1

    def __init__(self, display: str, *, halt: Halt) -> None:
        self.display = display  # the location for messages, password redacted
        self.halt = halt  # a signal's: waits end early, a stalled call is given up
        self.clock = halt.clock
        self._mutex = threading.RLock()  # one operation at a time on the connection

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display!r})"

    def __enter__(self) -> StoreBase[Session]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._mutex:
            self._disconnect()

    @contextlib.contextmanager
    def lock(
        self, holder: LockHolder, *, timeout: float = 0.0, halt: Halt | None = None
    ) -> Iterator[None]:
        """Hold the writer lock for the ``with`` block (see ``StateLocker``)."""
        session = self._open_lock_session(holder)
        try:
            acquire_polling(
                lambda: self._try_lock(session),
                timeout=timeout,
                busy=lambda waited: self._busy(session, waited),
                interval=self.lock_poll_interval,
                halt=halt or self.halt,
            )
            try:
                self._announce(session, holder)
                yield
            finally:
                self._release(session)
        finally:
            self._close_lock_session(session)

    # -- what a backend fills in ------------------------------------------------

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _open_lock_session(self, holder: LockHolder) -> Session:
        raise NotImplementedError

    def _try_lock(self, session: Session) -> bool:
        raise NotImplementedError

    def _busy(self, session: Session, waited: float) -> LockBusy:
        raise NotImplementedError

    def _announce(self, session: Session, holder: LockHolder) -> None:
        raise NotImplementedError

    def _release(self, session: Session) -> None:
        raise NotImplementedError

    def _close_lock_session(self, session: Session) -> None:
        raise NotImplementedError
