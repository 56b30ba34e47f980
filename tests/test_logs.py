"""Logging: redaction of registered secrets and secret-named keys, at any level."""

from __future__ import annotations

import io
import json

import structlog

from reconciler.logs import add_secrets, configure_logging


def test_secrets_are_redacted_in_json_logs_at_debug() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    add_secrets(["s3cr3t-key-value", "tok-abcdef"])
    log = structlog.get_logger("t")
    log.debug("call", detail="header X-TC-Token: tok-abcdef", nested={"k": ["s3cr3t-key-value"]})
    log.info("x", password="hunter22", token="anything")
    out = stream.getvalue()
    assert "s3cr3t-key-value" not in out and "tok-abcdef" not in out
    assert "hunter22" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["level"] == "debug" and "***" in lines[0]["detail"]
    assert lines[1]["password"] == "***"
