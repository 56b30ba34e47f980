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

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from reconciler.clock import SYSTEM_CLOCK, Clock, rfc3339
from reconciler.credentials import instance, profiles, sts
from reconciler.credentials.renewing import Issued, RenewingCredential
from reconciler.errors import CloudCallError, CloudSetupError
from reconciler.trtc import Endpoint, SigningCredential, parse_endpoint

log = structlog.get_logger("reconciler.credentials")

TOKEN_ENVIRONMENT = ("TENCENTCLOUD_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN")
ROLE_ENVIRONMENT = "TENCENTCLOUD_ASSUME_ROLE_ARN"
SESSION_NAME_ENVIRONMENT = "TENCENTCLOUD_ASSUME_ROLE_SESSION_NAME"
DURATION_ENVIRONMENT = "TENCENTCLOUD_ASSUME_ROLE_SESSION_DURATION"
WEB_TOKEN_FILE_ENVIRONMENT = "TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN_FILE"
WEB_TOKEN_ENVIRONMENT = "TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN"
PROVIDER_ENVIRONMENT = "TENCENTCLOUD_ASSUME_ROLE_PROVIDER_ID"
STS_ENDPOINT_ENVIRONMENT = "RECONCILER_STS_ENDPOINT"
TKE_ENVIRONMENT = ("TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE", "TKE_ROLE_ARN")
#: The Terraform provider's default OIDC provider id.
DEFAULT_PROVIDER_ID = "OIDC"
ROLE_ARN = re.compile(r"^qcs::cam::uin/\d+:(?:roleName|role)/\S+$")
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,128}$", re.ASCII)
_METADATA_PROBE_TIMEOUT = 2.0
_MAX_TOKEN_BYTES = 64 * 1024


@dataclass(frozen=True)
class CredentialOptions:
    """What the command line says about credentials (None: not given). Never a secret."""

    profile: str | None = None
    assume_role: str | None = None
    session_name: str | None = None
    duration: int | None = None  # seconds
    web_identity_token_file: str | None = None
    web_identity_provider: str | None = None
    sts_endpoint: str | None = None


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
class _Found:
    """A source's credentials, before any role is assumed with them."""

    credential: SigningCredential
    origin: str
    identity: str
    is_role: bool = False  # web identity and TKE OIDC: already a role's credentials
    profile: profiles.TccliProfile | None = None  # its role-arn may name a role


@dataclass(frozen=True)
class Source:
    """One link of the chain: its name, how a user provides it, how to look for it."""

    name: str
    how: str
    find: Callable[[_Context], _Found | None]


@dataclass
class _Context:
    options: CredentialOptions
    environ: Mapping[str, str]
    sts: sts.StsSettings
    clock: Clock
    on_secrets: Callable[[Iterable[str]], None] | None
    tried: list[str] = field(default_factory=list)

    def env(self, name: str) -> str | None:
        return self.environ.get(name) or None

    def renewing(self, fetch: Callable[[], Issued], describe: str) -> RenewingCredential:
        return RenewingCredential(fetch, describe=describe, clock=self.clock, on_issue=self._issue)

    def _issue(self, issued: Issued) -> None:
        if self.on_secrets is not None:
            self.on_secrets(issued.secrets)


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
    context = _Context(options, environ, settings, clock, on_secrets)
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


# --- the role on top -----------------------------------------------------------------


def _role(context: _Context, profile: profiles.TccliProfile | None = None) -> sts.Role | None:
    options, env = context.options, context.env
    arn = options.assume_role or env(ROLE_ENVIRONMENT) or (profile.role_arn if profile else None)
    if arn is None:
        return None
    if not ROLE_ARN.match(arn):
        raise CloudSetupError(
            f"role {arn!r} is not a CAM role ARN (qcs::cam::uin/ACCOUNT:roleName/NAME)"
        )
    session = (
        options.session_name
        or env(SESSION_NAME_ENVIRONMENT)
        or (profile.role_session_name if profile else None)
        or sts.DEFAULT_SESSION_NAME
    )
    if not SESSION_NAME.match(session):
        raise CloudSetupError(
            f"role session name {session!r}: use 2 to 128 letters, digits or =,.@_- characters"
        )
    duration = options.duration or _duration(env(DURATION_ENVIRONMENT))
    return sts.Role(arn=arn, session_name=session, duration=duration)


def _duration(text: str | None) -> int:
    if text is None:
        return sts.DEFAULT_DURATION_SECONDS
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= sts.MAX_DURATION_SECONDS:
        raise CloudSetupError(
            f"{DURATION_ENVIRONMENT}={text!r}: give whole seconds, 1 to {sts.MAX_DURATION_SECONDS}"
        )
    return seconds


def _with_role(found: _Found, context: _Context) -> CredentialSource:
    role = None if found.is_role else _role(context, found.profile)
    if role is None:
        return CredentialSource(found.credential, found.origin, found.identity)
    base, settings = found.credential, context.sts
    origin = f"role {role.arn} assumed with credentials from {found.origin}"
    credential = context.renewing(
        lambda: sts.assume_role(base, role, sts=settings), f"role {role.arn}"
    )
    return CredentialSource(credential, origin, role.arn)


# --- the sources ---------------------------------------------------------------------


def _web_identity(context: _Context) -> _Found | None:
    token_file = context.options.web_identity_token_file or context.env(WEB_TOKEN_FILE_ENVIRONMENT)
    token = context.env(WEB_TOKEN_ENVIRONMENT)
    if token_file is None and token is None:
        return None
    role = _role(context)
    if role is None:
        raise CloudSetupError(
            f"web identity needs the role to assume: --assume-role ARN or {ROLE_ENVIRONMENT}"
        )
    provider = (
        context.options.web_identity_provider
        or context.env(PROVIDER_ENVIRONMENT)
        or DEFAULT_PROVIDER_ID
    )
    where = f"web identity token file {token_file}" if token_file else WEB_TOKEN_ENVIRONMENT
    return _oidc(context, role, provider, token_file=token_file, token=token, where=where)


def _tke_oidc(context: _Context) -> _Found | None:
    values = [context.env(name) for name in TKE_ENVIRONMENT]
    if not all(values):
        return None
    region, provider, token_file, arn = (str(value) for value in values)
    role = sts.Role(arn=arn)
    settings = sts.StsSettings(context.sts.endpoint, context.sts.request_timeout, region=region)
    tke = _Context(context.options, context.environ, settings, context.clock, context.on_secrets)
    return _oidc(tke, role, provider, token_file=token_file, token=None, where="TKE OIDC")


def _oidc(
    context: _Context,
    role: sts.Role,
    provider: str,
    *,
    token_file: str | None,
    token: str | None,
    where: str,
) -> _Found:
    settings = context.sts

    def fetch() -> Issued:
        # Re-read at every renewal: projected service-account and CI tokens rotate.
        oidc_token = read_web_identity_token(Path(token_file)) if token_file else str(token)
        return sts.assume_role_with_web_identity(
            oidc_token, role, provider_id=provider, sts=settings
        )

    credential = context.renewing(fetch, f"role {role.arn} (web identity)")
    origin = f"role {role.arn} assumed with {where} (provider {provider})"
    return _Found(credential, origin, role.arn, is_role=True)


def read_web_identity_token(path: Path) -> str:
    """The OIDC token in ``path``: the raw token (what CI systems and TKE write), or the
    Terraform provider's ``{"web_identity_token": "…"}``."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CloudSetupError(f"cannot read web identity token file {path}: {reason}") from None
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            document: Any = json.loads(text)
        except json.JSONDecodeError:
            document = None
        value = document.get("web_identity_token") if isinstance(document, dict) else None
        text = value.strip() if isinstance(value, str) else ""
    if not text or len(raw) > _MAX_TOKEN_BYTES:
        raise CloudSetupError(f"web identity token file {path} holds no token")
    return text


def _named_profile(context: _Context) -> _Found | None:
    name = context.options.profile
    return None if name is None else _profile(context, name, required=True)


def _environment_profile(context: _Context) -> _Found | None:
    name = profiles.profile_from_environment(context.environ)
    return _profile(context, name or profiles.DEFAULT_PROFILE, required=name is not None)


def _profile(context: _Context, name: str, *, required: bool) -> _Found | None:
    directory = profiles.credentials_directory(context.environ)
    profile = profiles.read_profile(name, directory)
    shown = profiles.describe_path(profiles.profile_path(name, directory), context.environ)
    if profile is None:
        if required:
            raise CloudSetupError(
                f"profile {name!r}: {shown} does not exist (write it with "
                f"`tccli configure --profile {name}`, or set {profiles.DIRECTORY_ENVIRONMENT})"
            )
        return None
    origin = f"profile {name!r} ({shown})"
    if profile.kind == "cvm-role":
        role = _cvm_role()
        if role is None:
            raise CloudSetupError(f"{origin} says to use the CVM role, but no CVM role answered")
        return replace(role, origin=f"{origin}: {role.origin}", profile=profile)
    assert profile.secret_id is not None and profile.secret_key is not None
    _check_keys(profile.secret_id, profile.secret_key, where=origin)
    if profile.expires_at is None:
        issued = Issued(profile.secret_id, profile.secret_key, profile.token)
        credential = context.renewing(lambda: issued, origin)
    else:
        credential = context.renewing(_ProfileReader(profile, context.clock), origin)
    return _Found(credential, origin, profile.secret_id, profile=profile)


class _ProfileReader:
    """A temporary (sso / oauth) profile, read again at each renewal: tccli refreshes
    the file when it runs, so a long ``run`` picks up what tccli wrote."""

    def __init__(self, profile: profiles.TccliProfile, clock: Clock) -> None:
        self._name, self._directory = profile.name, profile.path.parent
        self._clock = clock
        self._last_expiry: float | None = None

    def __call__(self) -> Issued:
        fresh = profiles.read_profile(self._name, self._directory)
        if fresh is None or fresh.expires_at is None or not (fresh.secret_id and fresh.secret_key):
            raise profiles.profile_failure(self._name, "is gone or no longer temporary", fatal=True)
        hint = f"refresh it: {fresh.refresh_hint}"
        if fresh.expires_at <= self._clock.wall():
            when = rfc3339(fresh.expires_at)
            raise profiles.profile_failure(self._name, f"expired at {when}; {hint}", fatal=True)
        if fresh.expires_at == self._last_expiry:
            when = rfc3339(fresh.expires_at)
            raise profiles.profile_failure(self._name, f"expires at {when}; {hint}", fatal=False)
        self._last_expiry = fresh.expires_at
        return Issued(fresh.secret_id, fresh.secret_key, fresh.token, expires_at=fresh.expires_at)


def _environment(context: _Context) -> _Found | None:
    secret_id, secret_key = (
        context.env("TENCENTCLOUD_SECRET_ID"),
        context.env("TENCENTCLOUD_SECRET_KEY"),
    )
    if secret_id is None or secret_key is None:
        return None
    where = "TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY"
    _check_keys(secret_id, secret_key, where=where)
    issued = Issued(secret_id, secret_key, _environment_token(context))
    return _Found(context.renewing(lambda: issued, "environment"), "environment", secret_id)


def _environment_token(context: _Context) -> str | None:
    return next((token for name in TOKEN_ENVIRONMENT if (token := context.env(name))), None)


def _sdk_profile_file(context: _Context) -> _Found | None:
    from tencentcloud.common.credential import ProfileCredential

    found = ProfileCredential().get_credential()
    if found is None:
        return None
    origin = "the SDK profile file (~/.tencentcloud/credentials or /etc/tencentcloud/credentials)"
    _check_keys(found.secret_id, found.secret_key, where=origin)
    issued = Issued(found.secret_id, found.secret_key, _environment_token(context))
    return _Found(context.renewing(lambda: issued, origin), origin, found.secret_id)


def _cvm_source(context: _Context) -> _Found | None:
    return _cvm_role()


def _cvm_role() -> _Found | None:
    role = instance.probe_cvm_role(timeout=_METADATA_PROBE_TIMEOUT)
    if role is None:
        return None
    return _Found(role, f"the CVM instance role {role.role_name!r}", f"cvm-role:{role.role_name}")


def _check_keys(secret_id: str, secret_key: str, *, where: str) -> None:
    # The SDK's own rule (its Credential refuses these), said once, with the place.
    for what, value in (("SecretId", secret_id), ("SecretKey", secret_key)):
        if not value.strip() or value.strip() != value or any(c.isspace() for c in value):
            raise CloudSetupError(f"{where}: the {what} is empty or contains spaces")


SOURCES: tuple[Source, ...] = (
    Source(
        "web identity (OIDC)",
        f"--web-identity-token-file PATH (or {WEB_TOKEN_FILE_ENVIRONMENT}, or the token in "
        f"{WEB_TOKEN_ENVIRONMENT}) with --assume-role ARN (or {ROLE_ENVIRONMENT}) and "
        f"--web-identity-provider ID (or {PROVIDER_ENVIRONMENT}; default {DEFAULT_PROVIDER_ID})",
        _web_identity,
    ),
    Source("named profile", "--profile NAME (tccli's NAME.credential)", _named_profile),
    Source(
        "environment",
        "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (a session token in "
        "TENCENTCLOUD_TOKEN or TENCENTCLOUD_SECURITY_TOKEN)",
        _environment,
    ),
    Source(
        "tccli profile",
        "TENCENTCLOUD_PROFILE (or TCCLI_PROFILE), else 'default': NAME.credential in "
        f"{profiles.DIRECTORY_ENVIRONMENT} or ~/.tccli, as `tccli configure` writes it",
        _environment_profile,
    ),
    Source(
        "SDK profile file",
        "~/.tencentcloud/credentials or /etc/tencentcloud/credentials ([default] secret_id, "
        "secret_key)",
        _sdk_profile_file,
    ),
    Source("CVM instance role", "a CAM role bound to this CVM instance", _cvm_source),
    Source("TKE OIDC", ", ".join(TKE_ENVIRONMENT) + " (set by TKE in the pod)", _tke_oidc),
)
