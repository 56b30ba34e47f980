"""The engine: carries out a plan's changes against TRTC, durably, at the quota.

``apply_plan`` (forgets in state, stops through the pool, commit before report)
and ``refresh`` (``DescribeStreamIngest`` for ``plan --refresh``) share one worker
pool (``pool``): a global rate limiter, per-worker SDK clients, jittered retries,
a fatal halt and a bounded drain. Everything waits through the halt's clock.
"""

from reconciler.engine.apply import ApplyObserver, ApplyReport, apply_plan
from reconciler.engine.pool import EngineSettings, Progress, ProgressObserver, TaskApi
from reconciler.engine.refresh import RefreshReport, refresh

__all__ = [
    "ApplyObserver",
    "ApplyReport",
    "EngineSettings",
    "Progress",
    "ProgressObserver",
    "RefreshReport",
    "TaskApi",
    "apply_plan",
    "refresh",
]
