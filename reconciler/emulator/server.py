"""The emulator's HTTP face: a threading HTTP/1.1 server on loopback that frames the
core's answers (and the injected faults) the way an API 3.0 endpoint does — TRTC and
STS on one port, told apart by action —, serves the ``/_emulator/`` admin endpoints,
and ``Emulator``, the in-process handle that tests, benchmarks and the CLI start and
stop.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.emulator.admin import PREFIX as ADMIN_PREFIX
from reconciler.emulator.admin import handle_admin
from reconciler.emulator.api import ApiCall, JsonDict
from reconciler.emulator.config import (
    EmulatorConfig,
    FaultKind,
    SettingChanges,
    SettingsChange,
    is_loopback,
)
from reconciler.emulator.core import Clock, EmulatorCore
from reconciler.emulator.seeds import DEFAULT_REGION, SeedTask, TaskStatus
from reconciler.emulator.signing import claimed_secret_id
from reconciler.emulator.stamps import StampedReader, enable
from reconciler.emulator.traffic import UNSIGNED_CALLER

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: API 3.0 bodies of these three actions are tiny; refuse anything absurd unread.
MAX_BODY_BYTES = 1024 * 1024
#: An idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_SECONDS = 120.0

_BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>stgw</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, so ``stop`` can end them."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], core: EmulatorCore, *, stamp: bool) -> None:
        self.core = core
        self.stamp = stamp  # arrivals take the kernel's receive stamps (see ``stamps``)
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        if stamp:
            # Accepted connections inherit it: a request that reaches the kernel before
            # a handler thread has its connection is stamped too.
            enable(self.socket)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine here (faults, timeouts); stay quiet.
        pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trtc-emulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave in one write
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet by design: requests carry Authorization and X-TC-Token headers.
        pass

    def setup(self) -> None:
        super().setup()
        self._stamps: tuple[StampedReader, io.BufferedReader[StampedReader]] | None = None
        if self.server.stamp and enable(self.connection):
            self.rfile.close()  # the socket's own reader: ours reads the kernel's stamps too
            stamps = StampedReader(self.connection)
            self.rfile = buffered = io.BufferedReader(stamps)
            self._stamps = (stamps, buffered)

    def handle_one_request(self) -> None:
        if self._stamps is not None:
            stamps, buffered = self._stamps
            stamps.mark(buffered)
        super().handle_one_request()

    def _arrived(self) -> float | None:
        """When this request's first bytes came, on the monotonic clock (None: unknown)."""
        stamp = self._stamps[0].first if self._stamps is not None else None
        if stamp is None:
            return None
        return time.monotonic() - max(0.0, time.time() - stamp)

    # -- plumbing ------------------------------------------------------------------

    def _send(self, status: int, body: bytes, *, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, document: object) -> None:
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        self._send(status, body, content_type="application/json")

    def _abandon(self) -> None:
        """Close the connection without a single byte of answer."""
        self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a request whose body cannot be read."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(
                HTTPStatus.LENGTH_REQUIRED, b"Content-Length required\n", content_type="text/plain"
            )
            return None
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit():
            self.close_connection = True
            self._send(HTTPStatus.BAD_REQUEST, b"bad Content-Length\n", content_type="text/plain")
            return None
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            document = self.server.core.error_document(
                "RequestSizeLimitExceeded", f"The request body exceeds {MAX_BODY_BYTES} bytes."
            )
            self._send_json(HTTPStatus.OK, document)
            return None
        return self.rfile.read(length) if length else b""

    # -- routing -------------------------------------------------------------------

    def do_POST(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self) -> None:
        target = urlsplit(self.path)
        if target.path.startswith(ADMIN_PREFIX):
            self._admin(target.path[len(ADMIN_PREFIX) :])
        elif target.path == "/":
            self._api(target.query)
        else:
            body = self._read_body()
            if body is not None:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such path {target.path!r}"})

    # -- the API -------------------------------------------------------------------

    def _api(self, query: str) -> None:
        core = self.server.core
        headers = {name.lower(): value for name, value in self.headers.items()}
        call_action = headers.get("x-tc-action", "").strip()
        caller = claimed_secret_id(headers.get("authorization", "")) or UNSIGNED_CALLER
        admission = core.admit(call_action or "<missing>", caller=caller, arrived=self._arrived())
        try:
            body = self._read_body()
            if body is None:
                return
            if admission.delay > 0 and self.server.stopping.wait(admission.delay):
                self._abandon()
                return
            if not admission.accepted:
                self._send_json(HTTPStatus.OK, core.throttled_document(call_action))
                return
            fault = admission.fault
            if fault is FaultKind.DROP:
                self._abandon()
            elif fault is FaultKind.HTTP502:
                self._send(HTTPStatus.BAD_GATEWAY, _BAD_GATEWAY_HTML, content_type="text/html")
            elif fault is FaultKind.INTERNAL:
                document = core.error_document(
                    "InternalError", "An internal error has occurred. Retry your request."
                )
                self._send_json(HTTPStatus.OK, document)
            elif fault is FaultKind.THROTTLE:
                self._send_json(HTTPStatus.OK, core.throttled_document(call_action))
            elif fault is FaultKind.BADJSON:
                whole = json.dumps({"Response": {"RequestId": str(uuid.uuid4())}}).encode()
                self._send(HTTPStatus.OK, whole[: len(whole) // 2], content_type="application/json")
            else:
                call = ApiCall(
                    method=self.command, path="/", query=query, headers=headers, body=body
                )
                document = core.call(call)
                if fault is FaultKind.LOST:
                    self._abandon()
                else:
                    self._send_json(HTTPStatus.OK, document)
        finally:
            core.finished()

    # -- administration --------------------------------------------------------------

    def _admin(self, name: str) -> None:
        body = self._read_body()
        if body is None:
            return
        if not is_loopback(self.client_address[0]):
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "admin endpoints answer loopback only"})
            return
        self._send_json(*handle_admin(self.server.core, self.command, name=name, body=body))


class Emulator:
    """A TRTC API emulator served on a background thread.

    ::

        with Emulator(EmulatorConfig(tasks=(SeedTask(1400000001, "t-1"),))) as emu:
            ...  # point the SDK at HttpProfile(protocol="http", endpoint=f"127.0.0.1:{emu.port}")
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self._core = EmulatorCore(self.config, clock=clock, wall_clock=wall_clock)
        # Kernel stamps are Unix times, turned into monotonic ones: only on real clocks.
        self._stamp = clock is time.monotonic and wall_clock is time.time
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None  # kept after stop, for messages and stats

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve on a daemon thread; returns at once, ready for requests."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        family = _Server6 if ":" in self.config.host else _Server
        server = family((self.config.host, self.config.port), self._core, stamp=self._stamp)
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"trtc-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and in-flight waits; idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (still known after ``stop``); RuntimeError before ``start``."""
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def endpoint(self) -> str:
        """``HOST:PORT``, what ``HttpProfile(endpoint=...)`` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    # -- inspection and control --------------------------------------------------------

    def stats(self) -> JsonDict:
        return self._core.stats()

    def tasks(self) -> list[JsonDict]:
        return self._core.tasks()

    def settings(self) -> JsonDict:
        return self._core.settings()

    def reset_stats(self) -> None:
        self._core.reset_stats()

    def add_task(
        self,
        sdk_app_id: int,
        task_id: str,
        *,
        region: str = DEFAULT_REGION,
        status: TaskStatus | str = TaskStatus.IN_PROGRESS,
    ) -> str:
        """Insert (or reset) one task; its address."""
        seed = SeedTask(sdk_app_id, task_id, region=region, status=TaskStatus.parse(status))
        return self._core.add_tasks([seed])[0]

    def add_tasks(self, tasks: Iterable[SeedTask]) -> list[str]:
        return self._core.add_tasks(tasks)

    def credentials(self) -> list[JsonDict]:
        return self._core.credentials()

    def expire_credentials(self) -> int:
        return self._core.expire_credentials()

    def configure(self, **changes: Unpack[SettingChanges]) -> JsonDict:
        """Change runtime settings, as ``POST /_emulator/config`` does; the settings after."""
        return self._core.configure(SettingsChange.from_mapping(changes))
