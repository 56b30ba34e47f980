"""Helpers for the credential tests: tccli's credential-file writer, reproduced, and
a recording HTTP proxy that sees every secret STS hands out.

The proxy stands between the CLI and the emulator (plain HTTP on loopback) and keeps
the ``TmpSecretKey`` and ``Token`` of every STS answer, so a test can prove that none
of them reached stdout, stderr, the state or the metrics — without reaching into the
emulator's internals, which never show them.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support import EmulatorProcess, cli_env

ROLE = "qcs::cam::uin/100000000001:roleName/deployer"
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.ci-oidc-token-for-tests.signature"


def env_without_keys(base: Path, emulator: EmulatorProcess, **extra: str) -> dict[str, str]:
    """The CLI's environment for the emulator with no TENCENTCLOUD_SECRET_ID / _KEY."""
    env = cli_env(base, emulator, **extra)
    del env["TENCENTCLOUD_SECRET_ID"], env["TENCENTCLOUD_SECRET_KEY"]
    return env


def write_tccli_credential(directory: Path, profile: str, fields: dict[str, str]) -> Path:
    """Write ``PROFILE.credential`` exactly as ``tccli configure`` does (tccli's
    ``Utils.dump_json_msg``: a 0700 directory, a temporary file renamed into place,
    JSON indented by 2 with sorted keys and UTF-8 text)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / f"{profile}.credential"
    existing: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    existing.update(fields)
    temporary = Path(f"{path}{uuid.uuid4().hex}.tmp")
    with temporary.open("w") as handle:
        json.dump(
            existing, handle, indent=2, separators=(",", ": "), ensure_ascii=False, sort_keys=True
        )
    os.replace(temporary, path)
    return path


class RecordingProxy:
    """Forwards every request to ``target`` unchanged (Host included, so signatures
    still match) and records the secrets in STS answers."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.secrets: list[str] = []
        self.actions: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._forward(self)

            def do_GET(self) -> None:
                proxy._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        connection = http.client.HTTPConnection(
            self.target.hostname or "127.0.0.1", self.target.port, timeout=30
        )
        try:
            connection.request(request.command, request.path, body, dict(request.headers))
            answer = connection.getresponse()
            payload = answer.read()
            headers = answer.getheaders()
            status = answer.status
        finally:
            connection.close()
        self._record(request.headers.get("X-TC-Action", ""), payload)
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _record(self, action: str, payload: bytes) -> None:
        with self._lock:
            self.actions.append(action)
        try:
            credentials = json.loads(payload)["Response"]["Credentials"]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.secrets.extend([credentials["TmpSecretKey"], credentials["Token"]])


def leaked(secrets: list[str], *texts: str | bytes) -> list[str]:
    """The secrets (shown by their first characters only) found in any of ``texts``."""
    found = []
    for secret in secrets:
        for text in texts:
            haystack = text.encode() if isinstance(text, str) else text
            if secret.encode() in haystack:
                found.append(secret[:6] + "…")
    return found
