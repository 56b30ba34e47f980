"""The emulated STS: AssumeRole and AssumeRoleWithWebIdentity through the official
Python SDK over real HTTP, the temporary credentials they issue, TRTC calls signed
with them, and their expiry (on fake time in the core, on demand over HTTP)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from tencentcloud.sts.v20180813 import models as sts_models

from reconciler.emulator import Emulator, EmulatorConfig, SeedTask, WebIdentity
from reconciler.emulator.core import EmulatorCore
from tests.emulator.sdk import (
    APP,
    ROLE,
    api_call,
    describe,
    error_code,
    make_client,
    make_sts_client,
    raw_call,
    sdk_error,
    stop,
    unsigned_sts_client,
)

OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.ci-job.signature"


def assume_role(emu: Emulator, **fields: Any) -> Any:
    request = sts_models.AssumeRoleRequest()
    request.RoleArn = fields.pop("RoleArn", ROLE)
    request.RoleSessionName = fields.pop("RoleSessionName", "reconciler-test")
    for name, value in fields.items():
        setattr(request, name, value)
    return make_sts_client(emu).AssumeRole(request)


def trtc_client_for(emu: Emulator, credentials: Any, *, token: str | None = None) -> Any:
    return make_client(
        emu,
        secret_id=credentials.TmpSecretId,
        secret_key=credentials.TmpSecretKey,
        token=credentials.Token if token is None else token,
    )


def test_assume_role_answers_the_real_shape(emu: Emulator) -> None:
    before = int(time.time())
    answer = assume_role(emu)
    credentials = answer.Credentials
    assert credentials.TmpSecretId.startswith("AKID")
    assert credentials.TmpSecretKey and credentials.Token
    assert len(answer.RequestId) == 36
    assert before + 7200 <= answer.ExpiredTime <= int(time.time()) + 7200
    expiration = dt.datetime.strptime(answer.Expiration, "%Y-%m-%dT%H:%M:%SZ")
    assert expiration.replace(tzinfo=dt.timezone.utc).timestamp() == answer.ExpiredTime
    (issued,) = emu.credentials()
    assert issued["tmpSecretId"] == credentials.TmpSecretId
    assert (issued["roleArn"], issued["roleSessionName"]) == (ROLE, "reconciler-test")
    assert issued["expired"] is False
    assert credentials.TmpSecretKey not in str(issued)
    assert credentials.Token not in str(issued)


def test_trtc_accepts_issued_credentials_with_their_token(emu: Emulator) -> None:
    credentials = assume_role(emu).Credentials
    stop(trtc_client_for(emu, credentials), "t-1")
    assert emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}
    wrong_token = trtc_client_for(emu, credentials, token="not-the-token")
    assert sdk_error(lambda: describe(wrong_token, "t-2")).code == "AuthFailure.TokenFailure"
    no_token = make_client(
        emu, secret_id=credentials.TmpSecretId, secret_key=credentials.TmpSecretKey
    )
    assert sdk_error(lambda: describe(no_token, "t-2")).code == "AuthFailure.TokenFailure"
    assert emu.stats()["callers"][credentials.TmpSecretId]["calls"] == {
        "DescribeStreamIngest": 2,
        "StopStreamIngest": 1,
    }


def test_expired_credentials_are_refused_with_token_failure(emu: Emulator) -> None:
    credentials = assume_role(emu).Credentials
    client = trtc_client_for(emu, credentials)
    assert describe(client, "t-1") == "InProgress"
    assert emu.expire_credentials() == 1
    error = sdk_error(lambda: stop(client, "t-1"))
    assert error.code == "AuthFailure.TokenFailure"
    assert "expired" in error.message
    assert emu.credentials()[0]["expired"] is True
    assert emu.stats()["effective_stops"] == {}
    fresh = assume_role(emu).Credentials  # renewing is the way out
    stop(trtc_client_for(emu, fresh), "t-1")


def test_lifetime_is_capped_by_the_credential_ttl() -> None:
    with Emulator(EmulatorConfig(roles=(ROLE,), credential_ttl=60)) as emu:
        now = int(time.time())
        assert assume_role(emu).ExpiredTime - now in (60, 59)
        assert assume_role(emu, DurationSeconds=30).ExpiredTime - now in (30, 29)
        emu.configure(credential_ttl=5)
        assert assume_role(emu, DurationSeconds=30).ExpiredTime - int(time.time()) in (5, 4)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (
            {"RoleArn": "qcs::cam::uin/100000000001:roleName/nobody"},
            "ResourceNotFound.RoleNotFound",
        ),
        ({"RoleArn": "arn:aws:iam::1:role/x"}, "InvalidParameter.ParamError"),
        ({"RoleSessionName": "x"}, "InvalidParameter.ParamError"),
        ({"RoleSessionName": "has space"}, "InvalidParameter.ParamError"),
        ({"DurationSeconds": 43201}, "InvalidParameter.OverTimeError"),
        ({"DurationSeconds": 0}, "InvalidParameter.ParamError"),
    ],
)
def test_assume_role_refusals(emu: Emulator, fields: dict[str, Any], code: str) -> None:
    assert sdk_error(lambda: assume_role(emu, **fields)).code == code
    assert emu.credentials() == []


def test_assume_role_checks_its_parameters_and_signature(emu: Emulator) -> None:
    sts = make_sts_client(emu)
    missing = sdk_error(lambda: sts.call_json("AssumeRole", {"RoleArn": ROLE}))
    assert missing.code == "MissingParameter"
    params = {"RoleArn": ROLE, "RoleSessionName": "s1", "Whatever": 1}
    assert sdk_error(lambda: sts.call_json("AssumeRole", params)).code == "UnknownParameter"
    sts_call = {"action": "AssumeRole", "version": "2018-08-13", "service": "sts"}
    good = {"RoleArn": ROLE, "RoleSessionName": "s1"}
    assert raw_call(emu, good, **sts_call)["Credentials"]["TmpSecretId"]
    unsigned = raw_call(emu, good, authorization="SKIP", **sts_call)
    assert error_code(unsigned) == "AuthFailure.InvalidAuthorization"
    as_trtc = raw_call(emu, good, action="AssumeRole", version="2018-08-13", service="trtc")
    assert error_code(as_trtc) == "AuthFailure.InvalidAuthorization"
    wrong_version = raw_call(emu, good, action="AssumeRole", version="2019-07-22", service="sts")
    assert error_code(wrong_version) == "NoSuchVersion"
    assert len(emu.credentials()) == 1


def web_identity_emulator() -> Emulator:
    config = EmulatorConfig(
        roles=(ROLE,),
        web_identity=WebIdentity("github-actions", (OIDC_TOKEN,)),
        tasks=(SeedTask(APP, "t-1"),),
    )
    return Emulator(config)


def web_identity_params(**changes: str) -> dict[str, object]:
    return {
        "ProviderId": "github-actions",
        "WebIdentityToken": OIDC_TOKEN,
        "RoleArn": ROLE,
        "RoleSessionName": "ci-run-1",
        **changes,
    }


def test_assume_role_with_web_identity_unsigned_as_the_sdk_provider_does() -> None:
    with web_identity_emulator() as emu:
        client = unsigned_sts_client(emu)
        answer = client.call_json(
            "AssumeRoleWithWebIdentity", web_identity_params(), options={"SkipSign": True}
        )["Response"]
        assert sorted(answer) == ["Credentials", "Expiration", "ExpiredTime", "RequestId"]
        credentials = answer["Credentials"]
        trtc = make_client(
            emu,
            secret_id=credentials["TmpSecretId"],
            secret_key=credentials["TmpSecretKey"],
            token=credentials["Token"],
        )
        stop(trtc, "t-1")
        assert emu.credentials()[0]["roleSessionName"] == "ci-run-1"


def test_assume_role_with_web_identity_signed_by_the_sts_client() -> None:
    with web_identity_emulator() as emu:
        request = sts_models.AssumeRoleWithWebIdentityRequest()
        request._deserialize(web_identity_params())
        answer = make_sts_client(emu).AssumeRoleWithWebIdentity(request)
        assert answer.Credentials.TmpSecretId.startswith("AKID")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"WebIdentityToken": "forged"}, "InvalidParameter.WebIdentityTokenError"),
        ({"ProviderId": "someone-else"}, "InvalidParameter.ParamError"),
        ({"RoleArn": "qcs::cam::uin/100000000001:roleName/other"}, "ResourceNotFound.RoleNotFound"),
    ],
)
def test_web_identity_refusals(changes: dict[str, str], code: str) -> None:
    with web_identity_emulator() as emu:
        client = unsigned_sts_client(emu)
        params = web_identity_params(**changes)
        call = lambda: client.call_json(  # noqa: E731
            "AssumeRoleWithWebIdentity", params, options={"SkipSign": True}
        )
        assert sdk_error(call).code == code
        assert emu.credentials() == []


def test_web_identity_is_refused_when_not_configured(emu: Emulator) -> None:
    client = unsigned_sts_client(emu)
    error = sdk_error(
        lambda: client.call_json(
            "AssumeRoleWithWebIdentity", web_identity_params(), options={"SkipSign": True}
        )
    )
    assert error.code == "InvalidParameter.ParamError"


class FakeClocks:
    def __init__(self) -> None:
        self.wall = 1_700_000_000.0
        self.mono = 50.0

    def core(self, config: EmulatorConfig) -> EmulatorCore:
        return EmulatorCore(config, clock=lambda: self.mono, wall_clock=lambda: self.wall)


def test_issued_credentials_expire_on_the_wall_clock() -> None:
    clocks = FakeClocks()
    core = clocks.core(
        EmulatorConfig(roles=(ROLE,), credential_ttl=60, tasks=(SeedTask(APP, "a"),))
    )
    sts = {"action": "AssumeRole", "version": "2018-08-13", "service": "sts"}
    issued = core.call(
        api_call({"RoleArn": ROLE, "RoleSessionName": "s1"}, timestamp=int(clocks.wall), **sts)
    )["Response"]
    assert issued["ExpiredTime"] == int(clocks.wall) + 60
    credentials = issued["Credentials"]

    def describe_at(moment: float) -> dict[str, Any]:
        clocks.wall = moment
        call = api_call(
            {"SdkAppId": APP, "TaskId": "a"},
            action="DescribeStreamIngest",
            timestamp=int(moment),
            secret_id=credentials["TmpSecretId"],
            secret_key=credentials["TmpSecretKey"],
            token=credentials["Token"],
        )
        response: dict[str, Any] = core.call(call)["Response"]
        return response

    start = clocks.wall
    assert describe_at(start + 59)["Status"] == "InProgress"
    expired = describe_at(start + 60)
    assert error_code(expired) == "AuthFailure.TokenFailure"
    assert "expired" in expired["Error"]["Message"]


def test_sts_has_its_own_rate_limit() -> None:
    clocks = FakeClocks()
    core = clocks.core(EmulatorConfig(rate_limit=20))
    assume = [core.admit("AssumeRole").accepted for _ in range(25)]
    stops = [core.admit("StopStreamIngest").accepted for _ in range(25)]
    assert all(assume)  # STS answers up to 600 a second
    assert stops.count(True) == 20
