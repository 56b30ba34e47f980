"""The planner: desired tasks and recorded state in, a ``Plan`` value out.

A pure module. It does no I/O — no clock, no network, no database, no files — and
imports neither the SDK nor a store. It also owns the plan's JSON document (the
one ``plan --json`` prints and ``plan --out`` saves) as plain-dict conversions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

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


def make_plan(
    desired: Sequence[DesiredTask],
    state: StateSnapshot,
    *,
    targets: Collection[str] | None = None,
) -> Plan:
    """Diff ``desired`` against ``state``.

    - declared, not recorded → ``stop``
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
    stop = Action.STOP
    for task in desired:
        address = task.address
        if wanted is not None and address not in wanted:
            continue
        declared.add(address)
        if address in records:
            unchanged += 1
        else:
            changes.append(Change(stop, task.sdk_app_id, task.task_id, task.region, task.source))
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
    )


def _change_order(change: Change) -> tuple[int, str]:
    return (change.sdk_app_id, change.task_id)


def with_live_status(plan: Plan, live: Mapping[str, LiveStatus]) -> Plan:
    """The same plan with each change annotated by what ``DescribeStreamIngest`` said."""
    changes = tuple(_replace_live(change, live.get(change.address)) for change in plan.changes)
    return Plan(lineage=plan.lineage, serial=plan.serial, changes=changes, unchanged=plan.unchanged)


def _replace_live(change: Change, status: LiveStatus | None) -> Change:
    if status is None:
        return change
    return Change(
        action=change.action,
        sdk_app_id=change.sdk_app_id,
        task_id=change.task_id,
        region=change.region,
        source=change.source,
        live=status,
    )


def plan_summary(plan: Plan) -> dict[str, int]:
    return {
        "stop": plan.count(Action.STOP),
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
    if change.live is not None:
        doc["live"] = change.live.value
    return doc


def plan_to_json(plan: Plan) -> dict[str, object]:
    """The plan document of SPEC's *Plan* section."""
    return {
        "format_version": FORMAT_VERSION,
        "state": {"lineage": plan.lineage, "serial": plan.serial},
        "changes": [change_to_json(change) for change in plan.changes],
        "summary": plan_summary(plan),
    }


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
    return Plan(
        lineage=lineage,
        serial=serial,
        changes=changes,
        unchanged=unchanged if isinstance(unchanged, int) else 0,
    )


def _change_from_json(item: object) -> Change:
    """One saved change, checked by the rules manifests and pushed states share.

    A stop must name a region TRTC knows (it is called there); a forget only
    carries the region its record had, so any recorded region is accepted.
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
        if action is Action.STOP:
            check_region(region)
        elif not isinstance(region, str):
            raise TypeError("region must be a string")
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"{address}: {exc}") from None
    live = item.get("live")
    return Change(
        action=action,
        sdk_app_id=sdk_app_id,
        task_id=task_id,
        region=region,
        source=str(item.get("source", "")),
        live=LiveStatus(live) if live is not None else None,
    )
