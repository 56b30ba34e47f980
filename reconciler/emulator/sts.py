"""The emulated STS (service ``sts``, version ``2018-08-13``): ``AssumeRole`` for any
caller of the account and ``AssumeRoleWithWebIdentity`` for holders of an accepted
OIDC token, both for the configured roles, issuing temporary credentials that live
``min(DurationSeconds, credential TTL)`` seconds.

Answers have the real shape — ``Credentials{Token, TmpSecretId, TmpSecretKey}``,
``ExpiredTime`` (Unix seconds), ``Expiration`` (ISO 8601 UTC) — and refusals the
codes the STS reference lists: ``ResourceNotFound.RoleNotFound``,
``InvalidParameter.ParamError``, ``InvalidParameter.OverTimeError``,
``InvalidParameter.WebIdentityTokenError``. No I/O.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable, Mapping

from reconciler.emulator.api import (
    ActionRequest,
    ApiError,
    JsonDict,
    integer,
    only,
    require,
    utc_text,
)
from reconciler.emulator.auth import IssuedCredential, Keyring
from reconciler.emulator.config import (
    DEFAULT_CREDENTIAL_TTL,
    MAX_CREDENTIAL_TTL,
    ROLE_ARN,
    WebIdentity,
)

#: RoleSessionName: 2 to 128 of letters, digits and ``=,.@_-`` (AssumeRole reference).
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,128}$", re.ASCII)
_ASSUME_ROLE_FIELDS = (
    "RoleArn", "RoleSessionName", "DurationSeconds", "Policy", "ExternalId", "Tags",
    "SourceIdentity", "SerialNumber", "TokenCode",
)  # fmt: skip
_WEB_IDENTITY_FIELDS = (
    "ProviderId", "WebIdentityToken", "RoleArn", "RoleSessionName", "DurationSeconds",
)  # fmt: skip

Action = Callable[[ActionRequest], JsonDict]


def _param_error(message: str) -> ApiError:
    return ApiError("InvalidParameter.ParamError", message)


def _duration(request: ActionRequest) -> int:
    if "DurationSeconds" not in request.params:
        return DEFAULT_CREDENTIAL_TTL
    value = request.params["DurationSeconds"]
    seconds = integer(value, from_query=request.from_query)
    if seconds is None or seconds <= 0:
        raise _param_error(f"DurationSeconds must be a positive integer, got {value!r}.")
    if seconds > MAX_CREDENTIAL_TTL:
        raise ApiError(
            "InvalidParameter.OverTimeError",
            f"DurationSeconds {seconds} exceeds the maximum of {MAX_CREDENTIAL_TTL}.",
        )
    return seconds


def _answer(credential: IssuedCredential) -> JsonDict:
    return {
        "Credentials": {
            "Token": credential.token,
            "TmpSecretId": credential.secret_id,
            "TmpSecretKey": credential.secret_key,
        },
        "ExpiredTime": int(credential.expires_at),
        "Expiration": utc_text(credential.expires_at),
    }


def sts_actions(
    keyring: Keyring,
    *,
    roles: Iterable[str],
    web_identity: WebIdentity | None,
    credential_ttl: Callable[[], int],
) -> Mapping[str, Action]:
    """The STS actions by name; ``credential_ttl`` reads the current TTL setting."""
    known_roles = frozenset(roles)

    def issue(request: ActionRequest) -> JsonDict:
        params = request.params
        role, session = params["RoleArn"], params["RoleSessionName"]
        if not isinstance(role, str) or not ROLE_ARN.match(role):
            raise _param_error(f"RoleArn {role!r} is not a role ARN.")
        if role not in known_roles:
            raise ApiError("ResourceNotFound.RoleNotFound", f"The role {role} does not exist.")
        if not isinstance(session, str) or not SESSION_NAME.match(session):
            raise _param_error(
                "RoleSessionName must be 2 to 128 letters, digits or =,.@_- characters."
            )
        lifetime = min(_duration(request), credential_ttl())
        return _answer(keyring.issue(role_arn=role, session_name=session, lifetime=lifetime))

    def assume_role(request: ActionRequest) -> JsonDict:
        require(request.params, "RoleArn", "RoleSessionName")
        only(request.params, _ASSUME_ROLE_FIELDS)
        return issue(request)

    def assume_role_with_web_identity(request: ActionRequest) -> JsonDict:
        params = request.params
        require(params, "ProviderId", "WebIdentityToken", "RoleArn", "RoleSessionName")
        only(params, _WEB_IDENTITY_FIELDS)
        provider, token = params["ProviderId"], params["WebIdentityToken"]
        if web_identity is None or provider != web_identity.provider_id:
            raise _param_error(f"The identity provider {provider!r} is not configured.")
        if not isinstance(token, str) or not any(
            hmac.compare_digest(token.encode(), accepted.encode())
            for accepted in web_identity.tokens
        ):
            raise ApiError(
                "InvalidParameter.WebIdentityTokenError", "The web identity token is not valid."
            )
        return issue(request)

    return {
        "AssumeRole": assume_role,
        "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
    }
