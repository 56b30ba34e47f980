"""The emulator against Tencent Cloud's official Node.js SDK
(``tencentcloud-sdk-nodejs-common``'s ``CommonClient``), installed with npm once per
test session into the pytest temporary directory. That SDK signs the host without
its port and names the credential scope after the endpoint's first label, unlike the
Python one. Skipped, saying why, when Node.js or the npm registry is not at hand."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    Emulator,
    EmulatorConfig,
    SeedTask,
    WebIdentity,
)
from tests.emulator.sdk import APP, ROLE
from tests.support import install_or_skip

PACKAGE = "tencentcloud-sdk-nodejs-common@^4.1"

#: Calls one action with the SDK's CommonClient; prints {"response"} or {"error"}.
CALL_JS = """
const { CommonClient } = require("tencentcloud-sdk-nodejs-common");
const a = JSON.parse(process.argv[2]);
const client = new CommonClient(`${a.service}.tencentcloudapi.com`, a.version, {
  credential: { secretId: a.secretId, secretKey: a.secretKey, token: a.token },
  region: a.region,
  profile: {
    httpProfile: { endpoint: a.endpoint, protocol: "http://", reqMethod: a.method, reqTimeout: 10 },
  },
});
client
  .request(a.action, a.params, { skipSign: a.skipSign })
  .then((response) => console.log(JSON.stringify({ response })))
  .catch((e) => {
    const error = { code: e.code || null, message: e.message };
    console.log(JSON.stringify({ error }));
  });
"""


@pytest.fixture(scope="session")
def nodejs_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the Node.js SDK installed and ``call.js`` beside it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js/npm not installed: cannot run Tencent Cloud's Node.js SDK")
    root = tmp_path_factory.mktemp("nodejs-sdk")
    command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(root)]
    command += ["--cache", str(root / ".npm-cache"), PACKAGE]
    what = f"npm install {PACKAGE}"
    install_or_skip(command, what=what, registry="the npm registry", timeout=300)
    (root / "call.js").write_text(CALL_JS)
    return root


class NodeCaller:
    def __init__(self, sdk: Path, emu: Emulator) -> None:
        self.sdk = sdk
        self.emu = emu

    def __call__(
        self,
        action: str,
        params: dict[str, Any],
        *,
        service: str = "trtc",
        method: str = "POST",
        secret_id: str | None = DEFAULT_SECRET_ID,
        secret_key: str | None = DEFAULT_SECRET_KEY,
        token: str | None = None,
        skip_sign: bool = False,
    ) -> dict[str, Any]:
        arguments = {
            "endpoint": self.emu.endpoint,
            "service": service,
            "version": "2018-08-13" if service == "sts" else "2019-07-22",
            "region": "ap-guangzhou" if service == "sts" else "ap-singapore",
            "action": action,
            "params": params,
            "method": method,
            "secretId": secret_id,
            "secretKey": secret_key,
            "token": token,
            "skipSign": skip_sign,
        }
        result = subprocess.run(
            ["node", str(self.sdk / "call.js"), json.dumps(arguments)],
            cwd=self.sdk,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer


@pytest.fixture
def node(nodejs_sdk: Path) -> Any:
    config = EmulatorConfig(
        roles=(ROLE,),
        web_identity=WebIdentity("ci", ("oidc-token",)),
        tasks=(SeedTask(APP, "t-1"), SeedTask(APP, "t-2"), SeedTask(APP, "t-3")),
    )
    with Emulator(config) as emu:
        yield NodeCaller(nodejs_sdk, emu)


def test_trtc_actions_from_the_nodejs_sdk(node: NodeCaller) -> None:
    target = {"SdkAppId": APP, "TaskId": "t-1"}
    for method in ("POST", "GET"):
        assert node("DescribeStreamIngest", target, method=method)["response"]["Status"] == (
            "InProgress"
        )
    assert node("StopStreamIngest", target)["response"]["RequestId"]
    again = node("StopStreamIngest", target)
    assert again["error"]["code"] == "FailedOperation.TaskFinished"
    assert node.emu.stats()["effective_stops"] == {f"{APP}/t-1": 1}


def test_nodejs_signatures_are_really_checked(node: NodeCaller) -> None:
    refused = node("StopStreamIngest", {"SdkAppId": APP, "TaskId": "t-1"}, secret_key="wrong")
    assert refused["error"]["code"] == "AuthFailure.SignatureFailure"
    assert node.emu.stats()["effective_stops"] == {}


def test_nodejs_assumes_a_role_and_uses_the_credentials(node: NodeCaller) -> None:
    assumed = node("AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "node"}, service="sts")
    answer = assumed["response"]
    assert sorted(answer) == ["Credentials", "Expiration", "ExpiredTime", "RequestId"]
    credentials = answer["Credentials"]
    temporary = {
        "secret_id": credentials["TmpSecretId"],
        "secret_key": credentials["TmpSecretKey"],
        "token": credentials["Token"],
    }
    assert node("StopStreamIngest", {"SdkAppId": APP, "TaskId": "t-2"}, **temporary)["response"]
    node.emu.expire_credentials()
    expired = node("StopStreamIngest", {"SdkAppId": APP, "TaskId": "t-3"}, **temporary)
    assert expired["error"]["code"] == "AuthFailure.TokenFailure"


def test_nodejs_web_identity_goes_unsigned(node: NodeCaller) -> None:
    params = {
        "ProviderId": "ci",
        "WebIdentityToken": "oidc-token",
        "RoleArn": ROLE,
        "RoleSessionName": "node-ci",
    }
    answer = node(
        "AssumeRoleWithWebIdentity",
        params,
        service="sts",
        secret_id=None,
        secret_key=None,
        skip_sign=True,
    )
    assert answer["response"]["Credentials"]["TmpSecretId"].startswith("AKID")
