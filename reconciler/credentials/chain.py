"""Where the credentials come from: the one place that decides the chain and its order.

The first source that is configured wins (``SOURCES``, in this order; the README's
table is this list):

    1. web identity     an OIDC token file (``--web-identity-token-file`` /
                        TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN_FILE, or the token
                        in TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN) with a role
                        ARN: AssumeRoleWithWebIdentity, no stored key at all
    2. --profile NAME   tccli's NAME.credential, named on the command line
    3. environment      TENCENTCLOUD_SECRET_ID / _SECRET_KEY, with a session token
                        from TENCENTCLOUD_TOKEN or TENCENTCLOUD_SECURITY_TOKEN
    4. tccli profile    TENCENTCLOUD_PROFILE (or TCCLI_PROFILE), else ``default``, in
                        TENCENTCLOUD_SHARED_CREDENTIALS_DIR or ~/.tccli
    5. SDK profile file ~/.tencentcloud/credentials or /etc/tencentcloud/credentials
    6. CVM role         the instance's CAM role, from the metadata service
    7. TKE OIDC         TKE_REGION, TKE_PROVIDER_ID, TKE_WEB_IDENTITY_TOKEN_FILE,
                        TKE_ROLE_ARN (what TKE injects into a pod)

Then the role: when one is named (``--assume-role``, TENCENTCLOUD_ASSUME_ROLE_ARN,
or the profile's ``role-arn``), the credentials of 2–6 assume it through STS and
the run signs with the role's. Web identity and TKE OIDC already are a role. A
profile or environment variable that is named but unusable is an error, not a
reason to try the next source; only the implicit ``default`` profile may be absent.

Resolving fetches the first temporary credentials at once, so a wrong role or a
refused token fails before any task is tried, with one message; later renewals
happen between calls (``renewing``). With no source at all, one message lists each
source tried and how to provide it. Never a secret in a message or a log line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from reconciler.clock import SYSTEM_CLOCK, Clock
from reconciler.credentials import profiles, sts
from reconciler.credentials.renewing import Issued, RenewingCredential
from reconciler.credentials.sources import (
    DEFAULT_PROVIDER_ID,
    PROVIDER_ENVIRONMENT,
    ROLE_ENVIRONMENT,
    STS_ENDPOINT_ENVIRONMENT,
    TKE_ENVIRONMENT,
    WEB_TOKEN_ENVIRONMENT,
    WEB_TOKEN_FILE_ENVIRONMENT,
    Context,
    CredentialOptions,
    Found,
    cvm_source,
    environment,
    environment_profile,
    named_profile,
    named_role,
    sdk_profile_file,
    tke_oidc,
    web_identity,
)
from reconciler.errors import CloudCallError, CloudSetupError
from reconciler.trtc import Endpoint, SigningCredential, parse_endpoint

log = structlog.get_logger("reconciler.credentials")

__all__ = ["SOURCES", "CredentialOptions", "CredentialSource", "Source", "resolve"]


@dataclass(frozen=True)
class CredentialSource:
    """Resolved credentials: the object clients sign with, where they came from, and
    whose they are — never their secret values (except for redaction)."""

    credential: SigningCredential
    origin: str  # "environment", "profile 'ci' (~/.tccli/ci.credential)", "role … via …"
    #: A stable, non-secret name for whose credentials these are: the SecretId of
    #: long-term keys, or the role's ARN (temporary SecretIds change on each renewal).
    identity: str

    @property
    def secret_id(self) -> str | None:
        """The SecretId calls are signed with now (not a secret)."""
        current = _current(self.credential)
        return current.secret_id if current is not None else None

    def secret_values(self) -> tuple[str, ...]:
        """The current secret key and token, so that log redaction can scrub them."""
        current = _current(self.credential)
        return current.secrets if current is not None else ()


def _current(credential: SigningCredential) -> Issued | None:
    return credential.current if isinstance(credential, RenewingCredential) else None


@dataclass(frozen=True)
class Source:
    """One link of the chain: its name, how a user provides it, how to look for it."""

    name: str
    how: str
    find: Callable[[Context], Found | None]


def resolve(
    options: CredentialOptions,
    *,
    environ: Mapping[str, str],
    endpoint: Endpoint,
    request_timeout: float = 10.0,
    clock: Clock = SYSTEM_CLOCK,
    on_secrets: Callable[[Iterable[str]], None] | None = None,
) -> CredentialSource:
    """The credentials the chain finds, first temporary ones already fetched.

    Raises ``CloudSetupError``: nothing found (listing every source), a named source
    unusable, or STS refusing the role or token.
    """
    override = options.sts_endpoint or environ.get(STS_ENDPOINT_ENVIRONMENT)
    settings = sts.StsSettings(
        endpoint=sts.sts_endpoint(endpoint, parse_endpoint(override) if override else None),
        request_timeout=request_timeout,
    )
    context = Context(options, environ, settings, clock, on_secrets)
    found = next((f for source in SOURCES if (f := source.find(context)) is not None), None)
    if found is None:
        raise CloudSetupError(no_credentials_message())
    source = _with_role(found, context)
    try:
        source.credential.renew_if_due()
    except CloudCallError as exc:
        raise CloudSetupError(_refusal(source.origin, exc)) from None
    log.info("credentials found", source=source.origin)
    return source


def no_credentials_message() -> str:
    lines = [f"  {number}. {source.name}: {source.how}" for number, source in enumerate(SOURCES, 1)]
    return "no Tencent Cloud credentials found; tried, in order:\n" + "\n".join(lines)


_REFUSAL_HINTS = {
    "ResourceNotFound.RoleNotFound": "no such role: check the role ARN",
    "InvalidParameter.WebIdentityTokenError": "the OIDC token was refused: expired, or not "
    "issued for this identity provider and role",
    "InvalidParameter.OverTimeError": "the session duration is longer than the role allows",
    "ProfileExpired": "its temporary credentials have expired",
}


def _refusal(origin: str, exc: CloudCallError) -> str:
    code = exc.error.code
    hint = _REFUSAL_HINTS.get(code)
    if hint is None and code.startswith(("AuthFailure", "UnauthorizedOperation")):
        hint = "the credentials that assume the role were refused, or lack sts:AssumeRole"
    return f"cannot get credentials from {origin}: {hint or code} [{code}: {exc.error.message}]"


def _with_role(found: Found, context: Context) -> CredentialSource:
    role = None if found.is_role else named_role(context, found.profile)
    if role is None:
        return CredentialSource(found.credential, found.origin, found.identity)
    base, settings = found.credential, context.sts
    origin = f"role {role.arn} assumed with credentials from {found.origin}"
    credential = context.renewing(
        lambda: sts.assume_role(base, role, sts=settings), f"role {role.arn}"
    )
    return CredentialSource(credential, origin, role.arn)


SOURCES: tuple[Source, ...] = (
    Source(
        "web identity (OIDC)",
        f"--web-identity-token-file PATH (or {WEB_TOKEN_FILE_ENVIRONMENT}, or the token in "
        f"{WEB_TOKEN_ENVIRONMENT}) with --assume-role ARN (or {ROLE_ENVIRONMENT}) and "
        f"--web-identity-provider ID (or {PROVIDER_ENVIRONMENT}; default {DEFAULT_PROVIDER_ID})",
        web_identity,
    ),
    Source("named profile", "--profile NAME (tccli's NAME.credential)", named_profile),
    Source(
        "environment",
        "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (a session token in "
        "TENCENTCLOUD_TOKEN or TENCENTCLOUD_SECURITY_TOKEN)",
        environment,
    ),
    Source(
        "tccli profile",
        "TENCENTCLOUD_PROFILE (or TCCLI_PROFILE), else 'default': NAME.credential in "
        f"{profiles.DIRECTORY_ENVIRONMENT} or ~/.tccli, as `tccli configure` writes it",
        environment_profile,
    ),
    Source(
        "SDK profile file",
        "~/.tencentcloud/credentials or /etc/tencentcloud/credentials ([default] secret_id, "
        "secret_key)",
        sdk_profile_file,
    ),
    Source("CVM instance role", "a CAM role bound to this CVM instance", cvm_source),
    Source("TKE OIDC", ", ".join(TKE_ENVIRONMENT) + " (set by TKE in the pod)", tke_oidc),
)
