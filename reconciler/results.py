"""What operations return and views render: plain values, no behaviour.

They sit below the operations so that views can render them without importing
any operation.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.domain import Plan
from reconciler.engine import ApplyReport
from reconciler.instant import Instant
from reconciler.planner import StopBudget
from reconciler.trtc import describe_fatal


class ApplyStatus(enum.Enum):
    NO_CHANGES = "no_changes"
    DECLINED = "declined"
    INTERRUPTED = "interrupted"  # halted before or during the apply
    APPLIED = "applied"  # ran to its end; ``report`` says how each task went


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of ``apply`` or one ``run`` cycle."""

    status: ApplyStatus
    plan: Plan
    report: ApplyReport
    run_id: str

    @property
    def ok(self) -> bool:
        """Nothing failed: every change converged (or there was nothing to do)."""
        return self.report.fatal is None and not self.report.failed

    @property
    def fatal_message(self) -> str | None:
        """What stopped the run (a credential problem, an unreachable endpoint), in
        words; None if nothing did."""
        fatal = self.report.fatal
        return describe_fatal(fatal) if fatal is not None else None


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    saved_to: str | None  # where ``--out`` saved it
    budget: StopBudget | None = None  # its stops against ``--max-stops``, when given


@dataclass(frozen=True)
class StateChange:
    """What a ``state rm`` / ``state push`` did."""

    location: str  # the store, password redacted
    addresses: tuple[str, ...]
    lineage: str | None
    serial: int


@dataclass(frozen=True)
class CycleResult:
    """How one ``run`` cycle went: ``ok`` when it ran to its end with nothing failed;
    a cycle a signal cut short is ``interrupted`` (and not ``ok``)."""

    ok: bool
    counts: Mapping[str, int]
    planned: int
    finished_at: float  # wall clock, seconds since the epoch
    duration: float
    error: str | None = None
    interrupted: bool = False
    next_stop: Instant | None = None  # the earliest stopAt still ahead, as last planned


@dataclass(frozen=True)
class Versions:
    """What ``version`` reports; None for what is not installed."""

    tool: str
    sdk: str | None
    sdk_common: str | None
    python: str
    pyyaml: str | None
    libyaml: str | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "reconciler": self.tool,
            "tencentcloud-sdk-python-trtc": self.sdk,
            "tencentcloud-sdk-python-common": self.sdk_common,
            "python": self.python,
            "pyyaml": self.pyyaml,
            "libyaml": self.libyaml,
        }
