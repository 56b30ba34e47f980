"""Who may call the emulated account: its long-term test credentials, the temporary
credentials STS issued (each with its session token and expiry), and the check of a
request's TC3-HMAC-SHA256 ``Authorization`` against them.

It accepts what every official SDK signs, not only the Python one: the Node.js SDK
signs the ``host`` header as the endpoint's host name *without* the port while it
sends ``Host`` with it, and derives the credential scope's service from the
endpoint's first label. Against the real API (port 443, ``trtc.tencentcloudapi.com``)
those coincide with what the Python SDK signs; against an emulator on
``127.0.0.1:PORT`` they do not. So the signature is checked against the ``Host`` as
sent and against it without its port — still a real check, the port is the only
freedom — and the scope may name the service or the Host's first label.

Thread-safe (one lock of its own); the wall clock is injected.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from reconciler.emulator.api import (
    SERVICES,
    ApiCall,
    ApiError,
    Caller,
    JsonDict,
    Service,
    missing,
    utc_text,
)
from reconciler.emulator.config import KeyPair
from reconciler.emulator.signing import (
    ALGORITHM,
    TERMINATOR,
    UNSIGNED_PAYLOAD,
    Authorization,
    MalformedAuthorization,
    host_without_port,
    parse_authorization,
    signatures_match,
    tc3_signature,
)

#: How far X-TC-Timestamp may be from the emulator's clock, as on the real API.
MAX_CLOCK_SKEW_SECONDS = 300
#: What an unsigned request (AssumeRoleWithWebIdentity) sends as its Authorization.
UNSIGNED = "SKIP"


@dataclass(frozen=True)
class IssuedCredential:
    """Temporary credentials STS handed out for a role."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str = field(repr=False)
    role_arn: str = ""
    session_name: str = ""
    expires_at: float = 0.0  # wall-clock seconds

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def to_json(self, now: float) -> JsonDict:
        """What ``GET /_emulator/credentials`` shows: never the key or the token."""
        return {
            "tmpSecretId": self.secret_id,
            "roleArn": self.role_arn,
            "roleSessionName": self.session_name,
            "expiredTime": int(self.expires_at),
            "expiration": utc_text(self.expires_at),
            "expired": self.expired(now),
        }


def _auth_failure(message: str) -> ApiError:
    return ApiError("AuthFailure.InvalidAuthorization", message)


def _parse(call: ApiCall, service: Service) -> Authorization:
    raw = call.header("authorization")
    if not raw.startswith(ALGORITHM + " "):
        raise _auth_failure(
            "Authorization is missing or not TC3-HMAC-SHA256; the emulator checks TC3"
            " signatures only."
        )
    try:
        auth = parse_authorization(raw)
    except MalformedAuthorization as error:
        raise _auth_failure(f"Authorization is malformed: {error}.") from None
    # The Node.js SDK signs for the first label of its endpoint ("127" for 127.0.0.1:PORT).
    endpoint_label = call.header("host").split(".")[0]
    others = {other.name for other in SERVICES} - {service.name}
    scope_ok = auth.service == service.name or (
        auth.service == endpoint_label and auth.service not in others
    )
    if not scope_ok or auth.terminator != TERMINATOR:
        raise _auth_failure(
            f"The credential scope must be DATE/{service.name}/{TERMINATOR}, got"
            f" {auth.date}/{auth.service}/{auth.terminator}."
        )
    if not {"content-type", "host"} <= {name.lower() for name in auth.signed_headers}:
        raise _auth_failure("SignedHeaders must include content-type and host.")
    return auth


def _timestamp(call: ApiCall, auth: Authorization, *, now: float) -> str:
    text = call.header("x-tc-timestamp")
    if not text:
        raise missing("Timestamp")
    if not text.isdigit():
        raise ApiError(
            "InvalidParameter", f"X-TC-Timestamp must be a Unix time in seconds, got {text!r}."
        )
    skew = int(text) - now
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        raise ApiError(
            "AuthFailure.SignatureExpire",
            f"The request timestamp is {abs(skew):.0f} s off the server time (at most"
            f" {MAX_CLOCK_SKEW_SECONDS} s allowed); check your clock.",
        )
    if auth.date != dt.datetime.fromtimestamp(int(text), tz=dt.timezone.utc).strftime("%Y-%m-%d"):
        raise ApiError(
            "AuthFailure.SignatureFailure",
            "The credential scope date does not match the UTC date of X-TC-Timestamp.",
        )
    return text


def _signed_by(secret_key: str, call: ApiCall, *, auth: Authorization, timestamp: str) -> bool:
    """Whether ``secret_key`` signed ``call``, with Host as sent or without its port."""
    payload = call.body
    if call.header("x-tc-content-sha256") == UNSIGNED_PAYLOAD:
        payload = UNSIGNED_PAYLOAD.encode("ascii")
    host = call.header("host")
    for signed_host in dict.fromkeys((host, host_without_port(host))):
        expected = tc3_signature(
            secret_key,
            method=call.method,
            uri=call.path,
            query=call.query,
            headers={**call.headers, "host": signed_host},
            signed_headers=auth.signed_headers,
            payload=payload,
            timestamp=timestamp,
            date=auth.date,
            service=auth.service,
        )
        if signatures_match(expected, auth.signature):
            return True
    return False


def _same(wanted: str, given: str) -> bool:
    return hmac.compare_digest(wanted.encode(), given.encode())


def _check_token(secret: KeyPair | IssuedCredential, token: str | None, *, now: float) -> None:
    if isinstance(secret, IssuedCredential):
        if token is None or not _same(secret.token, token):
            raise ApiError("AuthFailure.TokenFailure", "The session token is missing or invalid.")
        if secret.expired(now):
            # An expired temporary credential fails as a bad session token: the API 3.0
            # common error codes name AuthFailure.TokenFailure ("token error") for it,
            # and that is what callers of the real API get once STS credentials lapse.
            raise ApiError(
                "AuthFailure.TokenFailure",
                f"The temporary credential expired at {utc_text(secret.expires_at)};"
                " request new credentials from STS.",
            )
        return
    if secret.token is None:
        if token:
            raise ApiError(
                "AuthFailure.TokenFailure", "A session token was sent but this SecretId takes none."
            )
    elif token is None or not _same(secret.token, token):
        raise ApiError("AuthFailure.TokenFailure", "The session token is missing or invalid.")


class Keyring:
    """The account's credentials, long-term and issued, and the request check."""

    def __init__(self, pairs: Iterable[KeyPair], *, wall_clock: Callable[[], float]) -> None:
        self._long_term = {pair.secret_id: pair for pair in pairs}
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._issued: dict[str, IssuedCredential] = {}

    def issue(self, *, role_arn: str, session_name: str, lifetime: int) -> IssuedCredential:
        """New temporary credentials for ``role_arn``, valid ``lifetime`` seconds."""
        credential = IssuedCredential(
            secret_id="AKID" + secrets.token_hex(16),
            secret_key=secrets.token_urlsafe(30),
            token=secrets.token_urlsafe(96),
            role_arn=role_arn,
            session_name=session_name,
            expires_at=float(int(self._wall_clock()) + lifetime),
        )
        with self._lock:
            self._issued[credential.secret_id] = credential
        return credential

    def expire_all(self) -> int:
        """Make every issued credential expire now; how many were still valid."""
        now = self._wall_clock()
        with self._lock:
            valid = [c for c in self._issued.values() if not c.expired(now)]
            for credential in valid:
                self._issued[credential.secret_id] = replace(credential, expires_at=now)
        return len(valid)

    def issued(self) -> list[JsonDict]:
        now = self._wall_clock()
        with self._lock:
            return [credential.to_json(now) for credential in self._issued.values()]

    def authenticate(self, call: ApiCall, *, service: Service) -> Caller:
        """The caller of a correctly signed request; ``ApiError`` with the API's
        ``AuthFailure.*`` code (or ``MissingParameter``) otherwise."""
        if call.header("authorization") == UNSIGNED and call.action in service.unsigned_actions:
            return Caller(secret_id=None)
        auth = _parse(call, service)
        now = self._wall_clock()
        timestamp = _timestamp(call, auth, now=now)
        with self._lock:
            secret = self._long_term.get(auth.secret_id) or self._issued.get(auth.secret_id)
        if secret is None:
            raise ApiError(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure it is correct.",
            )
        if not _signed_by(secret.secret_key, call, auth=auth, timestamp=timestamp):
            raise ApiError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated."
                " Please check your signature is correct.",
            )
        _check_token(secret, call.headers.get("x-tc-token"), now=now)
        return Caller(secret.secret_id, temporary=isinstance(secret, IssuedCredential))
