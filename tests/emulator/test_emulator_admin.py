"""The ``/_emulator/`` admin API through ``AdminClient`` over real HTTP, and the
settings it and the command line are made of: config values, seed files, credential
files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.emulator import (
    AdminClient,
    AdminError,
    ConfigError,
    Emulator,
    EmulatorConfig,
    FaultRates,
    KeyPair,
    SeedTask,
    TaskStatus,
    load_tasks_file,
    parse_task_address,
)
from reconciler.emulator.config import is_loopback, load_credentials_file
from tests.emulator.sdk import APP, make_client, make_sts_client, stop

STAT_KEYS = (
    "calls", "accepted", "throttled", "faults", "max_in_window", "effective_stops",
    "started_at", "errors", "rate_limited", "max_accepted_in_window", "in_flight",
    "rate_limit_counts", "foreign", "with_foreign", "callers",
)  # fmt: skip


def test_stats_and_tasks(emu: Emulator) -> None:
    admin = AdminClient(emu.url)
    stop(make_client(emu), "t-1")
    stats = admin.stats()
    assert set(STAT_KEYS) <= set(stats)
    assert stats == emu.stats()
    assert stats["calls"] == {"StopStreamIngest": 1}
    assert stats["faults"] == dict.fromkeys(
        ("internal", "drop", "lost", "http502", "throttle", "badjson"), 0
    )
    assert admin.effective_stops() == {f"{APP}/t-1": 1}

    assert admin.add_tasks([SeedTask(APP, "t-1")]) == [f"{APP}/t-1"]
    stop(make_client(emu), "t-1")  # re-armed task stopped again
    assert admin.effective_stops() == {f"{APP}/t-1": 2}
    (task,) = [t for t in admin.tasks() if t["address"] == f"{APP}/t-1"]
    assert time.time() - 30 < task.pop("stoppedAt") <= time.time()  # the last stop's wall time
    assert task == {
        "address": f"{APP}/t-1",
        "sdkAppId": APP,
        "taskId": "t-1",
        "region": "ap-singapore",
        "status": "Stopped",
        "stops": 2,
    }
    assert len(admin.add_tasks(admin.tasks())) == 4  # the listing posts back

    after = admin.reset_stats()
    assert after["calls"] == {}
    assert after["effective_stops"] == {}
    assert after["reset_at"] is not None


def test_config_changes_and_refusals(emu: Emulator) -> None:
    admin = AdminClient(emu.url)
    settings = admin.configure(
        latency=0.01,
        faults={"drop": 0.0},
        rate_limit=15,
        rate_limit_counts="admitted",
        foreign_rate=2.5,
        credential_ttl=30,
    )
    assert settings == admin.settings()
    assert (settings["latency"], settings["rate_limit"], settings["credential_ttl"]) == (
        0.01,
        15,
        30,
    )
    assert (settings["rate_limit_counts"], settings["foreign_rate"]) == ("admitted", 2.5)
    assert admin.stats()["foreign"]["rate"] == 2.5
    for bad in (
        {"faults": {"gremlins": 0.5}},
        {"faults": {"internal": 0.7, "drop": 0.7}},
        {"rate_limt": 5},
        {"rate_limit_counts": "some"},
        {"foreign_rate": -1},
        {"credential_ttl": 0},
        {"credential_ttl": 50000},
        {"next_faults": [{"kind": "drop", "count": 0}]},
    ):
        status, answer = admin.request("POST", "config", body=bad)
        assert status == 400, bad
        assert "\n" not in answer["error"]
    assert admin.settings() == settings  # nothing half-applied
    with pytest.raises(AdminError, match="HTTP 400: unknown fault kind"):
        admin.configure(faults={"gremlins": 0.5})
    bad_task = {"tasks": [{"sdkAppId": APP, "taskId": 5, "region": "ap-singapore"}]}
    assert admin.request("POST", "tasks", body=bad_task)[0] == 400
    assert admin.request("GET", "nothing-here")[0] == 404
    assert admin.request("POST", "config")[0] == 200  # an empty body changes nothing


def test_issued_credentials_are_listed_and_expired_on_demand(emu: Emulator) -> None:
    admin = AdminClient(emu.url)
    assert admin.credentials() == []
    sts = make_sts_client(emu)
    answer = sts.call_json(
        "AssumeRole",
        {"RoleArn": "qcs::cam::uin/100000000001:roleName/deployer", "RoleSessionName": "s1"},
    )["Response"]
    (listed,) = admin.credentials()
    assert listed["tmpSecretId"] == answer["Credentials"]["TmpSecretId"]
    assert listed["expiredTime"] == answer["ExpiredTime"]
    assert listed["expiration"] == answer["Expiration"]
    assert answer["Credentials"]["Token"] not in json.dumps(listed)
    assert admin.expire_credentials() == 1
    assert admin.expire_credentials() == 0
    assert admin.credentials()[0]["expired"] is True


def test_config_refuses_non_loopback_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        EmulatorConfig(host="0.0.0.0")
    with pytest.raises(ConfigError, match="more than 1"):
        FaultRates(internal=0.6, lost=0.6)
    with pytest.raises(ConfigError, match="twice"):
        EmulatorConfig(tasks=(SeedTask(APP, "a"), SeedTask(APP, "a", region="ap-jakarta")))
    with pytest.raises(ConfigError, match="role ARN"):
        EmulatorConfig(roles=("deployer",))
    with pytest.raises(ConfigError, match="credential TTL"):
        EmulatorConfig(credential_ttl=43201)
    with pytest.raises(ConfigError, match="foreign rate"):
        EmulatorConfig(foreign_rate=float("nan"))
    assert "emulator-secret" not in repr(EmulatorConfig())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::1%lo", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_one_loopback_check(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


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


def test_credentials_files(tmp_path: Path) -> None:
    good = tmp_path / "credentials.yaml"
    good.write_text(
        "credentials:\n"
        "  - {secretId: AKIDrunner1, secretKey: key-1}\n"
        "  - {secretId: AKIDrunner2, secretKey: key-2, token: tok-2}\n"
    )
    assert load_credentials_file(str(good)) == (
        KeyPair("AKIDrunner1", "key-1"),
        KeyPair("AKIDrunner2", "key-2", token="tok-2"),
    )
    for text, message in (
        ("credentials: []\n", "non-empty list"),
        ("- {secretId: a, secretKey: b}\n", '"credentials" list'),
        ("credentials:\n  - {secretId: a}\n", "secretId and secretKey"),
        ("credentials:\n  - {secretId: a, secretKey: b, scret: c}\n", "unknown key"),
        ("credentials:\n  - {secretId: a, secretKey: ''}\n", "secret key"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_credentials_file(str(bad))
