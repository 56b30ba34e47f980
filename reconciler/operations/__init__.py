"""Operations: one unit of work per command, run against injected ports.

Each takes its typed arguments and ``Ports`` (store, cloud, prompt, halt and
clock), runs the whole pipeline of its command down the layers — manifest
loading, the pure planner, the state store, the engine — and returns a value for
a view to render. Failures are raised as ``ReconcilerError``. No argument parsing
and no rendering happen here.

- ``inputs``: manifests, targets, saved plans and state documents, checked;
- ``reconcile``: apply, and each ``run`` cycle;
- ``planning``: plan (with refresh, saved plans);
- ``state``: the state commands;
- ``show``: a saved plan, read and checked;
- ``about``: the versions of the tool and what it runs on.
"""

from reconciler.operations.about import versions
from reconciler.operations.inputs import DEFAULT_PATHS, validate
from reconciler.operations.planning import PlanArgs, plan
from reconciler.operations.ports import CloudConnector, NoPrompt, Ports, Prompt, TrtcConnector
from reconciler.operations.reconcile import CONFIRM_QUESTION, ApplyArgs, ReconcileUI, reconcile
from reconciler.operations.show import show

__all__ = [
    "CONFIRM_QUESTION",
    "DEFAULT_PATHS",
    "ApplyArgs",
    "CloudConnector",
    "NoPrompt",
    "PlanArgs",
    "Ports",
    "Prompt",
    "ReconcileUI",
    "TrtcConnector",
    "plan",
    "reconcile",
    "show",
    "validate",
    "versions",
]
