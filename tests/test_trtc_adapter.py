"""The TRTC adapter: error classification, endpoint rules, credential resolution."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reconciler.errors import CloudSetupError
from reconciler.trtc import (
    ErrorClass,
    classify,
    parse_endpoint,
    resolve_credentials,
    silence_sdk_logger,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("FailedOperation.TaskFinished", ErrorClass.CONVERGED),
        ("RequestLimitExceeded", ErrorClass.THROTTLED),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", ErrorClass.THROTTLED),
        ("InternalError", ErrorClass.RETRYABLE),
        ("InternalError.DbError", ErrorClass.RETRYABLE),
        ("ServerNetworkError", ErrorClass.RETRYABLE),
        ("ClientNetworkError", ErrorClass.RETRYABLE),
        ("JSONDecodeError", ErrorClass.RETRYABLE),
        ("KeyError", ErrorClass.RETRYABLE),
        ("ConnectionError", ErrorClass.RETRYABLE),
        ("AuthFailure.SignatureFailure", ErrorClass.FATAL),
        ("AuthFailure.SecretIdNotFound", ErrorClass.FATAL),
        ("UnauthorizedOperation", ErrorClass.FATAL),
        ("UnauthorizedOperation.SdkAppId", ErrorClass.FATAL),
        ("InvalidParameter.TaskId", ErrorClass.TASK_FAILED),
        ("InvalidParameter.SdkAppId", ErrorClass.TASK_FAILED),
        ("InvalidParameter.BodyParamsError", ErrorClass.TASK_FAILED),
        ("MissingParameter", ErrorClass.TASK_FAILED),
        ("UnsupportedRegion", ErrorClass.TASK_FAILED),
        ("FailedOperation.Other", ErrorClass.TASK_FAILED),
    ],
)
def test_classification(code: str, expected: ErrorClass) -> None:
    assert classify(code) is expected


def test_default_endpoint_is_the_sdks() -> None:
    endpoint = parse_endpoint(None)
    assert endpoint.is_default and endpoint.scheme == "https"


@pytest.mark.parametrize(
    ("url", "scheme", "host"),
    [
        ("http://127.0.0.1:8080", "http", "127.0.0.1:8080"),
        ("http://localhost:9", "http", "localhost:9"),
        ("http://[::1]:8080/", "http", "[::1]:8080"),
        ("https://trtc.internal.example:8443", "https", "trtc.internal.example:8443"),
        ("trtc.ap-singapore.tencentcloudapi.com", "https", "trtc.ap-singapore.tencentcloudapi.com"),
    ],
)
def test_endpoint_overrides(url: str, scheme: str, host: str) -> None:
    endpoint = parse_endpoint(url)
    assert (endpoint.scheme, endpoint.host) == (scheme, host)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080",
        "http://example.com",
        "ftp://127.0.0.1",
        "https://h/path",
        "https://user:pw@h",
        "http://127.0.0.1:notaport",
    ],
)
def test_bad_endpoints_are_refused(url: str) -> None:
    with pytest.raises(CloudSetupError):
        parse_endpoint(url)


def test_environment_credentials_with_either_token_name() -> None:
    for name in ("TENCENTCLOUD_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN"):
        source = resolve_credentials(
            {"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": "k" * 8, name: "tok123"}
        )
        assert source.origin == "environment"
        assert source.credential.get_credential_info() == ("AKIDx", "k" * 8, "tok123")
        assert set(source.secret_values()) == {"k" * 8, "tok123"}


def test_no_credentials_is_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE", "TKE_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    if Path("/etc/tencentcloud/credentials").exists():  # pragma: no cover
        pytest.skip("machine has a system-wide profile file")
    with pytest.raises(CloudSetupError) as info:
        resolve_credentials({})
    message = str(info.value)
    assert "no Tencent Cloud credentials found" in message
    for tried in ("TENCENTCLOUD_SECRET_ID", "~/.tencentcloud/credentials", "CVM", "TKE"):
        assert tried in message


def test_sdk_logger_never_reaches_a_handler_at_debug() -> None:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        silence_sdk_logger()
        sdk = logging.getLogger("tencentcloud_sdk_common")
        # Whatever the process's level, no DEBUG record is made; what the SDK says
        # at INFO and above reaches the reconciler's handlers (which redact).
        assert not sdk.isEnabledFor(logging.DEBUG) and sdk.isEnabledFor(logging.INFO)
        assert sdk.propagate is True
    finally:
        root.setLevel(level)
