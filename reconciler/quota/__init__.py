"""The account's API quota, shared by every runner of a quota group through
PostgreSQL.

A runner joins its group (one per account and API) when a pool run starts and
leaves when it ends; meanwhile a heartbeat thread keeps its membership and its
knowledge of the group's schedule fresh (``member``), and the engine's limiter
sends only in the slots the schedule deals it (``schedule``), through the board in
the database (``postgres``). The engine sees only ``reconciler.ratelimit.Quota``:
it never imports this package or psycopg.

``default_group`` names a group after the account without revealing the
credential: ``account-`` and the first 12 hex digits of a keyed hash of what
identifies the account — the account of a role (its ARN's ``uin/…``), else the
SecretId.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import structlog

from reconciler.clock import Clock
from reconciler.errors import QuotaUnavailable, UsageError
from reconciler.quota.member import (
    GRACE,
    Board,
    BoardView,
    Identity,
    Membership,
    SharedLimiter,
)
from reconciler.quota.report import GroupReport, MemberReport
from reconciler.quota.schedule import HEARTBEAT, LEASE
from reconciler.ratelimit import Limiter, Quota, RateSettings

__all__ = [
    "GROUP_PATTERN",
    "Board",
    "GroupReport",
    "MemberReport",
    "SharedQuota",
    "SharedQuotaConnector",
    "check_group",
    "default_group",
]

log = structlog.get_logger("reconciler.quota")

GROUP_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def check_group(name: str) -> str:
    """``name`` if it can name a quota group; ``UsageError`` otherwise."""
    if not GROUP_PATTERN.fullmatch(name):
        shown = repr(name) if len(name) <= 140 else f"{name[:40]!r}… ({len(name):,} characters)"
        raise UsageError(f"quota group {shown} must be 1 to 128 letters, digits, '_', '.' or '-'")
    return name


#: Keys the group names' hash, so a name cannot be looked up in a table of hashes.
_GROUP_KEY = b"trtc-ingest-reconciler quota group"


def default_group(identity: str) -> str:
    """The group of the account ``identity`` (a SecretId or a role ARN) acts for."""
    account = re.search(r"uin/(\d+)", identity)
    key = f"uin:{account[1]}" if account is not None else f"id:{identity}"
    return "account-" + hmac.new(_GROUP_KEY, key.encode(), hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class SharedQuota:
    """A ``Quota`` shared with the other runners of ``group`` on one board."""

    open_board: Callable[[], Board]
    group: str
    operation: str = "apply"
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @contextlib.contextmanager
    def limiter(self, settings: RateSettings, *, clock: Clock, action: str) -> Iterator[Limiter]:
        identity = Identity(
            member=uuid.uuid4().hex[:12],
            group=self.group,
            action=action,
            host=self.host,
            pid=self.pid,
            operation=self.operation,
            rate=settings.rate,
            interval=(settings.window + settings.shared_guard) / settings.rate,
        )
        try:
            board = self.open_board()
        except QuotaUnavailable as exc:
            board = _Unreachable(exc)
        membership = Membership(board, identity, clock=clock, cold_guard=settings.cold_guard)
        limiter = SharedLimiter(membership, settings, clock=clock)
        try:
            membership.beat()
        except QuotaUnavailable as exc:
            board.close()
            limiter.go_alone(str(exc))
            yield limiter
            return
        log.info("shared quota joined", group=self.group, action=action, member=identity.member)
        heartbeat = _Heartbeat(membership, limiter, board, clock)
        heartbeat.start()
        try:
            yield limiter
        finally:
            heartbeat.stop()


class _Unreachable:
    """The board of a quota that cannot even be opened: every heartbeat fails."""

    def __init__(self, error: QuotaUnavailable) -> None:
        self._error = error

    def beat(self, me: Identity, *, leaving: bool = False) -> BoardView:
        raise self._error

    def now(self) -> float:
        raise self._error

    def close(self) -> None:
        pass


class _Heartbeat:
    """The thread that keeps one membership fresh, and leaves the group at the end."""

    def __init__(
        self, membership: Membership, limiter: SharedLimiter, board: Board, clock: Clock
    ) -> None:
        self._membership = membership
        self._limiter = limiter
        self._board = board
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler-quota", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        # A heartbeat stuck on a vanished server is abandoned (the thread is a daemon).
        self._thread.join(timeout=LEASE + GRACE)

    def _run(self) -> None:
        try:
            while not self._clock.wait(self._stop, HEARTBEAT) and not self._limiter.alone:
                with contextlib.suppress(QuotaUnavailable):
                    self._membership.beat()
            if not self._limiter.alone:
                with contextlib.suppress(QuotaUnavailable):
                    self._membership.beat(leaving=True)
        finally:
            self._board.close()


@dataclass(frozen=True)
class SharedQuotaConnector:
    """The shared quota at ``location`` for an account: its ``group``, or the account's
    default group."""

    location: str
    group: str | None = None
    operation: str = "apply"

    def for_account(self, account: str) -> Quota:
        return SharedQuota(
            self._open_board,
            group=self.group or default_group(account),
            operation=self.operation,
        )

    def holders(self, group: str | None) -> list[GroupReport]:
        with _needs_psycopg():
            from reconciler.quota.postgres import read_groups
        return read_groups(self.location, group=group or self.group)

    def _open_board(self) -> Board:
        with _needs_psycopg():
            from reconciler.quota.postgres import PostgresBoard
        return PostgresBoard(self.location)


@contextlib.contextmanager
def _needs_psycopg() -> Iterator[None]:
    """Imports of ``reconciler.quota.postgres`` (psycopg is the ``postgres`` extra)."""
    try:
        yield
    except ImportError as exc:
        raise QuotaUnavailable(
            f"the shared quota needs psycopg ({exc}): "
            "pip install 'trtc-ingest-reconciler[postgres]'"
        ) from None
