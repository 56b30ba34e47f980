"""``show PLANFILE``: a saved plan, read and checked — no state, no credentials,
no network."""

from __future__ import annotations

from reconciler.domain import Plan
from reconciler.operations.inputs import read_saved_plan


def show(path: str) -> Plan:
    """The plan ``plan --out`` saved at ``path``; ``PlanFileError`` if it is not one."""
    return read_saved_plan(path)
