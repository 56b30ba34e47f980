"""The TRTC adapter: with ``reconciler.credentials`` (which gets the credentials it
signs with), the only code that imports the official Tencent Cloud SDK.

It turns the SDK's behaviour into the reconciler's terms — endpoints, renewing
credentials between calls, one client per worker, and above all the
classification of every error the cloud (or the road to it) can answer. The
tree, decided in exactly one place (``classify``):

    ErrorClass
    ├── CONVERGED     FailedOperation.TaskFinished — the task had already ended;
    │                 the goal holds (recorded as ``already_stopped``).
    ├── THROTTLED     RequestLimitExceeded* — retry, and make the rate limiter
    │                 back off.
    ├── RETRYABLE     InternalError*, ServerNetworkError (a non-200 answer),
    │                 ClientNetworkError / ConnectionError / Timeout* (network),
    │                 JSONDecodeError / KeyError / ValueError (an HTML or broken
    │                 body), ResourceUnavailable*, ResourceInsufficient* — retry
    │                 with backoff. A repeated stop is safe: it answers TaskFinished.
    ├── UNREACHABLE   a ClientNetworkError whose cause shows the request never
    │                 reached the endpoint: connection refused, host or network
    │                 unreachable, a DNS failure, a TLS handshake failure, a connect
    │                 timeout — retried like RETRYABLE, and counted by the engine's
    │                 circuit breaker, which stops the run once every call fails
    │                 this way (``UNREACHABLE_CODE``).
    ├── FATAL         AuthFailure*, UnauthorizedOperation*, InvalidCredential —
    │                 the whole run stops sending requests at once.
    └── TASK_FAILED   InvalidParameter*, InvalidParameterValue*, MissingParameter,
                      UnsupportedRegion, and any code not listed above — this
                      task fails, the others go on.

Known traps of the official SDK, each observed and handled here: it does not retry
by default and its own retryer has no jitter (we never enable it; the engine owns
retries); its logger prints whole requests with the Authorization and X-TC-Token
headers at DEBUG (``silence_sdk_logger`` pins it above DEBUG, so no such record is
ever made); its credential providers read no session token from the environment
and renew inside a signing call (``reconciler.credentials`` owns the chain, and
renews before each call here); ``HttpProfile.protocol`` must be given
at construction; the region breaker stays off (when open it sends traffic to the
real Tencent domain); and clients are not shared between threads.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import logging
import socket
import ssl
import types
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from reconciler.domain import CallError, ErrorClass, LiveStatus
from reconciler.errors import CloudCallError, CloudSetupError

SDK_LOGGER_NAME = "tencentcloud_sdk_common"
_SDK_DEFAULT_HOST = "trtc.tencentcloudapi.com"


@functools.cache
def _sdk() -> Any:
    """The official SDK, imported on first use: ``plan`` without ``--refresh`` and the
    state commands never need it, and it costs a fifth of a second to import."""
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    return types.SimpleNamespace(
        SDKException=TencentCloudSDKException,
        ClientProfile=ClientProfile,
        HttpProfile=HttpProfile,
        models=models,
        TrtcClient=trtc_client.TrtcClient,
    )


def load_sdk() -> None:
    """Import the SDK now, before workers start pacing calls: a first call that had to
    import it (a fifth of a second) would reach the server late, bunched with the next
    ones, and the server would see more than the rate in one window."""
    _sdk()


_TRANSIENT_CODES = frozenset(
    {
        "ServerNetworkError",
        "ClientNetworkError",
        "ConnectionError",
        "JSONDecodeError",
        "KeyError",
        "ValueError",
        "ReadTimeout",
        "ConnectTimeout",
        "Timeout",
        "ChunkedEncodingError",
        "ProtocolError",
        "RemoteDisconnected",
        "IncompleteRead",
    }
)
_TRANSIENT_PREFIXES = ("InternalError", "ResourceUnavailable", "ResourceInsufficient")
_FATAL_PREFIXES = ("AuthFailure", "UnauthorizedOperation")
_FATAL_CODES = frozenset({"InvalidCredential", "ClientSideError"})


def classify(code: str) -> ErrorClass:
    """The single place that decides what an error code means for a run."""
    if code == "FailedOperation.TaskFinished":
        return ErrorClass.CONVERGED
    if code.startswith("RequestLimitExceeded"):
        return ErrorClass.THROTTLED
    if code in _TRANSIENT_CODES or code.startswith(_TRANSIENT_PREFIXES):
        return ErrorClass.RETRYABLE
    if code in _FATAL_CODES or code.startswith(_FATAL_PREFIXES):
        return ErrorClass.FATAL
    return ErrorClass.TASK_FAILED


#: The code of the error the engine's circuit breaker stops a run with.
UNREACHABLE_CODE = "EndpointUnreachable"
#: urllib3's wrappers of a failed connection, by name (their module moved between
#: versions; the SDK pins none).
_CONNECT_FAILURES = frozenset({"NewConnectionError", "ConnectTimeoutError", "NameResolutionError"})
_UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})


def never_arrived(exc: BaseException) -> BaseException | None:
    """The cause, if ``exc`` (an SDK exception and what caused it) says the request
    never reached the endpoint: refused, unreachable, DNS, TLS handshake, connect
    timeout. None otherwise."""
    seen: set[int] = set()
    pending = [exc]
    found = None
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if (
            isinstance(current, (socket.gaierror, ssl.SSLError))
            or (isinstance(current, OSError) and current.errno in _UNREACHABLE_ERRNOS)
            or type(current).__name__ in _CONNECT_FAILURES
        ):
            found = current  # keep going: the deepest cause words it best
        for cause in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(cause, BaseException):
                pending.append(cause)
    return found


def _failure(exc: BaseException, endpoint: Endpoint) -> CloudCallError:
    """Any exception from an SDK call, as the classified error the engine handles."""
    error = _sdk_error(exc)
    error_class = classify(error.code)
    cause = never_arrived(exc) if error_class is ErrorClass.RETRYABLE else None
    if cause is not None:
        error_class = ErrorClass.UNREACHABLE
        where = f"{endpoint.scheme}://{endpoint.host or _SDK_DEFAULT_HOST}"
        error = CallError(error.code, _one_line(f"cannot connect to {where}: {cause}"))
    return CloudCallError(error, error_class)


def describe_fatal(error: CallError) -> str:
    """A message that names what stopped a run: the endpoint could not be reached, or
    (any other fatal error) the credential problem."""
    if error.code == UNREACHABLE_CODE:
        return f"the TRTC endpoint is unreachable: {error.message}"
    hints = {
        "AuthFailure.SecretIdNotFound": "the SecretId is unknown",
        "AuthFailure.SignatureFailure": "the signature was refused: "
        "the SecretKey does not match the SecretId",
        "AuthFailure.SignatureExpire": "the request signature expired: check the system clock",
        "AuthFailure.TokenFailure": "the session token was refused: it has expired or does not "
        "belong to the SecretId (temporary credentials live hours at most; to have them "
        "renewed, let the reconciler assume the role: --assume-role ARN)",
        "AuthFailure.InvalidSecretId": "the SecretId is malformed",
        "AuthFailure.SecretIdForbidden": "the SecretId is disabled",
        "AuthFailure.UnauthorizedOperation": "the credentials lack permission "
        "for trtc:StopStreamIngest",
        "ProfileExpired": "the profile's temporary credentials expired",
    }
    if error.code in hints:
        what = hints[error.code]
    elif error.message.startswith("sts:"):  # a role's renewal, refused by STS
        what = "the role's credentials could not be renewed"
    elif error.code.startswith("UnauthorizedOperation"):
        what = "the credentials lack permission for this TRTC action (check the CAM policy)"
    else:
        what = "the credentials were refused"
    return f"credential problem: {what} [{error.code}: {error.message}]"


def _sdk_error(exc: BaseException) -> CallError:
    if isinstance(exc, _sdk().SDKException):
        code = str(exc.code or "ClientError")
        message = exc.message
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        return CallError(code=code, message=_one_line(str(message or "")), request_id=exc.requestId)
    return CallError(code=type(exc).__name__, message=_one_line(str(exc)))


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- endpoint --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the SDK sends requests: the SDK's default, or a validated override."""

    scheme: str = "https"
    host: str | None = None  # "host[:port]"; None means the SDK's own domain

    @property
    def is_default(self) -> bool:
        return self.host is None


def parse_endpoint(url: str | None) -> Endpoint:
    """Validate ``--endpoint``: https anywhere, plain http only on loopback."""
    if not url:
        return Endpoint()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CloudSetupError(f"endpoint {url!r}: scheme must be https (or http on loopback)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise CloudSetupError(
            f"endpoint {url!r}: give only scheme://host[:port], with no path, query or user"
        )
    hostname = parts.hostname
    if not hostname:
        raise CloudSetupError(f"endpoint {url!r}: no host")
    try:
        port = parts.port
    except ValueError:
        raise CloudSetupError(f"endpoint {url!r}: bad port") from None
    if scheme == "http" and not _is_loopback(hostname):
        raise CloudSetupError(
            f"endpoint {url!r}: plain http is accepted only for loopback hosts; use https://"
        )
    host = f"[{hostname}]" if ":" in hostname else hostname
    return Endpoint(scheme=scheme, host=f"{host}:{port}" if port else host)


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


# --- credentials -------------------------------------------------------------


class SigningCredential(Protocol):
    """What clients sign with: the SDK's credential interface, plus a renewal step.

    ``reconciler.credentials`` provides them (one object shared by every worker).
    ``renew_if_due`` runs before each call, outside the SDK, so credentials are never
    renewed mid-call; it raises ``CloudCallError`` when none are left.
    """

    def get_credential_info(self) -> tuple[str, str, str | None]: ...

    def renew_if_due(self) -> None: ...


def as_call_error(exc: BaseException) -> CallError:
    """Any failure of an SDK call (STS's too) as a ``CallError`` ``classify`` can read."""
    return _sdk_error(exc)


def silence_sdk_logger() -> None:
    """Keep the SDK's DEBUG records (whole requests, Authorization header included)
    from ever being made; what it says at INFO and above reaches the process's
    handlers (the reconciler's, which redact)."""
    sdk_logger = logging.getLogger(SDK_LOGGER_NAME)
    sdk_logger.setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))
    sdk_logger.propagate = True


# --- clients -----------------------------------------------------------------


@dataclass(frozen=True)
class ClientSettings:
    """How to build SDK clients; shared by every worker, each building its own."""

    credential: SigningCredential  # shared by every worker; renews itself
    endpoint: Endpoint
    request_timeout: float = 10.0
    origin: str = ""  # where the credentials came from, for fatal messages


class TrtcApi:
    """One worker's view of TRTC: one SDK client per region, never shared across threads."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}

    def _ready(self, region: str) -> Any:
        """The client for ``region``, its credentials renewed first if due: renewal
        happens between calls, never inside one (``CloudCallError`` if it fails)."""
        self._settings.credential.renew_if_due()
        return self._client(region)

    def _failed(self, exc: BaseException) -> CloudCallError:
        """``exc`` classified; a fatal error names where the credentials came from."""
        failure = _failure(exc, self._settings.endpoint)
        if failure.error_class is ErrorClass.FATAL and self._settings.origin:
            origin = self._settings.origin
            error = replace(
                failure.error, message=f"{failure.error.message} (credentials: {origin})"
            )
            return CloudCallError(error, ErrorClass.FATAL)
        return failure

    def _client(self, region: str) -> Any:
        client = self._clients.get(region)
        if client is None:
            sdk = _sdk()
            endpoint = self._settings.endpoint
            http_profile = sdk.HttpProfile(
                protocol=endpoint.scheme,
                endpoint=endpoint.host,
                reqTimeout=self._settings.request_timeout,
                keepAlive=True,
            )
            profile = sdk.ClientProfile(httpProfile=http_profile, disable_region_breaker=True)
            client = sdk.TrtcClient(self._settings.credential, region, profile)
            self._clients[region] = client
        return client

    def stop(self, *, sdk_app_id: int, task_id: str, region: str) -> str:
        """Call StopStreamIngest; returns the RequestId or raises CloudCallError."""
        request = _sdk().models.StopStreamIngestRequest()
        request.SdkAppId = sdk_app_id
        request.TaskId = task_id
        client = self._ready(region)
        try:
            response = client.StopStreamIngest(request)
        except Exception as exc:  # every failure is classified, none escapes raw
            raise self._failed(exc) from None
        return str(response.RequestId or "")

    def describe(self, *, sdk_app_id: int, task_id: str, region: str) -> LiveStatus:
        """Call DescribeStreamIngest; returns the live status or raises CloudCallError."""
        request = _sdk().models.DescribeStreamIngestRequest()
        request.SdkAppId = sdk_app_id
        request.TaskId = task_id
        client = self._ready(region)
        try:
            response = client.DescribeStreamIngest(request)
            return LiveStatus(response.Status)
        except Exception as exc:
            if isinstance(exc, ValueError) and not isinstance(exc, _sdk().SDKException):
                error = CallError("ValueError", f"unexpected Status in answer: {exc}")
                raise CloudCallError(error, classify(error.code)) from None
            raise self._failed(exc) from None
