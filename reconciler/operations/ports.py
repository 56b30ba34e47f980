"""The ports an operation runs against, injected by the command line (or a test).

``Ports`` bundles them: the state store (opened on demand, closed by the
operation), the cloud (credentials resolved on first need), the API quota (alone,
or shared with the other runners of the account), the confirmation prompt, and the
halt, which carries the clock every wait goes through. An operation touches the
outside world only through these.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.clock import SYSTEM_CLOCK, Clock, Halt
from reconciler.credentials import CredentialOptions, CredentialSource, resolve
from reconciler.engine import TaskApi
from reconciler.errors import UsageError
from reconciler.quota.report import GroupReport
from reconciler.ratelimit import LOCAL_QUOTA, Quota
from reconciler.state import StateStore, current_holder
from reconciler.trtc import ClientSettings, Endpoint, TrtcApi, load_sdk


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
    #: Whose credentials these are (a SecretId or a role ARN, not a secret): runners
    #: of one account share a quota group by default, named from a hash of it.
    account: str


class CloudConnector(Protocol):
    """Opens the way to TRTC: credentials resolved once, a client factory per worker."""

    def connect(self) -> CloudLink:
        """The client factory and the account; ``CloudSetupError`` if they cannot be had."""
        ...


class QuotaPort(Protocol):
    """The API quota of an account, as runs of this process share it."""

    def for_account(self, account: str) -> Quota:
        """The quota runs for ``account`` (``CloudLink.account``) draw on."""
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
    """The production connector: the credential chain and the official SDK's clients.

    Credentials are resolved on the first ``connect`` and kept for the process: each
    ``run`` cycle reuses them (they renew themselves), so a role is assumed once,
    not once per cycle. ``on_secrets`` sees every secret value issued, renewals
    included, so that logs can redact them.
    """

    endpoint: Endpoint = field(default_factory=Endpoint)
    request_timeout: float = 10.0
    environ: Mapping[str, str] = field(default_factory=dict)
    credentials: CredentialOptions = field(default_factory=CredentialOptions)
    clock: Clock = SYSTEM_CLOCK
    on_secrets: Callable[[Iterable[str]], None] | None = None
    _resolved: list[CredentialSource] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def source(self) -> CredentialSource:
        """The resolved credentials (resolving them on first use)."""
        with self._lock:
            if not self._resolved:
                self._resolved.append(
                    resolve(
                        self.credentials,
                        environ=self.environ,
                        endpoint=self.endpoint,
                        request_timeout=self.request_timeout,
                        clock=self.clock,
                        on_secrets=self.on_secrets,
                    )
                )
            return self._resolved[0]

    def connect(self) -> CloudLink:
        source = self.source()
        load_sdk()
        settings = ClientSettings(
            credential=source.credential,
            endpoint=self.endpoint,
            request_timeout=self.request_timeout,
            origin=source.origin,
        )
        return CloudLink(lambda: TrtcApi(settings), source.identity)


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
