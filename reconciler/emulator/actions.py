"""The three emulated TRTC actions — ``StopStreamIngest``, ``DescribeStreamIngest``,
``StartStreamIngest`` — on a task table: parameter checks and the documented error
codes (``InvalidParameter.SdkAppId``, ``InvalidParameter.TaskId``,
``FailedOperation.TaskFinished``, ``MissingParameter``, ``UnknownParameter``).

No I/O; each action takes an authenticated ``ActionRequest`` and returns the answer's
fields or raises ``ApiError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reconciler.domain import SDK_APP_ID_MAX
from reconciler.emulator.api import (
    ActionRequest,
    ApiError,
    JsonDict,
    integer,
    missing,
    only,
    require,
)
from reconciler.emulator.tasks import StopOutcome, TaskTable

_START_FIELDS = frozenset(
    {
        "SdkAppId", "RoomId", "RoomIdType", "UserId", "UserSig", "StreamUrl", "PrivateMapKey",
        "VideoEncodeParams", "AudioEncodeParams", "SourceUrl", "SeekSecond", "AutoPush",
        "RepeatNum", "MaxDuration", "Volume", "EnableProgress", "Tempo", "IdleTimeout",
    }
)  # fmt: skip

Action = Callable[[ActionRequest], JsonDict]


def _app_id(value: object, *, from_query: bool) -> int:
    number = integer(value, from_query=from_query)
    if number is None or not 1 <= number <= SDK_APP_ID_MAX:
        raise ApiError(
            "InvalidParameter.SdkAppId", f"SdkAppId must be a positive integer, got {value!r}."
        )
    return number


def _target(request: ActionRequest) -> tuple[int, str]:
    params = request.params
    require(params, "SdkAppId", "TaskId")
    only(params, ("SdkAppId", "TaskId"))
    task_id = params["TaskId"]
    if not isinstance(task_id, str) or not task_id:
        raise ApiError(
            "InvalidParameter.TaskId", f"TaskId must be a non-empty string, got {task_id!r}."
        )
    return _app_id(params["SdkAppId"], from_query=request.from_query), task_id


def trtc_actions(table: TaskTable) -> Mapping[str, Action]:
    """The TRTC actions by name, working on ``table``."""

    def stop(request: ActionRequest) -> JsonDict:
        sdk_app_id, task_id = _target(request)
        outcome = table.stop(sdk_app_id, task_id, region=request.region)
        if outcome is StopOutcome.NOT_FOUND:
            raise ApiError(
                "InvalidParameter.TaskId",
                f"The task `{task_id}` does not exist in {request.region}.",
            )
        if outcome is StopOutcome.ALREADY_ENDED:
            raise ApiError("FailedOperation.TaskFinished", "The task has already finished.")
        return {}

    def describe(request: ActionRequest) -> JsonDict:
        sdk_app_id, task_id = _target(request)
        running = table.running(sdk_app_id, task_id, region=request.region)
        return {"Status": "InProgress" if running else "NotExist"}

    def start(request: ActionRequest) -> JsonDict:
        params = request.params
        require(params, "SdkAppId", "RoomId", "UserId")
        only(params, _START_FIELDS)
        sdk_app_id = _app_id(params["SdkAppId"], from_query=request.from_query)
        for name in ("RoomId", "UserId"):
            value = params[name]
            if not isinstance(value, str) or not value:
                raise ApiError(f"InvalidParameter.{name}", f"{name} must be a non-empty string.")
        if not params.get("StreamUrl") and not params.get("SourceUrl"):
            raise missing("StreamUrl")
        return {"TaskId": table.start(sdk_app_id, region=request.region)}

    return {"StopStreamIngest": stop, "DescribeStreamIngest": describe, "StartStreamIngest": start}
