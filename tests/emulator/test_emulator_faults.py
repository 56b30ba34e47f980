"""Injected faults and latency, seen through the official SDK over real HTTP: what
each fault kind looks like to the client, what it applies at the server, and the
determinism of the dice under a seed."""

from __future__ import annotations

import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)

from reconciler.emulator import AdminClient, Emulator, EmulatorConfig, FaultRates
from tests.emulator.sdk import APP, describe, make_client, sdk_error, stop


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
    settings = AdminClient(emu.url).configure(
        next_faults=[{"kind": "internal", "action": "StopStreamIngest"}]
    )
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
