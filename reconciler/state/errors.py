"""The state store's exception tree, in one place.

    StateError                 base; ``str(exc)`` is a one-line message for the user
    ├── LockBusy               another writer holds the lock (``.holder`` names it)
    ├── StateConflict          ``push`` refused: other lineage or older serial
    └── StoreUnavailable       cannot open / connect / unknown schema version

Messages name the store by its redacted location and never carry a password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.state.interface import LockHolder


class StateError(Exception):
    """Anything that went wrong with the state store; the message is user-facing."""


class StoreUnavailable(StateError):
    """The store cannot be opened, reached, or read at its schema version."""


class StateConflict(StateError):
    """A ``push`` was refused because it would overwrite a different or newer state."""


class LockBusy(StateError):
    """Another writer holds the state lock.

    ``holder`` is who holds it, when the store could tell; ``waited`` how many
    seconds this process waited for it (0 when it failed at once).
    """

    holder: LockHolder | None
    waited: float

    def __init__(
        self,
        location: str,
        holder: LockHolder | None,
        *,
        waited: float = 0.0,
        detail: str | None = None,
    ) -> None:
        self.location = location
        self.holder = holder
        self.waited = waited
        who = holder.describe() if holder is not None else (detail or "another process")
        still = f" after waiting {waited:g}s" if waited > 0 else ""
        hint = "retry later, or wait for it with --lock-timeout SECONDS"
        super().__init__(f"state {location} is locked{still} by {who}; {hint}")
