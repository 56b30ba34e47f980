"""The sources of the credential chain, each a function from the chain's context to
its credentials (None when it is not configured), and the role a source's
credentials assume. ``chain`` decides their order; nothing here does.

Reads flags (``CredentialOptions``), the environment (the Terraform provider's and
tccli's variable names), tccli's files and the SDK's providers. Each source wraps
what it finds in a ``RenewingCredential`` (or the SDK's self-renewing CVM role), so
every credential renews the same way.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.clock import Clock, rfc3339
from reconciler.credentials import instance, profiles, sts
from reconciler.credentials.renewing import Issued, RenewingCredential
from reconciler.errors import CloudSetupError
from reconciler.reading import Unreadable, read_bytes
from reconciler.trtc import SigningCredential

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
#: Where the SDK's ``ProfileCredential`` looks, in its order.
SDK_PROFILE_FILES = ("~/.tencentcloud/credentials", "/etc/tencentcloud/credentials")


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
class Found:
    """A source's credentials, before any role is assumed with them."""

    credential: SigningCredential
    origin: str
    identity: str
    is_role: bool = False  # web identity and TKE OIDC: already a role's credentials
    profile: profiles.TccliProfile | None = None  # its role-arn may name a role


@dataclass(frozen=True)
class Context:
    """What every source may read, and how it wraps what it finds."""

    options: CredentialOptions
    environ: Mapping[str, str]
    sts: sts.StsSettings
    clock: Clock
    on_secrets: Callable[[Iterable[str]], None] | None

    def env(self, name: str) -> str | None:
        return self.environ.get(name) or None

    def renewing(self, fetch: Callable[[], Issued], describe: str) -> RenewingCredential:
        return RenewingCredential(fetch, describe=describe, clock=self.clock, on_issue=self._issue)

    def _issue(self, issued: Issued) -> None:
        if self.on_secrets is not None:
            self.on_secrets(issued.secrets)


def named_role(context: Context, profile: profiles.TccliProfile | None = None) -> sts.Role | None:
    """The role to assume, if one is named: flag, then environment, then the profile."""
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


def web_identity(context: Context) -> Found | None:
    token_file = context.options.web_identity_token_file or context.env(WEB_TOKEN_FILE_ENVIRONMENT)
    token = context.env(WEB_TOKEN_ENVIRONMENT)
    if token_file is None and token is None:
        return None
    role = named_role(context)
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


def tke_oidc(context: Context) -> Found | None:
    values = [context.env(name) for name in TKE_ENVIRONMENT]
    if not all(values):
        return None
    region, provider, token_file, arn = (str(value) for value in values)
    role = sts.Role(arn=arn)
    settings = sts.StsSettings(context.sts.endpoint, context.sts.request_timeout, region=region)
    tke = Context(context.options, context.environ, settings, context.clock, context.on_secrets)
    return _oidc(tke, role, provider, token_file=token_file, token=None, where="TKE OIDC")


def _oidc(
    context: Context,
    role: sts.Role,
    provider: str,
    *,
    token_file: str | None,
    token: str | None,
    where: str,
) -> Found:
    settings = context.sts

    def fetch() -> Issued:
        # Re-read at every renewal: projected service-account and CI tokens rotate.
        oidc_token = read_web_identity_token(Path(token_file)) if token_file else str(token)
        if context.on_secrets is not None:  # a bearer token: as secret as a key
            context.on_secrets((oidc_token,))
        return sts.assume_role_with_web_identity(
            oidc_token, role, provider_id=provider, sts=settings
        )

    credential = context.renewing(fetch, f"role {role.arn} (web identity)")
    origin = f"role {role.arn} assumed with {where} (provider {provider})"
    return Found(credential, origin, role.arn, is_role=True)


def read_web_identity_token(path: Path) -> str:
    """The OIDC token in ``path``: the raw token (what CI systems and TKE write), or the
    Terraform provider's ``{"web_identity_token": "…"}``."""
    try:
        # A regular file only: a FIFO no one writes would hang the run, unkillably.
        raw = read_bytes(str(path), limit=_MAX_TOKEN_BYTES, what="token file", regular_only=True)
    except Unreadable as exc:
        raise CloudSetupError(f"cannot read web identity token file {path}: {exc.reason}") from None
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            document: Any = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        value = document.get("web_identity_token") if isinstance(document, dict) else None
        text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise CloudSetupError(f"web identity token file {path} holds no token")
    return text


def named_profile(context: Context) -> Found | None:
    name = context.options.profile
    return None if name is None else _profile(context, name, required=True)


def environment_profile(context: Context) -> Found | None:
    name = profiles.profile_from_environment(context.environ)
    return _profile(context, name or profiles.DEFAULT_PROFILE, required=name is not None)


def _profile(context: Context, name: str, *, required: bool) -> Found | None:
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
    _check_keys(profile.secret_id, profile.secret_key, where=origin, token=profile.token)
    if profile.expires_at is None:
        issued = Issued(profile.secret_id, profile.secret_key, profile.token)
        credential = context.renewing(lambda: issued, origin)
    else:
        credential = context.renewing(_ProfileReader(profile, context.clock), origin)
    return Found(credential, origin, profile.secret_id, profile=profile)


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


def environment(context: Context) -> Found | None:
    secret_id, secret_key = (
        context.env("TENCENTCLOUD_SECRET_ID"),
        context.env("TENCENTCLOUD_SECRET_KEY"),
    )
    if secret_id is None or secret_key is None:
        return None
    where = "TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY"
    token = _environment_token(context)
    _check_keys(secret_id, secret_key, where=where, token=token)
    issued = Issued(secret_id, secret_key, token)
    return Found(context.renewing(lambda: issued, "environment"), "environment", secret_id)


def _environment_token(context: Context) -> str | None:
    return next((token for name in TOKEN_ENVIRONMENT if (token := context.env(name))), None)


def sdk_profile_file(context: Context) -> Found | None:
    from tencentcloud.common.credential import ProfileCredential

    origin = "the SDK profile file (~/.tencentcloud/credentials or /etc/tencentcloud/credentials)"
    # The file the SDK would read (the first that exists), checked before it reads it:
    # a FIFO would hang it, and its parser's errors are tracebacks.
    path = next((p for p in map(os.path.expanduser, SDK_PROFILE_FILES) if os.path.exists(p)), None)
    if path is not None and not os.path.isfile(path):
        raise CloudSetupError(f"{origin}: {path} is not a regular file")
    try:
        found = ProfileCredential().get_credential()
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        # Name the kind of fault only: the parser's messages quote the file's lines.
        raise CloudSetupError(
            f"{origin}: {path} is not an INI file the SDK can read ({type(exc).__name__})"
        ) from None
    if found is None:
        return None
    token = _environment_token(context)
    _check_keys(found.secret_id, found.secret_key, where=origin, token=token)
    issued = Issued(found.secret_id, found.secret_key, token)
    return Found(context.renewing(lambda: issued, origin), origin, found.secret_id)


def cvm_source(context: Context) -> Found | None:
    return _cvm_role()


def _cvm_role() -> Found | None:
    role = instance.probe_cvm_role(timeout=_METADATA_PROBE_TIMEOUT)
    if role is None:
        return None
    return Found(role, f"the CVM instance role {role.role_name!r}", f"cvm-role:{role.role_name}")


def _check_keys(secret_id: str, secret_key: str, *, where: str, token: str | None = None) -> None:
    # The SDK's own rule (its Credential refuses these), said once, with the place;
    # and what a signed request can carry at all: Tencent's keys and tokens are
    # printable ASCII, and anything else fails in the signer, task after task.
    values = [("SecretId", secret_id), ("SecretKey", secret_key)]
    values += [("session token", token)] if token is not None else []
    for what, value in values:
        if not value.strip() or value.strip() != value or any(c.isspace() for c in value):
            raise CloudSetupError(f"{where}: the {what} is empty or contains spaces")
        if not (value.isascii() and value.isprintable()):
            raise CloudSetupError(
                f"{where}: the {what} holds a character that is not printable ASCII"
            )
