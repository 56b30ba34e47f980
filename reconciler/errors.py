"""Every error the reconciler raises for a user to read, as one small tree.

    ReconcilerError              a one-line, user-facing message; exit code 1
    ├── UsageError               flags that do not fit together, or a value no flag takes
    ├── Interrupted              a SIGINT / SIGTERM cut a step short that cannot finish
                                 gracefully (a read no one feeds, a database that does
                                 not answer); exit code 130 / 143, not 1
    ├── InputError               a file or argument the user gave is wrong
    │   ├── ManifestsInvalid     manifests with problems (``.problems`` lists each)
    │   ├── PlanFileError        a saved plan that cannot be read back
    │   │   └── StalePlan        the state changed since the plan was made, or its
    │   │                        manifests now schedule one of its stops later
    │   └── StateDocumentError   a pushed state document that cannot be read
    ├── TooManyStops             more stops than ``--max-stops``: the apply was refused
    │                            before any call
    ├── StateError               the state store failed
    │   ├── StoreUnavailable     cannot open, reach or read it at its schema
    │   ├── StateConflict        ``push`` refused: another lineage or an older serial
    │   └── LockBusy             another writer holds the lock (``.holder`` names it)
    ├── QuotaUnavailable         the shared-quota database cannot be reached or read
    ├── CloudSetupError          a bad endpoint, or no usable credentials
    ├── CloudFatalError          the cloud refused the credentials; the run stopped
    └── CloudCallError           one call failed, already classified (``.error_class``):
                                 the adapter raises it and the engine handles it, so it
                                 only reaches a user through the engine's report

The command line turns any ``ReconcilerError`` into its message (text or JSON) and
exit code 1 (130 / 143 for ``Interrupted``), in one place; nothing else is caught
there, so a bug still shows its traceback. ``problems`` carries the per-place
diagnostics of an input error (empty for the others), so every view can list them
however it renders.

Messages never hold a secret: the code that raises builds them from redacted
values, and where a library's exception text could hold one (a database URL with
its password) the raise uses ``from None`` and says so in a comment.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.domain import CallError, ErrorClass, LockHolder, Problem


class ReconcilerError(Exception):
    """The root: ``str(exc)`` is one line for the user."""

    #: Diagnostics by place (file, line, column), for errors about a user's file.
    problems: tuple[Problem, ...] = ()


class UsageError(ReconcilerError):
    """Flags or arguments that cannot work together."""


class Interrupted(ReconcilerError):
    """A signal cut short a step that had no graceful end; the exit code is the signal's."""


class InputError(ReconcilerError):
    """Something the user gave (a manifest, a plan file, a state document) is wrong."""

    def __init__(self, message: str, *, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class ManifestsInvalid(InputError):
    """Manifests with problems: nothing is planned, called or written."""

    def __init__(self, problems: Sequence[Problem], *, truncated: bool = False) -> None:
        count = len(problems)
        more = " (and more; only the first ones are shown)" if truncated else ""
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the manifests{more}; "
            "nothing was planned or changed",
            problems=problems,
        )
        self.truncated = truncated


class PlanFileError(InputError):
    """A saved plan that cannot be read back or used."""


class StalePlan(PlanFileError):
    """The state's lineage or serial changed since the plan was saved, or its
    manifests now schedule one of its stops for later."""


class StateDocumentError(InputError):
    """A state document (``state push``) that cannot be read."""


class TooManyStops(ReconcilerError):
    """An apply would stop more tasks than ``--max-stops`` allows; nothing was done."""


class StateError(ReconcilerError):
    """The state store failed; the message names the store, never its password."""


class StoreUnavailable(StateError):
    """The store cannot be opened, reached, or read at its schema version."""


class StateConflict(StateError):
    """A ``push`` was refused because it would overwrite a different or newer state."""


class LockBusy(StateError):
    """Another writer holds the state lock.

    ``holder`` is who holds it when the store could tell; ``waited`` how many
    seconds this process waited for it (0 when it failed at once).
    """

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
        hint = "retry later, or wait for it with --lock-timeout DURATION"
        super().__init__(f"state {location} is locked{still} by {who}; {hint}")


class QuotaUnavailable(ReconcilerError):
    """The shared-quota database cannot be reached or read (a run then goes on without
    coordination; ``reconciler quota`` fails with this message)."""


class CloudSetupError(ReconcilerError):
    """The way to the cloud is misconfigured: a bad endpoint, no usable credentials."""


class CloudFatalError(ReconcilerError):
    """The cloud refused the run's credentials; no more requests were sent."""


class CloudCallError(ReconcilerError):
    """One call that did not succeed, classified by the adapter for the engine."""

    def __init__(self, error: CallError, error_class: ErrorClass) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error
        self.error_class = error_class
