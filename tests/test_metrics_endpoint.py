"""``run --metrics-addr``: ``/metrics`` serves what the metrics file holds plus the
rate limiter's current rate and throttle count; ``/healthz`` is 200 while the
loop showed life within three intervals, 503 after — on fake time in process,
and through the CLI against the emulator."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from reconciler.ratelimit import RateLimiter, RateSettings
from reconciler.service import Board, LimiterGauge
from tests.fakes import FakeClock
from tests.support import (
    STOP,
    EmulatorFactory,
    cli_env,
    end,
    reconciler,
    setup_tasks,
    start,
    wait_for,
)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_is_three_intervals_of_life_on_fake_time() -> None:
    clock = FakeClock()
    gauge = LimiterGauge(20.0)
    board = Board(clock=clock, stale_after=3 * 60.0, rates=gauge)
    assert board.health()[0]  # the loop's start counts as life
    clock.advance(179)
    assert board.health()[0]
    clock.advance(2)
    healthy, reason = board.health()
    assert not healthy and "181s" in reason
    board.alive()  # the running cycle made progress
    assert board.health()[0]
    clock.advance(200)
    board.cycle_finished("# TYPE reconciler_cycles_total counter\n")
    assert board.health()[0]
    assert board.metrics().startswith("# TYPE reconciler_cycles_total counter\n")


def test_the_gauge_reads_the_newest_limiter_and_counts_every_throttle() -> None:
    clock = FakeClock()
    gauge = LimiterGauge(20.0)
    assert (gauge.current_rate, gauge.throttled) == (20.0, 0)
    first = RateLimiter(RateSettings(rate=20.0), clock=clock.monotonic)
    gauge(first)
    permit = first.reserve()
    first.penalize(permit)
    first.penalize(permit)  # one event: taken for jitter (no cut), two throttles
    assert (gauge.current_rate, gauge.throttled) == (20.0, 2)
    clock.advance(1.0)
    first.penalize(first.reserve())  # a second event soon after: the first cut
    assert (gauge.current_rate, gauge.throttled) == (19.0, 3)
    second = RateLimiter(RateSettings(rate=16.0), clock=clock.monotonic)
    gauge(second)
    second.penalize(second.reserve())
    assert (gauge.current_rate, gauge.throttled) == (16.0, 4)
    board = Board(clock=clock, stale_after=1.0, rates=gauge)
    text = board.metrics()
    assert "reconciler_rate_limit_requests_per_second 16.0\n" in text
    assert "reconciler_throttled_total 4\n" in text


class Lines:
    """A process's stderr lines, read as they come (a thread, so nothing blocks)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def first(self, event: str) -> dict[str, object]:
        """The first JSON log line of ``event`` (waiting for it)."""
        marker = f'"event": "{event}"'
        wait_for(lambda: any(marker in line for line in self.lines), what=event)
        return dict(json.loads(next(line for line in self.lines if marker in line)))


def test_run_serves_metrics_and_health(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators()
    setup_tasks(tmp_path, emulator, "svc", 6)
    emulator.configure(next_faults=[{"kind": "throttle", "action": STOP, "count": 2}])
    env = cli_env(tmp_path, emulator)
    args = ["run", "--interval", "1h", "--metrics-addr", "127.0.0.1:0", "--log-format", "json"]
    proc = start(*args, env=env, cwd=tmp_path)
    assert proc.stderr is not None
    logs = Lines(proc.stderr)
    try:
        base = f"http://{logs.first('metrics endpoint listening')['address']}"
        logs.first("cycle finished")
        status, metrics = get(base + "/metrics")
        assert status == 200
        assert re.search(r'^reconciler_cycles_total\{result="success"\} 1$', metrics, re.M)
        assert re.search(r'^reconciler_last_run_tasks\{outcome="stopped"\} 6$', metrics, re.M)
        assert "reconciler_throttled_total 2\n" in metrics
        rate = re.search(r"^reconciler_rate_limit_requests_per_second (\S+)$", metrics, re.M)
        assert rate and 0 < float(rate[1]) <= 20
        assert get(base + "/healthz")[0] == 200
        assert get(base + "/nope")[0] == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        end(proc)


def test_a_bad_or_busy_metrics_address_is_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    bad = reconciler("run", "--interval", "1m", "--metrics-addr", "9100", env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = reconciler("run", "--interval", "1m", "--metrics-addr", f"127.0.0.1:{port}",
                          env=env, cwd=tmp_path)  # fmt: skip
    assert busy.returncode == 1 and "cannot listen" in busy.stderr
    assert "Traceback" not in busy.stderr
