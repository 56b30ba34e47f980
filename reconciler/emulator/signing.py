"""TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0, computed from the
published algorithm with hashlib/hmac only — so that checking it is a real check of
what the official SDK signs.

Pure functions, no I/O: parse an ``Authorization`` header, compute a signature,
take the port off a ``Host`` value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "TC3-HMAC-SHA256"
TERMINATOR = "tc3_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

_AUTHORIZATION = re.compile(
    r"^(?P<algorithm>\S+)\s+"
    r"Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


class MalformedAuthorization(ValueError):
    """An ``Authorization`` header that is not a TC3 authorization."""


@dataclass(frozen=True)
class Authorization:
    """The parts of ``TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
    SignedHeaders=a;b, Signature=HEX``."""

    algorithm: str
    secret_id: str
    date: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        raise MalformedAuthorization(
            "Authorization must read 'TC3-HMAC-SHA256 Credential=SECRETID/DATE/SERVICE/tc3_request,"
            " SignedHeaders=..., Signature=HEX'"
        )
    parts = match["credential"].split("/")
    if len(parts) != 4 or not all(parts):
        raise MalformedAuthorization(
            "the credential scope must be SECRETID/DATE/SERVICE/tc3_request"
        )
    signed = tuple(match["signed"].split(";"))
    if not all(signed):
        raise MalformedAuthorization("SignedHeaders must be header names separated by ';'")
    secret_id, date, service, terminator = parts
    return Authorization(
        algorithm=match["algorithm"],
        secret_id=secret_id,
        date=date,
        service=service,
        terminator=terminator,
        signed_headers=signed,
        signature=match["signature"].lower(),
    )


def claimed_secret_id(value: str) -> str | None:
    """The SecretId an ``Authorization`` header names (unverified), or None."""
    try:
        return parse_authorization(value).secret_id
    except MalformedAuthorization:
        return None


def host_without_port(host: str) -> str:
    """``127.0.0.1:8080`` → ``127.0.0.1``, ``[::1]:8080`` → ``[::1]``; a host without a
    port is returned as it is."""
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and (name.endswith("]") or ":" not in name):
        return name
    return host


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str,
    *,
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    payload: bytes,
    timestamp: str,
    date: str,
    service: str,
) -> str:
    """The hex signature of one request.

    ``headers`` maps lower-case header names to values; ``payload`` is the body as
    sent (or ``UNSIGNED-PAYLOAD`` when the request says so). A signed header that is
    absent signs as an empty value, so the comparison fails rather than raises.
    """
    canonical_headers = "".join(
        f"{name.lower()}:{headers.get(name.lower(), '').strip().lower()}\n"
        for name in signed_headers
    )
    canonical_request = "\n".join(
        (
            method.upper(),
            uri,
            query,
            canonical_headers,
            ";".join(name.lower() for name in signed_headers),
            hashlib.sha256(payload).hexdigest(),
        )
    )
    scope = f"{date}/{service}/{TERMINATOR}"
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            timestamp,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
    )
    key = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    key = _hmac_sha256(key, service)
    key = _hmac_sha256(key, TERMINATOR)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_match(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), received.lower().encode("ascii"))
