"""Ways to call the emulator in its tests: the official Python SDK's TRTC and STS
clients over real HTTP, and hand-signed raw requests for what no SDK can be made to
send (or for signing the way another SDK does)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sts.v20180813 import sts_client
from tencentcloud.trtc.v20190722 import models, trtc_client

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Emulator
from reconciler.emulator.api import ApiCall
from reconciler.emulator.signing import tc3_signature

APP = 1400000001
ROLE = "qcs::cam::uin/100000000001:roleName/deployer"


def profile(emu: Emulator, *, method: str = "POST") -> ClientProfile:
    http = HttpProfile(protocol="http", endpoint=emu.endpoint, reqTimeout=5, reqMethod=method)
    return ClientProfile(httpProfile=http)


def make_client(
    emu: Emulator,
    region: str = "ap-singapore",
    *,
    secret_id: str = DEFAULT_SECRET_ID,
    secret_key: str = DEFAULT_SECRET_KEY,
    token: str | None = None,
    method: str = "POST",
) -> Any:
    cred = credential.Credential(secret_id, secret_key, token)
    return trtc_client.TrtcClient(cred, region, profile(emu, method=method))


def make_sts_client(
    emu: Emulator, *, secret_id: str = DEFAULT_SECRET_ID, secret_key: str = DEFAULT_SECRET_KEY
) -> Any:
    cred = credential.Credential(secret_id, secret_key)
    return sts_client.StsClient(cred, "ap-guangzhou", profile(emu))


def unsigned_sts_client(emu: Emulator) -> CommonClient:
    """The client the SDK's own OIDC credential provider uses: no credential at all."""
    return CommonClient("sts", "2018-08-13", None, "ap-guangzhou", profile=profile(emu))


def stop(client: Any, task_id: str, *, app: int = APP) -> str:
    request = models.StopStreamIngestRequest()
    request.SdkAppId = app
    request.TaskId = task_id
    request_id: str = client.StopStreamIngest(request).RequestId
    return request_id


def describe(client: Any, task_id: str, *, app: int = APP) -> str:
    request = models.DescribeStreamIngestRequest()
    request.SdkAppId = app
    request.TaskId = task_id
    status: str = client.DescribeStreamIngest(request).Status
    return status


def sdk_error(call: Callable[[], object]) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as info:
        call()
    return info.value


def signed_headers(
    body: bytes,
    *,
    host: str,
    action: str = "StopStreamIngest",
    version: str = "2019-07-22",
    region: str | None = "ap-singapore",
    timestamp: int | None = None,
    service: str = "trtc",
    secret_id: str = DEFAULT_SECRET_ID,
    secret_key: str = DEFAULT_SECRET_KEY,
    token: str | None = None,
    signed_host: str | None = None,
) -> dict[str, str]:
    """Headers of a TC3-signed POST; ``signed_host`` is the host the signature covers
    (``host`` unless told otherwise, as the Python SDK signs)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    date = dt.datetime.fromtimestamp(stamp, tz=dt.timezone.utc).strftime("%Y-%m-%d")
    signature = tc3_signature(
        secret_key,
        method="POST",
        uri="/",
        query="",
        headers={"content-type": "application/json", "host": signed_host or host},
        signed_headers=("content-type", "host"),
        payload=body,
        timestamp=str(stamp),
        date=date,
        service=service,
    )
    headers = {
        "Content-Type": "application/json",
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(stamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request,"
        f" SignedHeaders=content-type;host, Signature={signature}",
    }
    if region is not None:
        headers["X-TC-Region"] = region
    if token is not None:
        headers["X-TC-Token"] = token
    return headers


def api_call(params: object, **signing: Any) -> ApiCall:
    """A signed request as the emulator core receives it (for tests on fake time)."""
    body = json.dumps(params).encode()
    headers = signed_headers(body, host=signing.pop("host", "127.0.0.1:9"), **signing)
    return ApiCall(
        method="POST",
        path="/",
        query="",
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
    )


def raw_call(
    emu: Emulator, params: object, *, authorization: str | None = None, **signing: Any
) -> dict[str, Any]:
    """A hand-built, correctly signed (unless told otherwise) API 3.0 request over HTTP;
    the ``Response`` document."""
    body = json.dumps(params).encode()
    headers = signed_headers(body, host=emu.endpoint, **signing)
    if authorization is not None:
        headers["Authorization"] = authorization
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        connection.request("POST", "/", body, headers)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        document: dict[str, Any] = json.loads(response.read())["Response"]
        return document
    finally:
        connection.close()


def error_code(document: Mapping[str, Any]) -> str | None:
    error = document.get("Error")
    return None if error is None else str(error["Code"])
