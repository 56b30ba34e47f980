"""The emulated TRTC actions, driven by the official SDK over real HTTP: what each
answers, the documented error codes, and GET requests."""

from __future__ import annotations

import pytest
from tencentcloud.trtc.v20190722 import models

from reconciler.emulator import Emulator
from tests.emulator.sdk import APP, describe, make_client, sdk_error, stop


def test_stop_succeeds_once_then_reports_task_finished(emu: Emulator) -> None:
    client = make_client(emu)
    assert len(stop(client, "t-1")) == 36  # a uuid4 RequestId
    error = sdk_error(lambda: stop(client, "t-1"))
    assert error.code == "FailedOperation.TaskFinished"
    assert error.requestId
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}


def test_seeded_finished_task_answers_task_finished(emu: Emulator) -> None:
    assert (
        sdk_error(lambda: stop(make_client(emu), "t-done")).code == "FailedOperation.TaskFinished"
    )


def test_unknown_task_and_wrong_region_are_invalid_task_id(emu: Emulator) -> None:
    singapore, jakarta = make_client(emu), make_client(emu, "ap-jakarta")
    assert sdk_error(lambda: stop(singapore, "nope")).code == "InvalidParameter.TaskId"
    assert sdk_error(lambda: stop(singapore, "t-1", app=APP + 1)).code == "InvalidParameter.TaskId"
    assert sdk_error(lambda: stop(singapore, "t-jkt")).code == "InvalidParameter.TaskId"
    assert describe(jakarta, "t-jkt") == "InProgress"
    stop(jakarta, "t-jkt")  # its own region works
    assert emu.stats()["effective_stops"] == {f"{APP}/t-jkt": 1}


def test_describe_in_progress_and_not_exist(emu: Emulator) -> None:
    client = make_client(emu)
    assert describe(client, "t-1") == "InProgress"
    assert describe(client, "t-done") == "NotExist"
    assert describe(client, "never-was") == "NotExist"
    assert describe(client, "t-jkt") == "NotExist"  # another region's task
    stop(client, "t-1")
    assert describe(client, "t-1") == "NotExist"


def test_start_creates_a_task_in_the_request_region(emu: Emulator) -> None:
    client = make_client(emu, "ap-mumbai")
    request = models.StartStreamIngestRequest()
    request.SdkAppId = APP
    request.RoomId = "room-1"
    request.UserId = "relay-1"
    request.UserSig = "sig"
    request.StreamUrl = "rtmp://example.invalid/live/1"
    task_id = client.StartStreamIngest(request).TaskId
    assert task_id
    assert describe(client, task_id) == "InProgress"
    assert describe(make_client(emu), task_id) == "NotExist"
    stop(client, task_id)
    assert describe(client, task_id) == "NotExist"
    (task,) = [t for t in emu.tasks() if t["taskId"] == task_id]
    assert task["region"] == "ap-mumbai"
    assert task["status"] == "Stopped"
    assert task["stops"] == 1


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"SdkAppId": APP}, "MissingParameter"),
        ({"TaskId": "t-1"}, "MissingParameter"),
        ({"SdkAppId": "abc", "TaskId": "t-1"}, "InvalidParameter.SdkAppId"),
        ({"SdkAppId": 0, "TaskId": "t-1"}, "InvalidParameter.SdkAppId"),
        ({"SdkAppId": True, "TaskId": "t-1"}, "InvalidParameter.SdkAppId"),
        ({"SdkAppId": 2**63, "TaskId": "t-1"}, "InvalidParameter.SdkAppId"),
        ({"SdkAppId": APP, "TaskId": 12345}, "InvalidParameter.TaskId"),
        ({"SdkAppId": APP, "TaskId": ""}, "InvalidParameter.TaskId"),
        ({"SdkAppId": APP, "TaskId": "t-1", "Extra": 1}, "UnknownParameter"),
    ],
)
def test_stop_parameters_are_validated(emu: Emulator, params: dict[str, object], code: str) -> None:
    client = make_client(emu)
    assert sdk_error(lambda: client.call_json("StopStreamIngest", params)).code == code
    assert emu.stats()["effective_stops"] == {}


def test_start_parameters_are_validated(emu: Emulator) -> None:
    client = make_client(emu)
    base = {"SdkAppId": APP, "RoomId": "r", "UserId": "u", "StreamUrl": "rtmp://x.invalid/1"}
    for params, code in (
        ({**base, "RoomId": ""}, "InvalidParameter.RoomId"),
        ({k: v for k, v in base.items() if k != "StreamUrl"}, "MissingParameter"),
        ({k: v for k, v in base.items() if k != "UserId"}, "MissingParameter"),
        ({**base, "Nonsense": 1}, "UnknownParameter"),
    ):
        assert sdk_error(lambda p=params: client.call_json("StartStreamIngest", p)).code == code
    assert len(emu.tasks()) == 4  # nothing was started


def test_unknown_action_and_get_requests(emu: Emulator) -> None:
    assert sdk_error(lambda: make_client(emu).call_json("NoSuchAction", {})).code == "InvalidAction"
    get_client = make_client(emu, method="GET")  # signs the query string instead of a body
    assert describe(get_client, "t-1") == "InProgress"
    stop(get_client, "t-1")
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}


def test_unsupported_region(emu: Emulator) -> None:
    client = make_client(emu, "eu-frankfurt")
    assert sdk_error(lambda: stop(client, "t-1")).code == "UnsupportedRegion"
