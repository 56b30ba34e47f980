"""Temporary credentials from STS (service ``sts``, version ``2018-08-13``), through
the official SDK's public generic client, ``CommonClient``: ``AssumeRole`` signed by
base credentials, and ``AssumeRoleWithWebIdentity`` unsigned (``Authorization:
SKIP``, the SDK's ``SkipSign`` option), as the STS reference asks.

Why ``CommonClient`` and not ``tencentcloud-sdk-python-sts``'s ``StsClient``: the
generated ``StsClient.AssumeRoleWithWebIdentity`` always signs, so it would need the
very key web identity exists to do without; ``CommonClient`` is what the SDK's own
STS and OIDC credential providers call, and it adds no dependency. Those providers
do not fit as they are: they reach STS over HTTPS at one fixed host (no emulator, no
private endpoint), cannot assume a role on top of credentials that carry a session
token, and time renewal from the duration asked for, not the expiry answered.

Where STS is: ``--sts-endpoint`` when given; otherwise it follows ``--endpoint``:
the SDK's own ``sts.tencentcloudapi.com`` for the default, the ``sts.`` sibling of a
``trtc.`` host (``trtc.internal.tencentcloudapi.com`` →
``sts.internal.tencentcloudapi.com``), and the same host for anything else (the
emulator serves TRTC and STS on one port).

Every failure is a classified ``CloudCallError``: transient ones (network, internal
errors, throttling — ``classify`` decides) can be retried; anything else about a
role (unknown role, refused token, refused base credentials) is fatal for the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.credentials.renewing import Issued
from reconciler.domain import CallError, ErrorClass
from reconciler.errors import CloudCallError
from reconciler.trtc import Endpoint, SigningCredential, as_call_error, classify

STS_SERVICE = "sts"
STS_VERSION = "2018-08-13"
#: The region the SDK's own STS credential provider names (STS is a global service).
STS_REGION = "ap-guangzhou"
DEFAULT_SESSION_NAME = "trtc-ingest-reconciler"
DEFAULT_DURATION_SECONDS = 7200
MAX_DURATION_SECONDS = 43200


@dataclass(frozen=True)
class Role:
    """A CAM role to assume, and how."""

    arn: str
    session_name: str = DEFAULT_SESSION_NAME
    duration: int = DEFAULT_DURATION_SECONDS  # DurationSeconds asked for


@dataclass(frozen=True)
class StsSettings:
    """Where STS is and how long to wait for it."""

    endpoint: Endpoint
    request_timeout: float = 10.0
    region: str = STS_REGION


def sts_endpoint(trtc: Endpoint, override: Endpoint | None = None) -> Endpoint:
    """STS's endpoint: the override, else derived from TRTC's (see the module docstring)."""
    if override is not None:
        return override
    if trtc.host is not None and trtc.host.startswith("trtc."):
        return Endpoint(scheme=trtc.scheme, host="sts." + trtc.host.removeprefix("trtc."))
    return trtc


def assume_role(base: SigningCredential, role: Role, *, sts: StsSettings) -> Issued:
    """``AssumeRole`` signed with ``base`` (renewed first if it is due)."""
    base.renew_if_due()
    params = {
        "RoleArn": role.arn,
        "RoleSessionName": role.session_name,
        "DurationSeconds": role.duration,
    }
    return _call("AssumeRole", params, role=role, credential=base, sts=sts)


def assume_role_with_web_identity(
    token: str, role: Role, *, provider_id: str, sts: StsSettings
) -> Issued:
    """``AssumeRoleWithWebIdentity`` for an OIDC ``token``: no key, no signature."""
    params = {
        "ProviderId": provider_id,
        "WebIdentityToken": token,
        "RoleArn": role.arn,
        "RoleSessionName": role.session_name,
        "DurationSeconds": role.duration,
    }
    return _call("AssumeRoleWithWebIdentity", params, role=role, credential=None, sts=sts)


def _call(
    action: str,
    params: dict[str, Any],
    *,
    role: Role,
    credential: SigningCredential | None,
    sts: StsSettings,
) -> Issued:
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    http_profile = HttpProfile(
        protocol=sts.endpoint.scheme, endpoint=sts.endpoint.host, reqTimeout=sts.request_timeout
    )
    profile = ClientProfile(httpProfile=http_profile, disable_region_breaker=True)
    client = CommonClient(STS_SERVICE, STS_VERSION, credential, sts.region, profile=profile)
    options = {"SkipSign": True} if credential is None else None
    try:
        answer = client.call_json(action, params, options=options)
    except Exception as exc:  # every failure is classified, none escapes raw
        raise _failure(action, role, as_call_error(exc)) from None
    try:
        return _issued(answer["Response"])
    except (KeyError, TypeError, ValueError):
        error = CallError("InvalidResponse", "the answer has no usable Credentials/ExpiredTime")
        raise _failure(action, role, error) from None


def _issued(response: dict[str, Any]) -> Issued:
    credentials = response["Credentials"]
    secret_id, secret_key, token = (
        credentials["TmpSecretId"],
        credentials["TmpSecretKey"],
        credentials["Token"],
    )
    if not all(isinstance(value, str) and value for value in (secret_id, secret_key, token)):
        raise ValueError("empty credentials")
    return Issued(secret_id, secret_key, token, expires_at=float(response["ExpiredTime"]))


def _failure(action: str, role: Role, error: CallError) -> CloudCallError:
    transient = classify(error.code).transient
    named = CallError(
        code=error.code,
        message=f"sts:{action} for {role.arn}: {error.message}",
        request_id=error.request_id,
    )
    return CloudCallError(named, ErrorClass.RETRYABLE if transient else ErrorClass.FATAL)
