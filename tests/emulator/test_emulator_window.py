"""The emulated rate limit on fake time: the sliding window in both counting modes,
the foreign client sharing it, the per-caller tallies — and one real burst over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)

from reconciler.emulator import ConfigError, Emulator, EmulatorConfig, RateCounting
from reconciler.emulator.config import SettingsChange
from reconciler.emulator.core import EmulatorCore
from reconciler.emulator.window import ForeignTraffic, Limiter
from tests.emulator.sdk import describe, make_client

STOP = "StopStreamIngest"
#: Arrival steps (s): t = 100.0, .1, .2, .3, .8, 101.01, 101.11.
STEPS = (0.0, 0.1, 0.1, 0.1, 0.5, 0.21, 0.1)


class FakeTime:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def core(self, **settings: Any) -> EmulatorCore:
        return EmulatorCore(EmulatorConfig(**settings), clock=lambda: self.now)

    def arrivals(
        self, core: EmulatorCore, steps: tuple[float, ...], *, caller: str = "A"
    ) -> list[bool]:
        decisions = []
        for step in steps:
            self.now += step
            decisions.append(core.admit(STOP, caller=caller).accepted)
            core.finished()
        return decisions


def test_throttled_arrivals_count_by_default() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=3)
    # .3 and .8 are throttled and still fill the window, so at 101.01 it holds .1 .2 .3
    # .8 (4 >= 3) and at 101.11 .2 .3 .8 101.01: a client that keeps sending stays out.
    assert clock.arrivals(core, STEPS) == [True, True, True, False, False, False, False]
    stats = core.stats()
    assert stats["rate_limit_counts"] == "throttled"
    assert stats["max_accepted_in_window"][STOP] == 3
    assert stats["max_in_window"][STOP] == 5
    assert stats["rate_limited"][STOP] == 4
    clock.now += 1.0  # a second of silence drains the window
    assert clock.arrivals(core, (0.0,)) == [True]


def test_admitted_only_counting_drains_at_once() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=3, rate_limit_counts=RateCounting.ADMITTED)
    # t=100.0 .1 .2 | .3 .8 throttled | 101.01 (100.0 has left the window) | 101.11 (.1 left)
    assert clock.arrivals(core, STEPS) == [True, True, True, False, False, True, True]
    assert core.stats()["rate_limited"][STOP] == 2


def test_counting_changes_at_run_time() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=3)
    settings = core.configure(SettingsChange.from_mapping({"rate_limit_counts": "admitted"}))
    assert settings["rate_limit_counts"] == "admitted"
    assert clock.arrivals(core, STEPS) == [True, True, True, False, False, True, True]
    with pytest.raises(ConfigError, match="throttled, admitted"):
        SettingsChange.from_mapping({"rate_limit_counts": "sometimes"})


@pytest.mark.parametrize(
    ("counting", "admitted"), [(RateCounting.THROTTLED, 3), (RateCounting.ADMITTED, 15)]
)
def test_a_steady_sender_over_the_limit(counting: RateCounting, admitted: int) -> None:
    # 4/s against 3/s for 5 s: throttled arrivals keep the window full, so only the
    # first 3 get through; counting admitted ones only, 3 of every 4 do.
    limiter = Limiter()
    decisions = [limiter.decide(STOP, 100.0 + k / 4, limit=3, counting=counting) for k in range(20)]
    assert decisions.count(True) == admitted


def test_rate_limit_zero_disables() -> None:
    core = FakeTime().core(rate_limit=0)
    assert all(core.admit(STOP).accepted for _ in range(500))


def test_foreign_traffic_is_evenly_spaced() -> None:
    fresh = ForeignTraffic(4.0, now=10.0)
    assert fresh.due(10.2) == []
    assert fresh.due(11.0) == [10.25, 10.5, 10.75, 11.0]
    assert fresh.due(11.0) == []  # each arrival once
    fresh.set_rate(0.0, now=11.0)
    assert fresh.due(20.0) == []
    with pytest.raises(ConfigError, match="foreign rate"):
        ForeignTraffic(-1.0, now=0.0)


def steady(core: EmulatorCore, clock: FakeTime, *, rate: float, seconds: int) -> list[bool]:
    decisions = []
    start = clock.now
    for k in range(1, int(rate * seconds) + 1):
        clock.now = start + k / rate
        decisions.append(core.admit(STOP, caller="runner").accepted)
        core.finished()
    return decisions


def test_foreign_traffic_shares_the_window() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=20, foreign_rate=5.0)
    assert all(steady(core, clock, rate=14, seconds=5))  # 14 + 5 < 20: room for both
    stats = core.stats()
    assert stats["foreign"] == {
        "action": STOP,
        "rate": 5.0,
        "arrivals": 25,
        "admitted": 25,
        "throttled": 0,
    }
    assert stats["calls"] == {STOP: 70}  # the real requests only
    assert stats["with_foreign"]["max_in_window"][STOP] <= 20
    assert stats["callers"]["runner"]["calls"] == {STOP: 70}


def test_a_greedy_client_beside_foreign_traffic_is_throttled() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=20, foreign_rate=5.0)
    decisions = steady(core, clock, rate=20, seconds=5)
    stats = core.stats()
    assert decisions.count(False) > 0
    assert stats["foreign"]["throttled"] > 0  # the foreign client suffers too
    assert stats["with_foreign"]["max_accepted_in_window"][STOP] <= 20
    assert stats["foreign"]["arrivals"] == 25


def test_foreign_rate_changes_at_run_time() -> None:
    clock = FakeTime()
    core = clock.core(foreign_rate=10.0)
    clock.now += 1.0
    core.configure(SettingsChange(foreign_rate=2.0))  # the 10 due so far happen first
    clock.now += 1.0
    assert core.stats()["foreign"]["arrivals"] == 12
    assert core.settings()["foreign_rate"] == 2.0


def test_reset_stats_keeps_the_window() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=3)
    assert clock.arrivals(core, (0.0, 0.0, 0.0)) == [True, True, True]
    core.reset_stats()
    assert core.stats()["calls"] == {}
    assert clock.arrivals(core, (0.1,)) == [False]  # the server's window did not forget


def test_callers_are_tallied_apart() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=3)
    clock.arrivals(core, (0.0, 0.0), caller="A")
    clock.arrivals(core, (0.0, 0.0), caller="B")
    callers = core.stats()["callers"]
    assert callers["A"] == {
        "calls": {STOP: 2},
        "accepted": {STOP: 2},
        "rate_limited": {},
        "max_in_window": {STOP: 2},
        "max_accepted_in_window": {STOP: 2},
        "tightest_over_limit": {},  # never more than the limit (3) arrived
    }
    assert callers["B"]["accepted"] == {STOP: 1}
    assert callers["B"]["rate_limited"] == {STOP: 1}


def test_rate_limit_throttles_a_burst(emu: Emulator) -> None:
    codes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        client = make_client(emu)
        for _ in range(8):
            try:
                describe(client, "t-1")
                code = "ok"
            except TencentCloudSDKException as error:
                code = error.code
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(codes) == 64
    assert set(codes) <= {"ok", "RequestLimitExceeded"}
    assert codes.count("RequestLimitExceeded") > 0
    stats = emu.stats()
    action = "DescribeStreamIngest"
    assert stats["calls"][action] == 64
    assert stats["accepted"][action] + stats["rate_limited"][action] == 64
    assert stats["max_accepted_in_window"][action] <= 20
    assert stats["max_in_window"][action] > 20
    assert stats["throttled_by"]["rate_limit"] == codes.count("RequestLimitExceeded")


def test_an_arrival_stamped_before_the_last_decided_one_arrives_with_it() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=2)
    assert core.admit(STOP, arrived=100.0).accepted
    clock.now = 101.3
    assert core.admit(STOP, arrived=101.2).accepted
    # Stamped at 100.5, but decided after 101.2: it counts at 101.2, with that one.
    assert core.admit(STOP, arrived=100.5).accepted
    assert not core.admit(STOP).accepted  # 101.3: three in its window
    assert core.stats()["max_in_window"][STOP] == 3
    assert core.stats()["tightest_over_limit"] == {STOP: pytest.approx(0.1)}


def test_an_arrival_is_never_later_than_its_decision() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=1)
    assert core.admit(STOP, arrived=150.0).accepted  # a stamp from the future: now, 100.0
    clock.now = 101.0
    assert core.admit(STOP).accepted  # 100.0 has left the window


def test_tightest_span_says_how_near_the_limit_came() -> None:
    clock = FakeTime()
    core = clock.core(rate_limit=3)
    clock.arrivals(core, (0.0, 0.4, 0.4, 0.25))  # four arrivals within 1.05 s: none throttled
    stats = core.stats()
    assert stats["rate_limited"] == {}
    assert stats["tightest_over_limit"] == {STOP: pytest.approx(1.05)}
    clock.arrivals(core, (0.3,))  # 100.4 .. 101.35: four within 0.95 s
    assert core.stats()["tightest_over_limit"] == {STOP: pytest.approx(0.95)}


def _raw_request(action: str) -> tuple[bytes, bytes]:
    """An unsigned API request, split after its request line."""
    body = b"{}"
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nX-TC-Action: {action}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return b"POST / HTTP/1.1\r\n", head[len(b"POST / HTTP/1.1\r\n") :] + body


def test_a_request_arrives_when_its_first_bytes_do(emu: Emulator) -> None:
    """The kernel's stamp of the first segment is the arrival, not the moment the
    handler has the whole request: this one counts in the window it began in."""
    emu.configure(rate_limit=1)
    action = "DescribeStreamIngest"
    with (
        socket.create_connection(("127.0.0.1", emu.port)) as first,
        socket.create_connection(("127.0.0.1", emu.port)) as second,
    ):
        start, rest = _raw_request(action)
        first.sendall(start + rest)
        assert b"RequestLimitExceeded" not in first.recv(65536)
        second.sendall(start)  # begun well inside the first one's window...
        time.sleep(1.3)
        second.sendall(rest)  # ...and finished after it has passed
        answer = second.recv(65536)
    assert b"RequestLimitExceeded" in answer
    assert emu.stats()["rate_limited"] == {action: 1}


def test_a_stats_read_does_not_let_a_later_arrival_go_before_the_foreign_ones() -> None:
    """``stats`` decides the foreign arrivals due by now; a request stamped before
    them but handed in after is decided after them, as any late-decided arrival is:
    the windows stay in order and no span of arrivals comes out negative."""
    clock = FakeTime()
    core = clock.core(rate_limit=1, foreign_rate=1.0)  # foreign at 101, 102, ...
    clock.now = 102.9
    core.stats()  # decides the foreign 101.0 and 102.0
    assert not core.admit(STOP, arrived=101.95).accepted  # taken at 102.9, beside 102.0
    stats = core.stats()
    assert stats["with_foreign"]["tightest_over_limit"] == {STOP: pytest.approx(0.9)}
    assert stats["with_foreign"]["max_in_window"][STOP] == 2


def _send_on(port: int, *pieces: tuple[float, bytes]) -> socket.socket:
    """A connection that sends each piece at its time (seconds from now)."""
    connection = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    for at, piece in pieces:
        time.sleep(max(0.0, start + at - time.monotonic()))
        connection.sendall(piece)
    return connection


def _answers(connection: socket.socket, count: int) -> list[bytes]:
    """The next ``count`` answers' bodies on a connection."""
    connection.settimeout(10)
    data, bodies = b"", []
    while len(bodies) < count:
        head, separator, rest = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if b"Content-Length" in line),
            None,
        )
        if separator and length is not None and len(rest) >= length:
            bodies.append(rest[:length])
            data = rest[length:]
            continue
        chunk = connection.recv(65536)
        assert chunk, "the emulator closed the connection"
        data += chunk
    return bodies


def test_a_pipelined_request_arrives_with_the_segment_that_brought_it(emu: Emulator) -> None:
    """Two requests in one segment: the second, read from the buffer after the first
    was answered, arrives when the segment did, not when it was read."""
    emu.configure(rate_limit=1, latency=1.5)
    start, rest = _raw_request("DescribeStreamIngest")
    with _send_on(emu.port, (0.0, (start + rest) * 2)) as connection:
        first, second = _answers(connection, 2)
    assert b"RequestLimitExceeded" not in first
    assert b"RequestLimitExceeded" in second  # both came at 0; not 0 and 1.5


def test_the_first_request_on_a_connection_is_stamped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request sent as soon as the connection is made reaches the kernel before a
    handler thread has the connection; it is stamped all the same."""
    from reconciler.emulator import server

    plain_setup = server._Handler.setup

    def late_setup(handler: Any) -> None:
        time.sleep(1.1)  # a busy machine: the handler thread starts late
        plain_setup(handler)

    monkeypatch.setattr(server._Handler, "setup", late_setup)
    # The foreign client's first arrival is at 1.0: the request, sent at 0.3 and
    # read at 1.4, is admitted if it arrived when sent, throttled if when read.
    with Emulator(EmulatorConfig(rate_limit=1, foreign_rate=1.0)) as fresh:
        start, rest = _raw_request(STOP)  # the foreign client's action: one window
        with _send_on(fresh.port, (0.3, start + rest)) as connection:
            (answer,) = _answers(connection, 1)
        assert b"RequestLimitExceeded" not in answer
        assert fresh.stats()["foreign"]["throttled"] == 1


def test_tightest_span_follows_a_limit_set_at_run_time() -> None:
    """Arrivals before the limit was set (or changed) do not fix the limit the span is
    measured against: five arrivals in 0.4 s under a limit of 2 are reported."""
    clock = FakeTime()
    core = clock.core(rate_limit=0)
    clock.arrivals(core, (0.0,))  # no limit yet
    core.configure(SettingsChange.from_mapping({"rate_limit": 2}))
    assert clock.arrivals(core, (0.1, 0.1, 0.1, 0.1)) == [True, False, False, False]
    assert core.stats()["tightest_over_limit"] == {STOP: pytest.approx(0.2)}
