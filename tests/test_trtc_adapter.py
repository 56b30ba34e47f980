"""The TRTC adapter: error classification, endpoint rules, renewal before each call."""

from __future__ import annotations

import logging

import pytest

from reconciler.domain import CallError
from reconciler.errors import CloudCallError, CloudSetupError
from reconciler.trtc import (
    ClientSettings,
    ErrorClass,
    TrtcApi,
    classify,
    describe_fatal,
    parse_endpoint,
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


class RefusedRenewal:
    """A credential whose renewal fails: the adapter must not call the SDK at all."""

    def get_credential_info(self) -> tuple[str, str, str | None]:
        raise AssertionError("the SDK must not sign with credentials that failed to renew")

    def renew_if_due(self) -> None:
        error = CallError("ResourceNotFound.RoleNotFound", "sts:AssumeRole for r: no role")
        raise CloudCallError(error, ErrorClass.FATAL)


def test_credentials_are_renewed_before_the_call_and_a_failure_is_kept_classified() -> None:
    settings = ClientSettings(RefusedRenewal(), parse_endpoint("http://127.0.0.1:9"))
    api = TrtcApi(settings)
    for call in (api.stop, api.describe):
        with pytest.raises(CloudCallError) as info:
            call(sdk_app_id=1400000001, task_id="t", region="ap-singapore")
        assert info.value.error_class is ErrorClass.FATAL
        assert info.value.error.code == "ResourceNotFound.RoleNotFound"


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


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (CallError("AuthFailure.TokenFailure", "expired"), "the session token was refused"),
        (
            CallError("ResourceNotFound.RoleNotFound", "sts:AssumeRole for r: no such role"),
            "the role's credentials could not be renewed",
        ),
        (CallError("ProfileExpired", "profile 'ci' expired"), "temporary credentials expired"),
    ],
)
def test_fatal_messages_name_the_credential_problem(error: CallError, named: str) -> None:
    message = describe_fatal(error)
    assert message.startswith("credential problem: ") and named in message
    assert error.code in message and error.message in message
