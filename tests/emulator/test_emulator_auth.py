"""Who the emulator lets in: TC3 signatures of every credential of the account, the
session token, the checks of a hand-built request, and what the other official SDKs
sign (the host without its port, the scope's service named after the endpoint)."""

from __future__ import annotations

import time
from functools import partial

import pytest

from reconciler.emulator import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    ConfigError,
    Emulator,
    EmulatorConfig,
    KeyPair,
    SeedTask,
)
from reconciler.emulator.signing import host_without_port
from tests.emulator.sdk import (
    APP,
    describe,
    error_code,
    make_client,
    raw_call,
    sdk_error,
    stop,
)

PARAMS = {"SdkAppId": APP, "TaskId": "t-1"}


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


def test_hand_built_requests(emu: Emulator) -> None:
    describe_params = dict(PARAMS)
    assert raw_call(emu, describe_params, action="DescribeStreamIngest")["Status"] == "InProgress"
    stale = int(time.time()) - 400
    assert error_code(raw_call(emu, PARAMS, timestamp=stale)) == "AuthFailure.SignatureExpire"
    malformed = raw_call(emu, PARAMS, authorization="TC3-HMAC-SHA256 garbage")
    assert error_code(malformed) == "AuthFailure.InvalidAuthorization"
    assert error_code(raw_call(emu, PARAMS, authorization="SKIP")) == (
        "AuthFailure.InvalidAuthorization"  # only STS's web identity action goes unsigned
    )
    assert error_code(raw_call(emu, PARAMS, service="cvm")) == "AuthFailure.InvalidAuthorization"
    assert error_code(raw_call(emu, PARAMS, service="sts")) == "AuthFailure.InvalidAuthorization"
    assert error_code(raw_call(emu, PARAMS, version="2017-03-12")) == "NoSuchVersion"
    assert error_code(raw_call(emu, PARAMS, region=None)) == "MissingParameter"
    assert error_code(raw_call(emu, ["not", "an", "object"])) == "InvalidParameter.BodyParamsError"
    assert emu.stats()["effective_stops"] == {}
    assert raw_call(emu, PARAMS)["RequestId"]


def test_host_signed_without_its_port_is_accepted(emu: Emulator) -> None:
    # The Node.js SDK signs the host name without the port it sends.
    bare = host_without_port(emu.endpoint)
    assert bare == "127.0.0.1"
    answer = raw_call(emu, PARAMS, action="DescribeStreamIngest", signed_host=bare)
    assert answer["Status"] == "InProgress"
    for wrong in ("127.0.0.2", f"127.0.0.1:{emu.port + 1}", "trtc.tencentcloudapi.com"):
        refused = raw_call(emu, PARAMS, signed_host=wrong)
        assert error_code(refused) == "AuthFailure.SignatureFailure", wrong
    assert emu.stats()["effective_stops"] == {}


def test_scope_named_after_the_endpoint_is_accepted(emu: Emulator) -> None:
    # The Node.js SDK takes the service from the endpoint's first label: "127" here.
    node_style = partial(raw_call, emu, PARAMS, service="127", signed_host="127.0.0.1")
    assert node_style(action="DescribeStreamIngest")["Status"] == "InProgress"
    refused = node_style(secret_key="not-the-key")
    assert error_code(refused) == "AuthFailure.SignatureFailure"
    assert raw_call(emu, PARAMS, service="127")["RequestId"]  # port kept, also fine
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}


@pytest.mark.parametrize(
    ("host", "bare"),
    [
        ("127.0.0.1:8080", "127.0.0.1"),
        ("[::1]:8080", "[::1]"),
        ("localhost", "localhost"),
        ("[::1]", "[::1]"),
        ("trtc.tencentcloudapi.com", "trtc.tencentcloudapi.com"),
    ],
)
def test_host_without_port(host: str, bare: str) -> None:
    assert host_without_port(host) == bare


def test_several_credentials_share_one_account() -> None:
    config = EmulatorConfig(
        extra_credentials=(
            KeyPair("AKIDrunner2", "key-2"),
            KeyPair("AKIDrunner3", "key-3", token="token-3"),
        ),
        tasks=(SeedTask(APP, "t-1"), SeedTask(APP, "t-2"), SeedTask(APP, "t-3")),
    )
    with Emulator(config) as emu:
        stop(make_client(emu), "t-1")
        stop(make_client(emu, secret_id="AKIDrunner2", secret_key="key-2"), "t-2")
        third = make_client(emu, secret_id="AKIDrunner3", secret_key="key-3", token="token-3")
        stop(third, "t-3")
        crossed = make_client(emu, secret_id="AKIDrunner2", secret_key=DEFAULT_SECRET_KEY)
        assert sdk_error(lambda: describe(crossed, "t-1")).code == "AuthFailure.SignatureFailure"
        tokenless = make_client(emu, secret_id="AKIDrunner3", secret_key="key-3")
        assert sdk_error(lambda: describe(tokenless, "t-1")).code == "AuthFailure.TokenFailure"
        callers = emu.stats()["callers"]
    assert sorted(callers) == [DEFAULT_SECRET_ID, "AKIDrunner2", "AKIDrunner3"]
    assert callers["AKIDrunner2"]["calls"] == {"DescribeStreamIngest": 1, "StopStreamIngest": 1}
    assert callers["AKIDrunner3"]["accepted"] == {
        "DescribeStreamIngest": 1,
        "StopStreamIngest": 1,
    }


def test_credentials_are_checked_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        EmulatorConfig(extra_credentials=(KeyPair(DEFAULT_SECRET_ID, "other"),))
    for bad in ("", " AKID", "AKID/x"):
        with pytest.raises(ConfigError, match="secret id"):
            KeyPair(bad, "key")
    with pytest.raises(ConfigError, match="secret key"):
        KeyPair("AKIDx", "")
    shown = repr(EmulatorConfig(token="tok-123", extra_credentials=(KeyPair("AKIDx", "k-42"),)))
    assert DEFAULT_SECRET_KEY not in shown
    assert "k-42" not in shown
    assert "tok-123" not in shown
