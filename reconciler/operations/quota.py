"""``quota``: who holds what of the shared API quota now, read from its database."""

from __future__ import annotations

from reconciler.operations.ports import Ports
from reconciler.quota.report import GroupReport


def holders(ports: Ports) -> list[GroupReport]:
    """Every group with runners in it (or only ``--quota-group``'s), and each runner's
    share and heartbeat. Raises ``ReconcilerError`` (no shared quota, or its database
    cannot be reached)."""
    return ports.quota.holders(None)
