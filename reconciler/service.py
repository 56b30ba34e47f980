"""The ``run`` loop's own HTTP endpoint (``run --metrics-addr HOST:PORT``), so a
Deployment needs no metrics sidecar:

- ``GET /metrics``: the Prometheus text the metrics file holds, plus the rate
  limiter's current rate and how many throttled answers it has met;
- ``GET /healthz``: 200 while the loop showed life within ``stale_after`` (three
  intervals: a cycle finished, or the running one reported progress), 503 after.

The ``Board`` holds what is served; the loop updates it, the server's threads
read it. Its age is measured on the injected clock.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import structlog

from reconciler.clock import Clock
from reconciler.domain import Plan, TaskResult
from reconciler.engine import Progress
from reconciler.errors import UsageError
from reconciler.operations import ReconcileUI
from reconciler.ratelimit import Limiter

log = structlog.get_logger("reconciler.run")


class RateGauge(Protocol):
    """What ``/metrics`` reads of the rate limiter."""

    @property
    def current_rate(self) -> float: ...

    @property
    def throttled(self) -> int: ...


class LimiterGauge:
    """Is shown each cycle's rate limiter (the engine's ``watch_limiter``) and reads
    them: the newest one's current rate, the throttled answers of them all."""

    def __init__(self, rate: float) -> None:
        self._lock = threading.Lock()
        self._rate = rate  # what to report before the first limiter is made
        self._current: Limiter | None = None
        self._spent = 0  # throttled answers met by the limiters before the current one

    def __call__(self, limiter: Limiter) -> None:
        with self._lock:
            if self._current is not None:
                self._spent += self._current.throttled
            self._current = limiter

    @property
    def current_rate(self) -> float:
        with self._lock:
            return self._current.current_rate if self._current is not None else self._rate

    @property
    def throttled(self) -> int:
        with self._lock:
            current = self._current.throttled if self._current is not None else 0
            return self._spent + current


class Board:
    """What the endpoint serves; see the module docstring."""

    def __init__(self, *, clock: Clock, stale_after: float, rates: RateGauge) -> None:
        self._clock = clock
        self._stale_after = stale_after
        self._rates = rates
        self._lock = threading.Lock()
        self._metrics = ""
        self._last_life = clock.monotonic()  # the loop's start counts as life

    def cycle_finished(self, metrics: str) -> None:
        with self._lock:
            self._metrics = metrics
            self._last_life = self._clock.monotonic()

    def alive(self) -> None:
        """The running cycle made progress."""
        with self._lock:
            self._last_life = self._clock.monotonic()

    def metrics(self) -> str:
        with self._lock:
            text = self._metrics
        rate, throttled = self._rates.current_rate, self._rates.throttled
        return text + "".join(
            [
                "# HELP reconciler_rate_limit_requests_per_second The rate limiter's "
                "current rate (cut on throttling, won back slowly).\n",
                "# TYPE reconciler_rate_limit_requests_per_second gauge\n",
                f"reconciler_rate_limit_requests_per_second {rate!r}\n",
                "# HELP reconciler_throttled_total Throttled answers "
                "(RequestLimitExceeded) since the loop started.\n",
                "# TYPE reconciler_throttled_total counter\n",
                f"reconciler_throttled_total {throttled}\n",
            ]
        )

    def health(self) -> tuple[bool, str]:
        """(healthy, one line saying why)."""
        with self._lock:
            age = self._clock.monotonic() - self._last_life
        if age < self._stale_after:
            return True, f"ok: last sign of life {age:.0f}s ago\n"
        return False, (
            f"stale: no cycle finished or progressed for {age:.0f}s "
            f"(limit {self._stale_after:.0f}s, three intervals)\n"
        )


class Heartbeat:
    """A cycle's UI that also tells the board the cycle is alive."""

    def __init__(self, ui: ReconcileUI, board: Board) -> None:
        self._ui = ui
        self._board = board

    def planned(self, plan: Plan) -> None:
        self._board.alive()
        self._ui.planned(plan)

    def on_result(self, result: TaskResult) -> None:
        self._ui.on_result(result)

    def on_progress(self, progress: Progress) -> None:
        self._board.alive()
        self._ui.on_progress(progress)


def parse_listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6; an empty host means every address)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--metrics-addr: expected HOST:PORT, got {text!r}")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port)


def _handler(board: Board) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, board.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/healthz":
                healthy, text = board.health()
                self._answer(200 if healthy else 503, text, "text/plain; charset=utf-8")
            else:
                self._answer(404, "not found: try /metrics or /healthz\n", "text/plain")

        def _answer(self, status: int, text: str, content_type: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes and probes every few seconds would drown the log: say nothing."""

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def serving(address: str, board: Board) -> Iterator[tuple[str, int]]:
    """Serve ``board`` on ``address`` for the ``with`` block; yields (host, port) bound."""
    host, port = parse_listen_address(address)
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), _handler(board))
    except OSError as exc:
        reason = exc.strerror or exc
        raise UsageError(f"--metrics-addr {address}: cannot listen: {reason}") from None
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="reconciler-metrics", daemon=True)
    thread.start()
    log.info("metrics endpoint listening", address=f"{bound_host}:{bound_port}")
    try:
        yield bound_host, bound_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
