"""The ``/_emulator/`` admin endpoints, without HTTP: one function from (method,
name, body) to (status, JSON document) over an ``EmulatorCore``.

    GET  stats                 counters, windows, foreign traffic, per-caller tallies
    GET  tasks                 the task table
    POST tasks                 add or reset tasks (a seed document)
    GET  config                the runtime settings and the queued faults
    POST config                change them (keys: see ``SETTING_KEYS``)
    POST reset-stats           zero the counters; answers the fresh stats
    GET  credentials           temporary credentials STS issued (no keys, no tokens)
    POST expire-credentials    let every issued credential expire now
"""

from __future__ import annotations

import json
from http import HTTPStatus

from reconciler.emulator.api import JsonDict
from reconciler.emulator.config import SettingsChange
from reconciler.emulator.core import EmulatorCore
from reconciler.emulator.documents import ConfigError
from reconciler.emulator.seeds import parse_tasks_document

PREFIX = "/_emulator/"


def _json_body(body: bytes) -> object:
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("request body is not valid JSON") from None


def _answer(core: EmulatorCore, route: tuple[str, str], *, body: bytes) -> JsonDict | None:
    if route == ("GET", "stats"):
        return core.stats()
    if route == ("GET", "tasks"):
        return {"tasks": core.tasks()}
    if route == ("POST", "tasks"):
        tasks = parse_tasks_document(_json_body(body), source="request body")
        return {"added": core.add_tasks(tasks)}
    if route == ("GET", "config"):
        return core.settings()
    if route == ("POST", "config"):
        return core.configure(SettingsChange.from_mapping(_json_body(body)))
    if route == ("POST", "reset-stats"):
        core.reset_stats()
        return core.stats()
    if route == ("GET", "credentials"):
        return {"credentials": core.credentials()}
    if route == ("POST", "expire-credentials"):
        return {"expired": core.expire_credentials()}
    return None


def handle_admin(
    core: EmulatorCore, method: str, *, name: str, body: bytes
) -> tuple[int, JsonDict]:
    """The status and JSON answer of the admin request ``method /_emulator/name``."""
    try:
        document = _answer(core, (method, name.rstrip("/")), body=body)
    except ConfigError as error:
        return HTTPStatus.BAD_REQUEST, {"error": str(error)}
    if document is None:
        return HTTPStatus.NOT_FOUND, {"error": f"no admin endpoint {method} {name!r}"}
    return HTTPStatus.OK, document
