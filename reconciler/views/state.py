"""The ``state`` commands: addresses one a line (or one JSON document), records
and whole states as JSON, and what ``rm`` / ``push`` changed."""

from __future__ import annotations

import json

from reconciler.domain import FORMAT_VERSION, Record, StateSnapshot
from reconciler.results import StateChange
from reconciler.views.base import JsonLines, JsonView, View


class StateHuman(View):
    def listed(self, snapshot: StateSnapshot) -> None:
        if snapshot.records:
            self.print("\n".join(sorted(snapshot.records)))

    def shown(self, record: Record) -> None:
        self.print(json.dumps(record.to_json(), indent=2))

    def pulled(self, snapshot: StateSnapshot) -> None:
        self.print(json.dumps(snapshot.to_json(), indent=2))

    def removed(self, change: StateChange) -> None:
        for address in change.addresses:
            self.print(f"Removed {address}")
        self.print(f"State serial is now {change.serial}.")

    def pushed(self, change: StateChange) -> None:
        self.print(
            f"Pushed {len(change.addresses)} records to {change.location} "
            f"(lineage {change.lineage}, serial {change.serial})."
        )


class StateJson(StateHuman, JsonView):
    """``state list --json``: one document with the state's identity and addresses."""

    def listed(self, snapshot: StateSnapshot) -> None:
        JsonLines(self.out).emit(
            {
                "format_version": FORMAT_VERSION,
                "lineage": snapshot.lineage,
                "serial": snapshot.serial,
                "addresses": sorted(snapshot.records),
            }
        )
