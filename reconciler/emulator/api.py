"""The vocabulary of the emulated TencentCloud API 3.0, shared by its services: the
two services and their actions, a request as received (``ApiCall``) and as handed to
an action (``ActionRequest``), the error an action raises (``ApiError``), and the
parameter checks every action makes.

Pure values and functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

JsonDict = dict[str, Any]
MISSING_ACTION = "<missing>"


def utc_text(timestamp: float) -> str:
    """Unix seconds as ISO 8601 UTC, ``2024-05-01T12:00:00Z``."""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An API-level error answer: HTTP 200 with ``Response.Error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Service:
    """One cloud service the emulator answers: its name (the credential scope's
    service), its API version and its actions."""

    name: str
    version: str
    actions: frozenset[str]
    #: Actions called with ``Authorization: SKIP`` instead of a signature.
    unsigned_actions: frozenset[str] = frozenset()


TRTC = Service(
    "trtc",
    "2019-07-22",
    frozenset({"StopStreamIngest", "DescribeStreamIngest", "StartStreamIngest"}),
)
STS = Service(
    "sts",
    "2018-08-13",
    frozenset({"AssumeRole", "AssumeRoleWithWebIdentity"}),
    # Its reference: "when called with signature v3, Authorization takes the value SKIP".
    unsigned_actions=frozenset({"AssumeRoleWithWebIdentity"}),
)
SERVICES = (TRTC, STS)


def service_for(action: str, *, version: str) -> Service:
    """The service owning ``action``; for an unknown action, the one of ``version``."""
    for service in SERVICES:
        if action in service.actions:
            return service
    for service in SERVICES:
        if service.version == version:
            return service
    return TRTC


@dataclass(frozen=True)
class ApiCall:
    """One API request as the HTTP layer received it."""

    method: str
    path: str  # without the query string
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str:
        """A header's value with surrounding spaces removed; "" when absent."""
        return self.headers.get(name, "").strip()

    @property
    def action(self) -> str:
        return self.header("x-tc-action") or MISSING_ACTION

    @property
    def from_query(self) -> bool:
        """GET requests carry their parameters in the query string."""
        return self.method.upper() == "GET"


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request came from."""

    secret_id: str | None  # None: an unsigned request (AssumeRoleWithWebIdentity)
    temporary: bool = False  # signed with credentials STS issued


@dataclass(frozen=True)
class ActionRequest:
    """What an action receives once the request is authenticated."""

    region: str
    params: Mapping[str, object]
    from_query: bool
    caller: Caller


def missing(name: str) -> ApiError:
    return ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")


def require(params: Mapping[str, object], *names: str) -> None:
    for name in names:
        if name not in params:
            raise missing(name)


def only(params: Mapping[str, object], allowed: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ApiError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")


def integer(value: object, *, from_query: bool) -> int | None:
    """``value`` as an integer (query strings carry digits), or None if it is none."""
    if from_query and isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def request_params(call: ApiCall) -> Mapping[str, object]:
    """The action parameters: the query string of a GET, the JSON body of a POST."""
    if call.from_query:
        return dict(parse_qsl(call.query, keep_blank_values=True))
    content_type = call.header("content-type").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            "InvalidParameter.BodyParamsError",
            f"POST requests must carry application/json, got {content_type or 'nothing'!r}.",
        )
    try:
        params = json.loads(call.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            "InvalidParameter.BodyParamsError", "The request body is not valid JSON."
        ) from None
    if not isinstance(params, dict):
        raise ApiError(
            "InvalidParameter.BodyParamsError", "The request body must be a JSON object."
        )
    return params
