"""The TRTC adapter: the only module that imports the official Tencent Cloud SDK.

It turns the SDK's behaviour into the reconciler's terms — endpoints, credentials,
one client per worker, and above all the classification of every error the cloud
(or the road to it) can answer. The tree, decided in exactly one place
(``classify``):

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
    ├── FATAL         AuthFailure*, UnauthorizedOperation*, InvalidCredential —
    │                 the whole run stops sending requests at once.
    └── TASK_FAILED   InvalidParameter*, InvalidParameterValue*, MissingParameter,
                      UnsupportedRegion, and any code not listed above — this
                      task fails, the others go on.

Known traps of the official SDK, each observed and handled here: it does not retry
by default and its own retryer has no jitter (we never enable it; the engine owns
retries); its logger prints whole requests with the Authorization and X-TC-Token
headers at DEBUG (``silence_sdk_logger`` pins it above DEBUG, so no such record is
ever made); its environment provider reads no session token (we add
``TENCENTCLOUD_TOKEN`` / ``TENCENTCLOUD_SECURITY_TOKEN``); with nothing configured
its default chain ends in an ``OSError`` about ``TKE_REGION`` (we say "no
credentials" once, listing what was tried); ``HttpProfile.protocol`` must be given
at construction; the region breaker stays off (when open it sends traffic to the
real Tencent domain); and clients are not shared between threads.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import socket
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from reconciler.domain import CallError, ErrorClass, LiveStatus
from reconciler.errors import CloudCallError, CloudSetupError

SDK_LOGGER_NAME = "tencentcloud_sdk_common"
TOKEN_ENVIRONMENT = ("TENCENTCLOUD_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN")
_METADATA_PROBE_TIMEOUT = 2.0
#: Keys the account tag's hash, so the tag cannot be looked up in a table of hashes.
_ACCOUNT_TAG_KEY = b"trtc-ingest-reconciler quota group"


@functools.cache
def _sdk() -> Any:
    """The official SDK, imported on first use: ``plan`` without ``--refresh`` and the
    state commands never need it, and it costs a fifth of a second to import."""
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    return types.SimpleNamespace(
        credential=credential,
        SDKException=TencentCloudSDKException,
        ClientProfile=ClientProfile,
        HttpProfile=HttpProfile,
        models=models,
        TrtcClient=trtc_client.TrtcClient,
    )


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


def describe_fatal(error: CallError) -> str:
    """A message that names the credential problem behind a fatal error."""
    hints = {
        "AuthFailure.SecretIdNotFound": "the SecretId is unknown (check TENCENTCLOUD_SECRET_ID)",
        "AuthFailure.SignatureFailure": "the signature was refused: "
        "the SecretKey does not match the SecretId (check TENCENTCLOUD_SECRET_KEY)",
        "AuthFailure.SignatureExpire": "the request signature expired: check the system clock",
        "AuthFailure.TokenFailure": "the session token was refused "
        "(check TENCENTCLOUD_TOKEN / TENCENTCLOUD_SECURITY_TOKEN, or that it has not expired)",
        "AuthFailure.InvalidSecretId": "the SecretId is malformed (check TENCENTCLOUD_SECRET_ID)",
        "AuthFailure.SecretIdForbidden": "the SecretId is disabled",
        "AuthFailure.UnauthorizedOperation": "the credentials lack permission "
        "for trtc:StopStreamIngest",
    }
    if error.code in hints:
        what = hints[error.code]
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


@dataclass(frozen=True)
class CredentialSource:
    """Resolved credentials plus where they came from (never their values)."""

    credential: Any  # an SDK credential object
    origin: str

    def account_tag(self) -> str:
        """A short, stable tag of the account these credentials act for, that reveals
        nothing of them: 12 hex digits of a keyed hash of the role's account (a role
        ARN names it, ``uin/…``), the CVM role, or else the SecretId. Runners with the
        same tag share a quota group by default."""
        credential = self.credential
        arn = getattr(credential, "_role_arn", None)
        account = re.search(r"uin/(\d+)", arn) if isinstance(arn, str) else None
        if account is not None:
            identity = f"uin:{account[1]}"
        elif isinstance(getattr(credential, "role", None), str):
            identity = f"cvm-role:{credential.role}"
        else:
            identity = f"secret-id:{getattr(credential, 'secret_id', '')}"
        digest = hmac.new(_ACCOUNT_TAG_KEY, identity.encode(), hashlib.sha256).hexdigest()
        return digest[:12]

    def secret_values(self) -> tuple[str, ...]:
        """The secret key and token, so that log redaction can scrub them."""
        try:
            _, key, token = self.credential.get_credential_info()
        except Exception:  # a role credential that cannot refresh now
            return ()
        return tuple(value for value in (key, token) if value)


def resolve_credentials(environ: Mapping[str, str] | None = None) -> CredentialSource:
    """Find credentials through the SDK's providers, plus a session token from env.

    Order (the SDK's default chain): environment variables, profile file, CVM
    instance role, TKE OIDC. Raises CloudSetupError listing what was tried.
    """
    env = os.environ if environ is None else environ
    sdk = _sdk()
    sdk_credential = sdk.credential
    token = next((env[name] for name in TOKEN_ENVIRONMENT if env.get(name)), None)
    secret_id = env.get("TENCENTCLOUD_SECRET_ID")
    secret_key = env.get("TENCENTCLOUD_SECRET_KEY")
    if secret_id and secret_key:
        try:
            cred = sdk_credential.Credential(secret_id, secret_key, token)
        except sdk.SDKException as exc:
            raise CloudSetupError(
                f"TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY are malformed: {exc.message}"
            ) from None
        return CredentialSource(cred, "environment")
    profile = sdk_credential.ProfileCredential().get_credential()
    if profile is not None:
        if token:
            profile = sdk_credential.Credential(profile.secret_id, profile.secret_key, token)
        return CredentialSource(profile, "profile file")
    role = _probe_cvm_role()
    if role is not None:
        return CredentialSource(role, "CVM instance role")
    try:
        oidc = sdk_credential.DefaultTkeOIDCRoleArnProvider().get_credential()
    except (OSError, sdk.SDKException, KeyError, ValueError):
        oidc = None
    if oidc is not None:
        return CredentialSource(oidc, "TKE OIDC role")
    raise CloudSetupError(
        "no Tencent Cloud credentials found; tried: environment variables "
        "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (with TENCENTCLOUD_TOKEN or "
        "TENCENTCLOUD_SECURITY_TOKEN for a session token), the profile file "
        "~/.tencentcloud/credentials or /etc/tencentcloud/credentials, a CVM instance role, "
        "and TKE OIDC (TKE_REGION, TKE_PROVIDER_ID, TKE_WEB_IDENTITY_TOKEN_FILE, TKE_ROLE_ARN)"
    )


def _probe_cvm_role() -> Any:
    # The SDK asks the metadata service with no timeout; bound it so a machine
    # off Tencent Cloud never hangs here.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_METADATA_PROBE_TIMEOUT)
    try:
        return _sdk().credential.CVMRoleCredential().get_credential()
    except Exception:
        return None
    finally:
        socket.setdefaulttimeout(previous)


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

    credentials: CredentialSource
    endpoint: Endpoint
    request_timeout: float = 10.0


class TrtcApi:
    """One worker's view of TRTC: one SDK client per region, never shared across threads."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}

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
            client = sdk.TrtcClient(self._settings.credentials.credential, region, profile)
            self._clients[region] = client
        return client

    def stop(self, *, sdk_app_id: int, task_id: str, region: str) -> str:
        """Call StopStreamIngest; returns the RequestId or raises CloudCallError."""
        request = _sdk().models.StopStreamIngestRequest()
        request.SdkAppId = sdk_app_id
        request.TaskId = task_id
        try:
            response = self._client(region).StopStreamIngest(request)
        except Exception as exc:  # every failure is classified, none escapes raw
            error = _sdk_error(exc)
            raise CloudCallError(error, classify(error.code)) from None
        return str(response.RequestId or "")

    def describe(self, *, sdk_app_id: int, task_id: str, region: str) -> LiveStatus:
        """Call DescribeStreamIngest; returns the live status or raises CloudCallError."""
        request = _sdk().models.DescribeStreamIngestRequest()
        request.SdkAppId = sdk_app_id
        request.TaskId = task_id
        try:
            response = self._client(region).DescribeStreamIngest(request)
            return LiveStatus(response.Status)
        except Exception as exc:
            error = _sdk_error(exc)
            if isinstance(exc, ValueError) and not isinstance(exc, _sdk().SDKException):
                error = CallError("ValueError", f"unexpected Status in answer: {exc}")
            raise CloudCallError(error, classify(error.code)) from None
