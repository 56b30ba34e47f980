"""A small client of a running emulator's ``/_emulator/`` admin endpoints, over
HTTP with the standard library only, for tests, benchmarks and scripts that start
``reconciler emulator`` as a separate process. Proxy settings are ignored: the
emulator only listens on loopback.

    admin = AdminClient("http://127.0.0.1:8080")
    admin.add_tasks([{"sdkAppId": 1400000001, "taskId": "t-1", "region": "ap-singapore"}])
    admin.configure(latency=0.1, foreign_rate=5)
    admin.stats()["calls"]
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.emulator.api import JsonDict
from reconciler.emulator.config import SettingChanges
from reconciler.emulator.seeds import SeedTask

if TYPE_CHECKING:
    from typing_extensions import Unpack


def _to_json(value: object) -> object:
    """JSON for the emulator's value objects (``FaultRates``, ``ScheduledFault``, ...)."""
    to_json = getattr(value, "to_json", None)
    if to_json is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_json()


class AdminError(Exception):
    """The emulator refused an admin request (HTTP 4xx) or sent something unreadable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class AdminClient:
    """The admin API of the emulator at ``url`` (``http://HOST:PORT``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, name: str, *, body: object | None = None) -> tuple[int, Any]:
        """``method /_emulator/name`` with a JSON ``body``: the status and the JSON answer,
        whatever the status."""
        data = None if body is None else json.dumps(body, default=_to_json).encode("utf-8")
        request = urllib.request.Request(f"{self.url}/_emulator/{name}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                raise AdminError(error.code, raw.decode("utf-8", "replace")) from None

    def _ok(self, method: str, name: str, *, body: object | None = None) -> Any:
        status, document = self.request(method, name, body=body)
        if status != 200:
            message = document.get("error") if isinstance(document, dict) else document
            raise AdminError(status, str(message))
        return document

    def stats(self) -> JsonDict:
        stats: JsonDict = self._ok("GET", "stats")
        return stats

    def reset_stats(self) -> JsonDict:
        """Zero the counters; the fresh stats."""
        stats: JsonDict = self._ok("POST", "reset-stats", body={})
        return stats

    def effective_stops(self) -> dict[str, int]:
        """Stops that took effect at the server since the last reset, by address."""
        return dict(self.stats()["effective_stops"])

    def tasks(self) -> list[JsonDict]:
        tasks: list[JsonDict] = self._ok("GET", "tasks")["tasks"]
        return tasks

    def add_tasks(self, tasks: Iterable[SeedTask | Mapping[str, object]]) -> list[str]:
        """Add (or re-arm) tasks; their addresses."""
        entries = [task.to_json() if isinstance(task, SeedTask) else dict(task) for task in tasks]
        added: list[str] = self._ok("POST", "tasks", body={"tasks": entries})["added"]
        return added

    def settings(self) -> JsonDict:
        settings: JsonDict = self._ok("GET", "config")
        return settings

    def configure(self, **changes: Unpack[SettingChanges]) -> JsonDict:
        """Change runtime settings (only those given); the settings after the change."""
        settings: JsonDict = self._ok("POST", "config", body=changes)
        return settings

    def credentials(self) -> list[JsonDict]:
        """Temporary credentials the emulated STS issued (never their keys or tokens)."""
        credentials: list[JsonDict] = self._ok("GET", "credentials")["credentials"]
        return credentials

    def expire_credentials(self) -> int:
        """Let every issued temporary credential expire now; how many were valid."""
        expired: int = self._ok("POST", "expire-credentials", body={})["expired"]
        return expired
