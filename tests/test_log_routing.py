"""Log lines from other libraries (psycopg, urllib3, the SDK's logger) take the
same structlog pipeline — JSON when logs are JSON, redacted — and the SDK's
logger never passes a DEBUG record; on a terminal the level defaults to warning,
elsewhere to info, and ``--log-level`` / ``RECONCILER_LOG_LEVEL`` choose."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from reconciler.logs import add_secrets, configure_logging
from reconciler.trtc import SDK_LOGGER_NAME
from tests.support import APP, EmulatorProcess, manifest, reconciler, seed


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_other_libraries_log_through_the_same_json_pipeline_redacted() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="info", stream=stream)
    add_secrets(["pg-pass-7f3a9c"])
    logging.getLogger("psycopg.pool").warning("cannot reach %s", "postgresql://u:pg-pass-7f3a9c@h")
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTP connection")
    logging.getLogger("urllib3.connectionpool").debug("below the level")
    structlog.get_logger("reconciler.t").info("native", token="x")
    found = lines(stream)
    assert [line["event"] for line in found] == [
        "cannot reach postgresql://u:***@h",
        "Starting new HTTP connection",
        "native",
    ]
    assert found[0]["level"] == "warning" and found[0]["logger"] == "psycopg.pool"
    assert found[1]["level"] == "info" and "timestamp" in found[1]
    assert found[2]["token"] == "***"


def test_the_sdk_logger_never_passes_a_debug_record_whatever_the_level() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    seen: list[logging.LogRecord] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    spy = Spy(level=logging.DEBUG)
    logging.getLogger().addHandler(spy)
    sdk = logging.getLogger(SDK_LOGGER_NAME)
    sdk.debug("GetResponse: Authorization: TC3-HMAC-SHA256 Credential=AKID/...")
    sdk.warning("the SDK says something")
    logging.getLogger(f"{SDK_LOGGER_NAME}.child").debug("nor its children")
    assert [record.getMessage() for record in seen] == ["the SDK says something"]
    assert [line["event"] for line in lines(stream)] == ["the SDK says something"]


def test_console_logs_on_a_terminal_default_to_warnings() -> None:
    terminal = FakeTerminal()
    configure_logging(fmt="auto", stream=terminal, color=False)
    structlog.get_logger().info("hidden")
    logging.getLogger("urllib3").info("hidden too")
    structlog.get_logger().warning("shown")
    text = terminal.getvalue()
    assert "hidden" not in text and "[warning  ] shown" in text and "\x1b" not in text

    pipe = io.StringIO()
    configure_logging(fmt="auto", stream=pipe)
    structlog.get_logger().info("shown at info")
    assert lines(pipe)[0]["event"] == "shown at info"


def test_level_from_flag_or_environment_through_the_cli(
    tmp_path: Path, emulator: EmulatorProcess, env: dict[str, str]
) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    emulator.add_tasks(seed(["a"]))
    debug = reconciler("apply", "--auto-approve", env={**env, "RECONCILER_LOG_LEVEL": "debug"},
                       cwd=tmp_path)  # fmt: skip
    assert debug.returncode == 0, debug.stderr
    records = [json.loads(line) for line in debug.stderr.splitlines()]
    urllib3 = [r for r in records if str(r.get("logger", "")).startswith("urllib3")]
    assert urllib3 and all(r["level"] == "debug" for r in urllib3)  # JSON, like the rest
    assert not [r for r in records if str(r.get("logger", "")).startswith(SDK_LOGGER_NAME)]

    quiet = reconciler("plan", "--log-level", "error", env={**env, "RECONCILER_LOG_LEVEL": "debug"},
                       cwd=tmp_path)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""

    bad = reconciler("plan", env={**env, "RECONCILER_LOG_LEVEL": "loud"}, cwd=tmp_path)
    assert bad.returncode == 1 and "RECONCILER_LOG_LEVEL" in bad.stderr
    assert f"{APP}/a" not in bad.stdout
