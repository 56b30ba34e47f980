"""``plan --refresh``: ask ``DescribeStreamIngest`` about each task to stop (now or
at its stopAt), through the same rate-limited, retried worker pool as apply. Reads
only; records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from reconciler.clock import Halt
from reconciler.domain import Action, CallError, Change, LiveStatus
from reconciler.engine.pool import (
    Done,
    EngineSettings,
    ProgressMeter,
    ProgressObserver,
    TaskApi,
    run_pool,
)
from reconciler.ratelimit import LOCAL_QUOTA, Quota

log = structlog.get_logger("reconciler.engine")

#: The API whose quota refresh's calls draw on (each API has a quota of its own).
DESCRIBE_ACTION = "DescribeStreamIngest"


@dataclass(frozen=True)
class RefreshReport:
    live: dict[str, LiveStatus]
    errors: dict[str, CallError]
    fatal: CallError | None
    interrupted: bool


def refresh(
    changes: Iterable[Change],
    *,
    api_factory: Callable[[], TaskApi],
    halt: Halt,
    settings: EngineSettings | None = None,
    observer: ProgressObserver | None = None,
    quota: Quota = LOCAL_QUOTA,
) -> RefreshReport:
    """Ask DescribeStreamIngest for each ``stop`` and ``wait`` change (rate-limited
    like apply, its slots drawn from ``quota``)."""
    settings = settings or EngineSettings()
    stops = [c for c in changes if c.action in (Action.STOP, Action.WAIT)]
    live: dict[str, LiveStatus] = {}
    errors: dict[str, CallError] = {}
    meter = ProgressMeter(len(stops), halt)

    def collect(done: Done[LiveStatus]) -> None:
        meter.count(failed=done.error is not None)
        if done.value is not None:
            live[done.change.address] = done.value
        elif done.error is not None:
            errors[done.change.address] = done.error
            log.warning(
                "refresh failed",
                address=done.change.address,
                code=done.error.code,
                error=done.error.message,
            )

    fatal: CallError | None = None
    if stops:
        fatal = run_pool(
            stops,
            _call_describe,
            collect,
            api_factory=api_factory,
            settings=settings,
            halt=halt,
            meter=meter,
            observer=observer,
            action=DESCRIBE_ACTION,
            quota=quota,
        )
    return RefreshReport(
        live=live,
        errors=errors,
        fatal=fatal,
        interrupted=halt.is_set() and fatal is None,
    )


def _call_describe(api: TaskApi, change: Change) -> LiveStatus:
    return api.describe(sdk_app_id=change.sdk_app_id, task_id=change.task_id, region=change.region)
