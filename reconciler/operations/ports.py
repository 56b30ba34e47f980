"""The ports an operation runs against, injected by the command line (or a test).

``Ports`` bundles them: the state store (opened on demand, closed by the
operation), the cloud (credentials resolved on first need), the API quota (alone,
or shared with the other runners of the account), the confirmation prompt, and the
halt, which carries the clock every wait goes through. An operation touches the
outside world only through these.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.clock import Halt
from reconciler.engine import TaskApi
from reconciler.errors import UsageError
from reconciler.quota.report import GroupReport
from reconciler.ratelimit import LOCAL_QUOTA, Quota
from reconciler.state import StateStore, current_holder
from reconciler.trtc import ClientSettings, CredentialSource, Endpoint, TrtcApi, resolve_credentials


class Prompt(Protocol):
    """Asks the person at the terminal; the CLI's reads stdin, a test's answers."""

    @property
    def interactive(self) -> bool:
        """Whether anyone can answer (stdin is a terminal)."""
        ...

    def ask(self, question: str) -> str | None:
        """Show ``question`` and read one line; None when nothing came (EOF, a halt)."""
        ...


@dataclass(frozen=True)
class CloudLink:
    """The way to TRTC, once credentials are resolved."""

    api_factory: Callable[[], TaskApi]  # one client per worker
    account: str  # a tag of the account, revealing nothing (its default quota group)


class CloudConnector(Protocol):
    """Opens the way to TRTC: credentials resolved once, a client factory per worker."""

    def connect(self) -> CloudLink:
        """The client factory and the account; ``CloudSetupError`` if they cannot be had."""
        ...


class QuotaPort(Protocol):
    """The API quota of an account, as runs of this process share it."""

    def for_account(self, account: str) -> Quota:
        """The quota runs for ``account`` (a tag from ``CloudLink``) draw on."""
        ...

    def holders(self, group: str | None) -> list[GroupReport]:
        """Who holds what now, in every group or in ``group``; ``ReconcilerError``."""
        ...


@dataclass(frozen=True)
class Alone:
    """No coordination: every run paces itself (and backs off when throttled)."""

    why: str = "no shared quota is configured"

    def for_account(self, account: str) -> Quota:
        return LOCAL_QUOTA

    def holders(self, group: str | None) -> list[GroupReport]:
        raise UsageError(
            f"{self.why}: pass --quota postgresql://… (or set RECONCILER_QUOTA), "
            "or keep the state on PostgreSQL"
        )


@dataclass(frozen=True)
class TrtcConnector:
    """The production connector: the official SDK's credential chain and clients."""

    endpoint: Endpoint = field(default_factory=Endpoint)
    request_timeout: float = 10.0
    environ: Mapping[str, str] = field(default_factory=dict)
    on_credentials: Callable[[CredentialSource], None] | None = None

    def connect(self) -> CloudLink:
        credentials = resolve_credentials(self.environ)
        if self.on_credentials is not None:
            self.on_credentials(credentials)
        settings = ClientSettings(
            credentials=credentials, endpoint=self.endpoint, request_timeout=self.request_timeout
        )
        return CloudLink(lambda: TrtcApi(settings), credentials.account_tag())


class NoPrompt:
    """No one to ask: every question goes unanswered."""

    interactive = False

    def ask(self, question: str) -> str | None:
        return None


@dataclass(frozen=True)
class Ports:
    """Everything an operation reaches outside itself."""

    open_store: Callable[[], StateStore]
    cloud: CloudConnector
    halt: Halt
    prompt: Prompt = field(default_factory=NoPrompt)
    quota: QuotaPort = field(default_factory=Alone)

    @contextlib.contextmanager
    def store(self) -> Iterator[StateStore]:
        """The state store, closed when the ``with`` block ends."""
        with contextlib.closing(self.open_store()) as store:
            yield store

    @contextlib.contextmanager
    def locked_store(
        self, operation: str, run_id: str, *, lock_timeout: float
    ) -> Iterator[StateStore]:
        """The state store with its writer lock held for the ``with`` block; waiting for
        the lock (up to ``lock_timeout``) ends early on a halt."""
        holder = current_holder(operation, run_id, clock=self.halt.clock)
        with self.store() as store, store.lock(holder, timeout=lock_timeout, halt=self.halt):
            yield store
