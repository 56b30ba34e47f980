"""The TRTC API emulator, driven by the official SDK over real HTTP (and, for what the
SDK cannot be made to send, by hand-signed raw requests)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.trtc.v20190722 import models, trtc_client

from reconciler.emulator import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    ConfigError,
    Emulator,
    EmulatorConfig,
    FaultRates,
    SeedTask,
    TaskStatus,
    load_tasks_file,
    parse_task_address,
)
from reconciler.emulator.core import EmulatorCore
from reconciler.emulator.signing import tc3_signature

APP = 1400000001
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK and requests both honour proxy variables; loopback must go direct.
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(
        seed=7,
        tasks=(
            SeedTask(APP, "t-1"),
            SeedTask(APP, "t-2"),
            SeedTask(APP, "t-jkt", region="ap-jakarta"),
            SeedTask(APP, "t-done", status=TaskStatus.FINISHED),
        ),
    )
    with Emulator(config) as running:
        yield running


def make_client(
    emu: Emulator,
    region: str = "ap-singapore",
    *,
    secret_id: str = DEFAULT_SECRET_ID,
    secret_key: str = DEFAULT_SECRET_KEY,
    token: str | None = None,
    method: str = "POST",
) -> Any:
    profile = HttpProfile(protocol="http", endpoint=emu.endpoint, reqTimeout=5, reqMethod=method)
    cred = credential.Credential(secret_id, secret_key, token)
    return trtc_client.TrtcClient(cred, region, ClientProfile(httpProfile=profile))


def stop(client: Any, task_id: str, app: int = APP) -> str:
    request = models.StopStreamIngestRequest()
    request.SdkAppId = app
    request.TaskId = task_id
    request_id: str = client.StopStreamIngest(request).RequestId
    return request_id


def describe(client: Any, task_id: str, app: int = APP) -> str:
    request = models.DescribeStreamIngestRequest()
    request.SdkAppId = app
    request.TaskId = task_id
    status: str = client.DescribeStreamIngest(request).Status
    return status


def sdk_error(call: Callable[[], object]) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as info:
        call()
    return info.value


def admin(emu: Emulator, method: str, name: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{emu.url}/_emulator/{name}", data=data, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def raw_call(
    emu: Emulator,
    params: object,
    *,
    action: str = "StopStreamIngest",
    version: str = "2019-07-22",
    region: str | None = "ap-singapore",
    timestamp: int | None = None,
    service: str = "trtc",
    authorization: str | None = None,
) -> dict[str, Any]:
    """A hand-built, correctly signed (unless told otherwise) API 3.0 request."""
    body = json.dumps(params).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    date = dt.datetime.fromtimestamp(stamp, tz=dt.timezone.utc).strftime("%Y-%m-%d")
    headers = {"content-type": "application/json", "host": emu.endpoint}
    signature = tc3_signature(
        DEFAULT_SECRET_KEY,
        method="POST",
        uri="/",
        query="",
        headers=headers,
        signed_headers=("content-type", "host"),
        payload=body,
        timestamp=str(stamp),
        date=date,
        service=service,
    )
    send = {
        "Content-Type": "application/json",
        "Host": emu.endpoint,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(stamp),
        "Authorization": authorization
        or f"TC3-HMAC-SHA256 Credential={DEFAULT_SECRET_ID}/{date}/{service}/tc3_request,"
        f" SignedHeaders=content-type;host, Signature={signature}",
    }
    if region is not None:
        send["X-TC-Region"] = region
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        connection.request("POST", "/", body, send)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        document: dict[str, Any] = json.loads(response.read())["Response"]
        return document
    finally:
        connection.close()


# -- the three actions -------------------------------------------------------------------


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


def test_unknown_action_and_get_requests(emu: Emulator) -> None:
    assert sdk_error(lambda: make_client(emu).call_json("NoSuchAction", {})).code == "InvalidAction"
    get_client = make_client(emu, method="GET")  # signs the query string instead of a body
    assert describe(get_client, "t-1") == "InProgress"
    stop(get_client, "t-1")
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}


# -- authentication ----------------------------------------------------------------------


def test_wrong_secret_key_and_unknown_secret_id_are_refused(emu: Emulator) -> None:
    bad_key = make_client(emu, secret_key="not-the-key")
    assert sdk_error(lambda: stop(bad_key, "t-1")).code == "AuthFailure.SignatureFailure"
    unknown = make_client(emu, secret_id="AKIDnobody")
    assert sdk_error(lambda: stop(unknown, "t-1")).code == "AuthFailure.SecretIdNotFound"
    assert emu.stats()["effective_stops"] == {}
    assert describe(make_client(emu), "t-1") == "InProgress"


def test_session_token_is_required_when_configured() -> None:
    config = EmulatorConfig(token="session-token-1", tasks=(SeedTask(APP, "t-1"),))
    with Emulator(config) as emu:
        for token in (None, "wrong-token"):
            client = make_client(emu, token=token)
            assert sdk_error(partial(stop, client, "t-1")).code == "AuthFailure.TokenFailure"
        stop(make_client(emu, token="session-token-1"), "t-1")


def test_token_sent_to_an_emulator_without_one_is_refused(emu: Emulator) -> None:
    client = make_client(emu, token="stray-token")
    assert sdk_error(lambda: stop(client, "t-1")).code == "AuthFailure.TokenFailure"


def test_unsupported_region(emu: Emulator) -> None:
    client = make_client(emu, "eu-frankfurt")
    assert sdk_error(lambda: stop(client, "t-1")).code == "UnsupportedRegion"


def test_hand_built_requests(emu: Emulator) -> None:
    params = {"SdkAppId": APP, "TaskId": "t-1"}
    assert raw_call(emu, params, action="DescribeStreamIngest")["Status"] == "InProgress"
    stale = int(time.time()) - 400
    assert raw_call(emu, params, timestamp=stale)["Error"]["Code"] == "AuthFailure.SignatureExpire"
    malformed = raw_call(emu, params, authorization="TC3-HMAC-SHA256 garbage")
    assert malformed["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    other_service = raw_call(emu, params, service="cvm")
    assert other_service["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    assert raw_call(emu, params, version="2017-03-12")["Error"]["Code"] == "NoSuchVersion"
    assert raw_call(emu, params, region=None)["Error"]["Code"] == "MissingParameter"
    assert raw_call(emu, ["not", "an", "object"])["Error"]["Code"] == (
        "InvalidParameter.BodyParamsError"
    )
    assert emu.stats()["effective_stops"] == {}
    assert raw_call(emu, params)["RequestId"]


# -- rate limit --------------------------------------------------------------------------


def test_rate_limit_throttles_a_burst(emu: Emulator) -> None:
    codes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        client = make_client(emu)
        for _ in range(8):
            try:
                describe(client, "t-1")
                code = "ok"
            except TencentCloudSDKException as error:
                code = error.code
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(codes) == 64
    assert set(codes) <= {"ok", "RequestLimitExceeded"}
    assert codes.count("RequestLimitExceeded") > 0
    stats = emu.stats()
    action = "DescribeStreamIngest"
    assert stats["calls"][action] == 64
    assert stats["accepted"][action] + stats["rate_limited"][action] == 64
    assert stats["max_accepted_in_window"][action] <= 20
    assert stats["max_in_window"][action] > 20
    assert stats["throttled_by"]["rate_limit"] == codes.count("RequestLimitExceeded")


def test_rate_limit_window_slides_on_fake_time() -> None:
    now = [100.0]
    core = EmulatorCore(EmulatorConfig(rate_limit=3), clock=lambda: now[0])
    decisions = []
    for step in (0.0, 0.1, 0.1, 0.1, 0.5, 0.21, 0.1):
        now[0] += step
        decisions.append(core.admit("StopStreamIngest").accepted)
        core.finished()
    # t=100.0 .1 .2 | .3 .8 throttled | 1.01 (100.0 has left the window) | 1.11 (.1 left)
    assert decisions == [True, True, True, False, False, True, True]
    stats = core.stats()
    assert stats["max_accepted_in_window"]["StopStreamIngest"] == 3
    assert stats["max_in_window"]["StopStreamIngest"] == 5
    assert stats["rate_limited"]["StopStreamIngest"] == 2


def test_rate_limit_zero_disables() -> None:
    core = EmulatorCore(EmulatorConfig(rate_limit=0), clock=lambda: 5.0)
    assert all(core.admit("StopStreamIngest").accepted for _ in range(500))


# -- faults and latency --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("internal", "InternalError"),
        ("drop", "ClientNetworkError"),
        ("http502", "ServerNetworkError"),
        ("throttle", "RequestLimitExceeded"),
        ("badjson", "JSONDecodeError"),
    ],
)
def test_faults_that_apply_nothing(emu: Emulator, kind: str, code: str) -> None:
    client = make_client(emu)
    emu.configure(next_faults=[kind])
    assert sdk_error(lambda: stop(client, "t-1")).code == code
    assert emu.stats()["effective_stops"] == {}
    assert emu.stats()["faults"][kind] == 1
    stop(client, "t-1")  # the retry takes effect, on the same client
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}


def test_lost_answer_applies_the_stop(emu: Emulator) -> None:
    client = make_client(emu)
    emu.configure(next_faults=["lost"])
    assert sdk_error(lambda: stop(client, "t-1")).code == "ClientNetworkError"
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}
    assert sdk_error(lambda: stop(client, "t-1")).code == "FailedOperation.TaskFinished"


def test_scheduled_fault_can_target_one_action(emu: Emulator) -> None:
    status, settings = admin(
        emu, "POST", "config", {"next_faults": [{"kind": "internal", "action": "StopStreamIngest"}]}
    )
    assert status == 200
    assert settings["next_faults"] == [{"kind": "internal", "action": "StopStreamIngest"}]
    client = make_client(emu)
    assert describe(client, "t-1") == "InProgress"  # not consumed by another action
    assert sdk_error(lambda: stop(client, "t-1")).code == "InternalError"
    stop(client, "t-1")


def test_fault_dice_are_deterministic_with_a_seed() -> None:
    def outcomes() -> list[str]:
        config = EmulatorConfig(seed=42, faults=FaultRates(internal=0.3, throttle=0.2))
        with Emulator(config) as emu:
            client = make_client(emu)
            results = []
            for _ in range(15):
                try:
                    results.append(describe(client, "x"))
                except TencentCloudSDKException as error:
                    results.append(error.code)
            return results

    first = outcomes()
    assert first == outcomes()
    assert {"NotExist", "InternalError", "RequestLimitExceeded"} == set(first)


def test_latency_delays_answers(emu: Emulator) -> None:
    client = make_client(emu)
    describe(client, "t-1")  # connect first
    emu.configure(latency=0.2)
    started = time.monotonic()
    describe(client, "t-1")
    assert time.monotonic() - started >= 0.2
    emu.configure(latency=0.0)


def test_stop_ends_idle_keep_alive_connections(emu: Emulator) -> None:
    describe(make_client(emu), "t-1")
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 2


# -- stats and admin endpoints ---------------------------------------------------------------


def test_stats_and_admin_endpoints(emu: Emulator) -> None:
    client = make_client(emu)
    stop(client, "t-1")
    status, stats = admin(emu, "GET", "stats")
    assert status == 200
    for key in (
        "calls",
        "accepted",
        "throttled",
        "faults",
        "max_in_window",
        "effective_stops",
        "started_at",
        "errors",
        "rate_limited",
        "max_accepted_in_window",
        "in_flight",
    ):
        assert key in stats
    assert stats == emu.stats()
    assert stats["calls"] == {"StopStreamIngest": 1}
    assert stats["faults"] == dict.fromkeys(
        ("internal", "drop", "lost", "http502", "throttle", "badjson"), 0
    )

    status, body = admin(
        emu,
        "POST",
        "tasks",
        {"tasks": [{"sdkAppId": APP, "taskId": "t-1", "region": "ap-singapore"}]},
    )
    assert (status, body) == (200, {"added": [f"{APP}/t-1"]})
    stop(client, "t-1")  # re-armed task stopped again
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 2}
    status, listing = admin(emu, "GET", "tasks")
    (task,) = [t for t in listing["tasks"] if t["address"] == f"{APP}/t-1"]
    assert task == {
        "address": f"{APP}/t-1",
        "sdkAppId": APP,
        "taskId": "t-1",
        "region": "ap-singapore",
        "status": "Stopped",
        "stops": 2,
    }
    assert admin(emu, "POST", "tasks", listing)[0] == 200  # the listing posts back

    status, settings = admin(emu, "POST", "config", {"latency": 0.01, "faults": {"drop": 0.0}})
    assert status == 200
    assert settings["latency"] == 0.01
    assert admin(emu, "POST", "config", {"faults": {"gremlins": 0.5}})[0] == 400
    assert admin(emu, "POST", "config", {"faults": {"internal": 0.7, "drop": 0.7}})[0] == 400
    assert admin(emu, "POST", "config", {"rate_limt": 5})[0] == 400
    assert (
        admin(
            emu,
            "POST",
            "tasks",
            {"tasks": [{"sdkAppId": APP, "taskId": 5, "region": "ap-singapore"}]},
        )[0]
        == 400
    )
    assert admin(emu, "GET", "nothing-here")[0] == 404

    status, after = admin(emu, "POST", "reset-stats")
    assert status == 200
    assert after["calls"] == {}
    assert after["effective_stops"] == {}
    assert after["reset_at"] is not None


# -- configuration and seeds -------------------------------------------------------------------


def test_config_refuses_non_loopback_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        EmulatorConfig(host="0.0.0.0")
    with pytest.raises(ConfigError, match="more than 1"):
        FaultRates(internal=0.6, lost=0.6)
    with pytest.raises(ConfigError, match="twice"):
        EmulatorConfig(tasks=(SeedTask(APP, "a"), SeedTask(APP, "a", region="ap-jakarta")))
    assert "emulator-secret" not in repr(EmulatorConfig())


def test_task_address_flag_syntax() -> None:
    task = parse_task_address("1400000001/a/b@c@ap-jakarta")
    assert (task.sdk_app_id, task.task_id, task.region) == (APP, "a/b@c", "ap-jakarta")
    assert parse_task_address("7/t@ap-beijing", status=TaskStatus.FINISHED).status is (
        TaskStatus.FINISHED
    )
    for bad in ("x/t@ap-singapore", "1/t", "1/@ap-singapore", "1/t@mars", "0/t@ap-singapore"):
        with pytest.raises(ConfigError):
            parse_task_address(bad)


def test_seed_files_in_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "tasks.yaml"
    yaml_file.write_text(
        "tasks:\n"
        "  - {sdkAppId: 1400000001, taskId: a, region: ap-singapore}\n"
        "  - {sdkAppId: 1400000001, taskId: b, region: ap-jakarta, status: Finished}\n"
    )
    a, b = load_tasks_file(str(yaml_file))
    assert (a.task_id, a.status, b.region, b.status) == (
        "a",
        TaskStatus.IN_PROGRESS,
        "ap-jakarta",
        TaskStatus.FINISHED,
    )
    json_file = tmp_path / "tasks.json"
    json_file.write_text(
        json.dumps({"tasks": [{"sdkAppId": 7, "taskId": "z", "region": "ap-bangkok"}]})
    )
    assert load_tasks_file(str(json_file)) == (SeedTask(7, "z", region="ap-bangkok"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks:\n  - {sdkAppId: 1, taskId: 12345, region: ap-singapore}\n", "quote it"),
        ("tasks:\n  - {sdkAppId: 1, taskID: a, region: ap-singapore}\n", "unknown key"),
        ("tasks:\n  - {sdkAppId: 1, taskId: a, region: mars}\n", "unknown region"),
        ("tasks:\n  - {sdkAppId: 1, taskId: a, region: ap-singapore, status: Paused}\n", "status"),
        ("tasks: [\n", "invalid YAML"),
        ("- just a list\n", '"tasks"'),
        (
            "tasks:\n  - {sdkAppId: 1, taskId: a, region: ap-singapore}\n"
            "  - {sdkAppId: 1, taskId: a, region: ap-jakarta}\n",
            "declared twice",
        ),
    ],
)
def test_bad_seed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_tasks_file(str(path))
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


# -- command line ----------------------------------------------------------------------------


def _emulator_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "reconciler.emulator", *flags]


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "tasks.json"
    seed.write_text(
        json.dumps({"tasks": [{"sdkAppId": APP, "taskId": "f-1", "region": "ap-mumbai"}]})
    )
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        _emulator_command(
            "--port",
            "0",
            "--tasks",
            str(seed),
            "--task",
            f"{APP}/t-1@ap-singapore",
            "--finished-task",
            f"{APP}/t-2@ap-singapore",
            "--port-file",
            str(port_file),
            "--fault",
            "internal=0",
            "--seed",
            "1",
        ),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert DEFAULT_SECRET_KEY not in line
        announced = json.loads(line)
        port = announced["port"]
        assert announced == {
            "event": "listening",
            "url": f"http://127.0.0.1:{port}",
            "port": port,
            "secretId": DEFAULT_SECRET_ID,
            "tasks": 3,
        }
        assert port_file.read_text().strip() == str(port)
        profile = HttpProfile(protocol="http", endpoint=f"127.0.0.1:{port}", reqTimeout=5)
        client = trtc_client.TrtcClient(
            credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY),
            "ap-singapore",
            ClientProfile(httpProfile=profile),
        )
        stop(client, "t-1")
        assert sdk_error(lambda: stop(client, "t-2")).code == "FailedOperation.TaskFinished"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert out == ""
    assert DEFAULT_SECRET_KEY not in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--tasks", "{seed}"), "quote it"),
        (("--tasks", "{missing}"), "cannot read tasks file"),
        (("--task", "1400000001/t-1"), "SDKAPPID/TASKID@REGION"),
        (("--fault", "gremlins=0.5"), "unknown fault kind"),
        (("--fault", "internal=lots"), "not a number"),
        (("--host", "0.0.0.0"), "loopback"),
        (("--port", "many"), "invalid int value"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_1(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    seed = tmp_path / "tasks.yaml"
    seed.write_text("tasks:\n  - {sdkAppId: 1, taskId: 12345, region: ap-singapore}\n")
    filled = [f.format(seed=seed, missing=tmp_path / "absent.yaml") for f in flags]
    result = subprocess.run(
        _emulator_command(*filled), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
