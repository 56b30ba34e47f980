"""The planner: desired tasks, recorded state and the time in, a ``Plan`` value out.

A pure module. It does no I/O — no clock, no network, no database, no files — and
imports neither the SDK nor a store: "now" is an argument, read by the caller. It
also owns the plan's JSON document (the one ``plan --json`` prints and ``plan
--out`` saves) as plain-dict conversions, and the blast-radius count that
``--max-stops`` judges.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from reconciler.domain import (
    FORMAT_VERSION,
    Action,
    Change,
    DesiredTask,
    LiveStatus,
    Plan,
    StateSnapshot,
    check_region,
    check_serial,
    parse_address,
)
from reconciler.errors import PlanFileError
from reconciler.instant import Instant, InvalidTime, due, parse_time


def make_plan(
    desired: Sequence[DesiredTask],
    state: StateSnapshot,
    *,
    now: Instant,
    targets: Collection[str] | None = None,
) -> Plan:
    """Diff ``desired`` against ``state`` at the time ``now``.

    - declared, not recorded → ``stop``; ``wait`` while its ``stopAt`` is after ``now``
    - recorded, not declared → ``forget``
    - declared and recorded → unchanged

    With ``targets``, only those addresses are considered; everything else is left
    out of the plan (neither changed nor counted as unchanged). Changes come out
    sorted (by sdkAppId, then TaskId) so that plans diff cleanly.
    """
    records = state.records
    wanted = None if targets is None else frozenset(targets)
    changes: list[Change] = []
    declared: set[str] = set()
    unchanged = 0
    stop, wait = Action.STOP, Action.WAIT
    for task in desired:
        address = task.address
        if wanted is not None and address not in wanted:
            continue
        declared.add(address)
        if address in records:
            unchanged += 1
        else:
            at = task.stop_at
            action = stop if due(at, now) else wait
            changes.append(
                Change(action, task.sdk_app_id, task.task_id, task.region, task.source, stop_at=at)
            )
    for address, record in records.items():
        if address in declared or (wanted is not None and address not in wanted):
            continue
        changes.append(
            Change(
                action=Action.FORGET,
                sdk_app_id=record.sdk_app_id,
                task_id=record.task_id,
                region=record.region,
                source=record.source,
            )
        )
    changes.sort(key=_change_order)
    return Plan(
        lineage=state.lineage,
        serial=state.serial,
        changes=tuple(changes),
        unchanged=unchanged,
        timestamp=now,
    )


def _change_order(change: Change) -> tuple[int, str]:
    return (change.sdk_app_id, change.task_id)


def with_live_status(plan: Plan, live: Mapping[str, LiveStatus]) -> Plan:
    """The same plan with each change annotated by what ``DescribeStreamIngest`` said."""
    changes = tuple(
        change
        if change.address not in live
        else dataclasses.replace(change, live=live[change.address])
        for change in plan.changes
    )
    return dataclasses.replace(plan, changes=changes)


def next_stop(plan: Plan, now: Instant) -> Instant | None:
    """The earliest ``stopAt`` of the plan still after ``now`` (its waits, and any stop
    that was not yet due when apply came to it), or None."""
    ahead = [c.stop_at for c in plan.changes if c.stop_at is not None and not due(c.stop_at, now)]
    return min(ahead, default=None)


def source_file(source: str) -> str:
    """The manifest file of a ``FILE:LINE`` source (the whole text if it has no line)."""
    path, sep, line = source.rpartition(":")
    return path if sep and line.isdigit() else source


@dataclass(frozen=True)
class StopBudget:
    """How many tasks a plan stops against ``--max-stops``, and which manifest files
    ask for the most of them (at most three, most first)."""

    limit: int
    stops: int
    top: tuple[tuple[str, int], ...]

    @property
    def exceeded(self) -> bool:
        return self.stops > self.limit

    def describe(self) -> str:
        """``57 tasks to stop, more than --max-stops 20; most from a.yaml (40), …``"""
        tasks = "1 task" if self.stops == 1 else f"{self.stops} tasks"
        text = f"{tasks} to stop, more than --max-stops {self.limit}"
        if self.top:
            text += "; most from " + ", ".join(f"{file} ({count})" for file, count in self.top)
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "stops": self.stops,
            "exceeded": self.exceeded,
            "manifests": [{"file": file, "stops": count} for file, count in self.top],
        }


def stop_budget(plan: Plan, limit: int) -> StopBudget:
    """Count ``plan``'s stops (not its waits) against ``limit``."""
    files = Counter(
        source_file(change.source) or "(no source)"
        for change in plan.changes
        if change.action is Action.STOP
    )
    top = sorted(files.items(), key=lambda item: (-item[1], item[0]))[:3]
    return StopBudget(limit=limit, stops=sum(files.values()), top=tuple(top))


def plan_summary(plan: Plan) -> dict[str, int]:
    return {
        "stop": plan.count(Action.STOP),
        "wait": plan.count(Action.WAIT),
        "forget": plan.count(Action.FORGET),
        "unchanged": plan.unchanged,
    }


def change_to_json(change: Change) -> dict[str, object]:
    doc: dict[str, object] = {
        "address": change.address,
        "action": change.action.value,
        "sdkAppId": change.sdk_app_id,
        "taskId": change.task_id,
        "region": change.region,
        "source": change.source,
    }
    if change.stop_at is not None:
        doc["stopAt"] = change.stop_at.text()
    if change.live is not None:
        doc["live"] = change.live.value
    return doc


def plan_to_json(plan: Plan, *, budget: StopBudget | None = None) -> dict[str, object]:
    """The plan document: the state it was made against, when and from which
    manifests, each change, the counts, and (with ``--max-stops``) the stop budget."""
    doc: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "state": {"lineage": plan.lineage, "serial": plan.serial},
    }
    if plan.timestamp is not None:
        doc["timestamp"] = plan.timestamp.text()
    if plan.manifests:
        doc["manifests"] = list(plan.manifests)
    doc["changes"] = [change_to_json(change) for change in plan.changes]
    doc["summary"] = plan_summary(plan)
    if budget is not None:
        doc["maxStops"] = budget.to_json()
    return doc


def plan_from_json(doc: object) -> Plan:
    """Read a saved plan document back; raises PlanFileError with a clear message."""
    try:
        return _plan_from_json(doc)
    except PlanFileError:
        raise
    except KeyError as exc:
        raise PlanFileError(f"not a plan document: it has no {exc} field") from None
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"not a plan document: {exc}") from None


def _plan_from_json(doc: object) -> Plan:
    if not isinstance(doc, dict):
        raise PlanFileError("not a plan document: expected a JSON object")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise PlanFileError(
            f"unsupported plan format_version {version!r} (this tool reads {FORMAT_VERSION})"
        )
    state = doc["state"]
    if not isinstance(state, dict) or not isinstance(doc["changes"], list):
        raise PlanFileError("not a plan document: state must be an object, changes a list")
    lineage = state["lineage"]
    serial = state["serial"]
    if lineage is not None and not isinstance(lineage, str):
        raise PlanFileError("not a plan document: state.lineage must be a string or null")
    serial = check_serial(serial)
    changes = tuple(_change_from_json(item) for item in doc["changes"])
    summary = doc.get("summary") or {}
    unchanged = summary.get("unchanged", 0) if isinstance(summary, dict) else 0
    manifests = doc.get("manifests", [])
    if not isinstance(manifests, list) or not all(isinstance(p, str) for p in manifests):
        raise PlanFileError("not a plan document: manifests must be a list of paths")
    timestamp = doc.get("timestamp")
    return Plan(
        lineage=lineage,
        serial=serial,
        changes=changes,
        unchanged=unchanged if isinstance(unchanged, int) else 0,
        timestamp=None if timestamp is None else _time(timestamp, "timestamp"),
        manifests=tuple(manifests),
    )


def _time(value: object, what: str) -> Instant:
    if not isinstance(value, str):
        raise PlanFileError(f"not a plan document: {what} must be an RFC 3339 string")
    try:
        return parse_time(value)
    except InvalidTime as exc:
        raise PlanFileError(f"not a plan document: {what} {value!r} {exc.reason}") from None


def _change_from_json(item: object) -> Change:
    """One saved change, checked by the rules manifests and pushed states share.

    A stop must name a region TRTC knows (it is called there); a forget only
    carries the region its record had, so any recorded region is accepted. A wait
    must say until when.
    """
    if not isinstance(item, dict):
        raise PlanFileError("not a plan document: each change must be an object")
    address = item["address"]
    if not isinstance(address, str):
        raise PlanFileError("not a plan document: change address must be a string")
    sdk_app_id, task_id = parse_address(address)
    if item.get("sdkAppId", sdk_app_id) != sdk_app_id or item.get("taskId", task_id) != task_id:
        raise PlanFileError(f"not a plan document: {address} does not match sdkAppId/taskId")
    action = Action(item["action"])
    region = item["region"]
    try:
        if action is not Action.FORGET:
            check_region(region)
        elif not isinstance(region, str):
            raise TypeError("region must be a string")
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"{address}: {exc}") from None
    live = item.get("live")
    stop_at = item.get("stopAt")
    if stop_at is None and action is Action.WAIT:
        raise PlanFileError(f"not a plan document: {address} waits, but has no stopAt")
    return Change(
        action=action,
        sdk_app_id=sdk_app_id,
        task_id=task_id,
        region=region,
        source=str(item.get("source", "")),
        live=LiveStatus(live) if live is not None else None,
        stop_at=None if stop_at is None else _time(stop_at, f"{address}: stopAt"),
    )
