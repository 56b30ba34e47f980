"""Credentials that renew themselves before they lapse, shared by every worker.

``RenewingCredential`` speaks the official SDK's credential interface
(``get_credential_info() -> (secret_id, secret_key, token)``), so each worker's SDK
client signs with it directly; one object serves every worker. It never fetches
while the SDK signs a request: the adapter calls ``renew_if_due()`` *before* each
API call, outside the SDK, so a renewal never happens mid-call, and a failed
renewal surfaces as a classified ``CloudCallError`` instead of an exception the SDK
would wrap. One lock guards the credentials, so a worker reads a consistent triple;
when a renewal is due exactly one worker fetches, outside the lock, while the
others go on with the current credentials (still valid: the margin sees to it) or,
when there are none, wait for the fetch.

Renewal is due ``margin`` seconds before expiry: five minutes, or half the
credentials' lifetime when they live less than ten (an emulator issuing
two-second credentials renews every second). A renewal that fails while the
current credentials are still valid is logged and tried again a little later;
once they have expired, the failure is the caller's. Time comes from an injected
clock; nothing here logs or returns a secret key or token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from reconciler.clock import Clock, rfc3339
from reconciler.domain import CallError, ErrorClass
from reconciler.errors import CloudCallError, CloudSetupError

log = structlog.get_logger("reconciler.credentials")

#: Renew this long before expiry at most (the SDK's CVM role provider uses the same).
RENEW_BEFORE_SECONDS = 300.0
#: After a failed renewal with valid credentials left, wait at most this before the next try.
RETRY_AFTER_SECONDS = 10.0


@dataclass(frozen=True)
class Issued:
    """One set of credentials: long-term (``expires_at`` None) or temporary."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # wall-clock seconds

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown (for log redaction)."""
        return tuple(value for value in (self.secret_key, self.token) if value)


def renewal_margin(lifetime: float) -> float:
    """How long before expiry to renew credentials that live ``lifetime`` seconds."""
    return min(RENEW_BEFORE_SECONDS, max(lifetime, 0.0) / 2)


class RenewingCredential:
    """The SDK's credential interface over ``fetch``, renewed before each expiry.

    ``fetch`` returns fresh ``Issued`` credentials or raises ``CloudCallError``;
    ``describe`` names the source in log lines and messages; ``on_issue`` sees every
    set fetched (to register its secrets for redaction).
    """

    def __init__(
        self,
        fetch: Callable[[], Issued],
        *,
        describe: str,
        clock: Clock,
        on_issue: Callable[[Issued], None] | None = None,
    ) -> None:
        self._fetch = fetch
        self.describe = describe
        self._clock = clock
        self._on_issue = on_issue
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a fetch ended
        self._fetching = False
        self._current: Issued | None = None
        self._renew_at = 0.0
        self._retry_at = 0.0
        self.renewals = 0  # fetches after the first

    def get_credential_info(self) -> tuple[str, str, str | None]:
        """The SDK's call at signing time: the current credentials, no I/O."""
        with self._lock:
            current = self._current
        if current is None:  # only if the adapter's renew_if_due was skipped
            self.renew_if_due()
            with self._lock:
                current = self._current
            assert current is not None
        return current.secret_id, current.secret_key, current.token

    @property
    def current(self) -> Issued | None:
        """The credentials in use (None before the first fetch)."""
        with self._lock:
            return self._current

    def renew_if_due(self) -> None:
        """Fetch new credentials if none are held or expiry is near; raises the fetch's
        ``CloudCallError`` only when no valid credentials are left.

        One caller fetches, outside the lock (signing never waits for STS); the others
        go on with the current credentials while they are valid, and wait for the
        fetch only when there are none: a slow STS never holds up paced calls.
        """
        with self._changed:
            while True:
                now = self._clock.wall()
                current = self._current
                if current is not None and (now < self._renew_at or now < self._retry_at):
                    return
                if not self._fetching:
                    break
                if current is not None and not _expired(current, now):
                    return
                self._changed.wait()
            self._fetching = True
        issued: Issued | None = None
        try:
            issued = self._fetch()
        except (CloudCallError, CloudSetupError) as exc:
            if current is None and isinstance(exc, CloudSetupError):
                raise  # the first fetch: the chain reports it as it is
            failure = exc if isinstance(exc, CloudCallError) else _broken_source(exc)
            if current is None or _expired(current, self._clock.wall()):
                raise failure from None
            with self._changed:
                self._deferred(current, failure)
            return
        finally:
            with self._changed:
                self._fetching = False
                if issued is not None:
                    self._install(issued, now=self._clock.wall(), first=current is None)
                self._changed.notify_all()
        if self._on_issue is not None:
            self._on_issue(issued)

    def _deferred(self, current: Issued, exc: CloudCallError) -> None:
        now = self._clock.wall()
        remaining = (current.expires_at or now) - now
        self._retry_at = now + min(RETRY_AFTER_SECONDS, remaining / 4)
        log.warning(
            "credential renewal failed; the current credentials are still valid",
            source=self.describe,
            code=exc.error.code,
            expires=_when(current.expires_at),
        )

    def _install(self, issued: Issued, *, now: float, first: bool) -> None:
        self._current = issued
        self._retry_at = 0.0
        if issued.expires_at is None:
            self._renew_at = float("inf")
            return
        self._renew_at = issued.expires_at - renewal_margin(issued.expires_at - now)
        if first:
            log.debug("credentials issued", source=self.describe, expires=_when(issued.expires_at))
        else:
            self.renewals += 1
            log.info(
                "credentials renewed",
                source=self.describe,
                renewal=self.renewals,
                expires=_when(issued.expires_at),
            )


def _broken_source(exc: CloudSetupError) -> CloudCallError:
    """A source that broke mid-run (its token file gone, say): fatal once nothing valid
    is left."""
    return CloudCallError(CallError("CredentialSource", str(exc)), ErrorClass.FATAL)


def _expired(issued: Issued, now: float) -> bool:
    return issued.expires_at is not None and now >= issued.expires_at


def _when(expires_at: float | None) -> str | None:
    return rfc3339(expires_at) if expires_at is not None else None
