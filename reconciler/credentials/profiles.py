"""tccli's credential files, read the way tccli and the Terraform provider read them.

``tccli configure --profile NAME`` (and ``tccli configure set secretId … --profile
NAME``) writes ``NAME.credential`` in ``~/.tccli``: one JSON object, indented, keys
sorted —

    {"role-arn": "…", "role-session-name": "…", "secretId": "AKID…",
     "secretKey": "…", "token": "…"}

— where ``token``, ``role-arn`` and ``role-session-name`` are optional. tccli's own
logins add ``"type"``: ``"cvm-role"`` (use the instance's CAM role), ``"sso"`` and
``"oauth"`` (temporary ``secretId``/``secretKey``/``token`` valid until
``"expiresAt"``, Unix seconds, which tccli refreshes). A file without ``type`` (or
``"default"``) holds long-term keys. The Terraform provider reads the same files
from ``shared_credentials_dir`` (``TENCENTCLOUD_SHARED_CREDENTIALS_DIR``, default
``~/.tccli``) for ``profile`` (``TENCENTCLOUD_PROFILE``, default ``default``), and
trims the values, as this module does.

Pure file reading: no SDK, no network. A file that is there but unusable is a
``CloudSetupError`` naming it and what is wrong — never silently skipped, and never
with a secret in the message.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.domain import CallError, ErrorClass
from reconciler.errors import CloudCallError, CloudSetupError
from reconciler.reading import Missing, Unreadable, json_depth, read_bytes

DEFAULT_PROFILE = "default"
PROFILE_ENVIRONMENT = ("TENCENTCLOUD_PROFILE", "TCCLI_PROFILE")
DIRECTORY_ENVIRONMENT = "TENCENTCLOUD_SHARED_CREDENTIALS_DIR"
KINDS = ("default", "cvm-role", "sso", "oauth")
#: How each kind of temporary profile is refreshed, for messages.
REFRESH_HINTS = {
    "sso": "tccli sso login --profile {name}",
    "oauth": "tccli auth login --profile {name}",
}
_MAX_FILE_BYTES = 64 * 1024
#: tccli's files nest one level; anything deeper is not one of them.
_MAX_DEPTH = 8
#: The latest expiry taken as a time (9999-12-31); past it, or not finite, it is garbage.
_LATEST_EXPIRY = 253_402_300_799.0


@dataclass(frozen=True)
class TccliProfile:
    """One ``NAME.credential`` file, read."""

    name: str
    path: Path
    kind: str = "default"
    secret_id: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    role_session_name: str | None = None
    expires_at: float | None = None  # sso / oauth profiles

    @property
    def refresh_hint(self) -> str:
        """The tccli command that refreshes this profile's temporary credentials."""
        return REFRESH_HINTS.get(self.kind, "tccli configure --profile {name}").format(
            name=self.name
        )


def credentials_directory(environ: Mapping[str, str]) -> Path:
    """``TENCENTCLOUD_SHARED_CREDENTIALS_DIR`` (``~`` expanded), else ``~/.tccli``."""
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    configured = environ.get(DIRECTORY_ENVIRONMENT)
    if configured:
        if configured == "~" or configured.startswith("~/"):
            return home / configured[2:]
        return Path(configured)
    return home / ".tccli"


def profile_from_environment(environ: Mapping[str, str]) -> str | None:
    """The profile the environment names (Terraform's variable, then tccli's)."""
    return next((environ[name] for name in PROFILE_ENVIRONMENT if environ.get(name)), None)


def profile_path(name: str, directory: Path) -> Path:
    """Where profile ``name``'s credential file is; a name that is a path is refused."""
    if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise CloudSetupError(f"profile name {name!r}: give a name, not a path")
    return directory / f"{name}.credential"


def read_profile(name: str, directory: Path) -> TccliProfile | None:
    """Profile ``name`` from ``directory``; None when it has no credential file."""
    path = profile_path(name, directory)
    try:
        # A regular file only: a FIFO no one writes would hang the run, unkillably.
        raw = read_bytes(
            str(path), limit=_MAX_FILE_BYTES, what="credential file", regular_only=True
        )
    except Missing:
        return None
    except Unreadable as exc:
        raise CloudSetupError(f"cannot read profile {name!r} ({path}): {exc.reason}") from None
    try:
        if json_depth(raw) > _MAX_DEPTH:
            raise ValueError("nested too deeply")
        document = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError too
        # The parser's message could quote the file's content: a secret. Say where only.
        raise CloudSetupError(
            f"profile {name!r} ({path}) is not JSON; rewrite it with `tccli configure "
            f"--profile {name}`"
        ) from None
    if not isinstance(document, dict):
        raise CloudSetupError(f"profile {name!r} ({path}) is not a JSON object")
    return _profile(name, path, document)


def _profile(name: str, path: Path, document: dict[str, object]) -> TccliProfile:
    values = {key: value.strip() for key, value in document.items() if isinstance(value, str)}
    kind = values.get("type") or "default"
    if kind not in KINDS:
        raise CloudSetupError(
            f"profile {name!r} ({path}) has credential type {kind!r}; known: {', '.join(KINDS)}"
        )
    profile = TccliProfile(
        name=name,
        path=path,
        kind=kind,
        secret_id=values.get("secretId") or None,
        secret_key=values.get("secretKey") or None,
        token=values.get("token") or None,
        role_arn=values.get("role-arn") or None,
        role_session_name=values.get("role-session-name") or None,
        expires_at=_expiry(document.get("expiresAt"), name=name, path=path),
    )
    if kind != "cvm-role" and not (profile.secret_id and profile.secret_key):
        raise CloudSetupError(
            f"profile {name!r} ({path}) has no secretId and secretKey; set them with "
            f"`tccli configure --profile {name}`"
        )
    return profile


def _expiry(value: object, *, name: str, path: Path) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= _LATEST_EXPIRY
    ):
        raise CloudSetupError(f"profile {name!r} ({path}): expiresAt is not a Unix time")
    return float(value)


def describe_path(path: Path, environ: Mapping[str, str]) -> str:
    """``path`` with the home directory shown as ``~`` (shorter messages)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home) :] if home and text.startswith(home.rstrip("/") + "/") else text


def profile_failure(name: str, what: str, *, fatal: bool) -> CloudCallError:
    """A temporary profile that cannot give fresh credentials: fatal once they have
    expired, retryable (the current ones still serve) while tccli may yet refresh it."""
    code = "ProfileExpired" if fatal else "ProfileNotRefreshed"
    error = CallError(code, f"profile {name!r} {what}")
    return CloudCallError(error, ErrorClass.FATAL if fatal else ErrorClass.RETRYABLE)
