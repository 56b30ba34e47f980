"""The ports an operation runs against, injected by the command line (or a test).

``Ports`` bundles them: the state store (opened on demand, closed by the
operation), the cloud (credentials resolved on first need), the confirmation
prompt, and the halt, which carries the clock every wait goes through. An
operation touches the outside world only through these.
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


class CloudConnector(Protocol):
    """Opens the way to TRTC: credentials resolved once, a client factory per worker."""

    def connect(self) -> Callable[[], TaskApi]:
        """A factory of per-worker API clients; ``CloudSetupError`` if it cannot be had."""
        ...


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

    def connect(self) -> Callable[[], TaskApi]:
        source = self.source()
        load_sdk()
        settings = ClientSettings(
            credential=source.credential,
            endpoint=self.endpoint,
            request_timeout=self.request_timeout,
            origin=source.origin,
        )
        return lambda: TrtcApi(settings)


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
