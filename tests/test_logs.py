"""Logging: redaction by field name at any level, credentials scrubbed from outside text,
and short values never rewritten inside a message."""

from __future__ import annotations

import io
import json

import structlog

from reconciler.logs import MIN_SECRET_LENGTH, add_secrets, configure_logging

SECRET_KEY = "s3cr3t-key-value-0123456789abcdef"
TOKEN = "tok-abcdef-0123456789-session"


def test_secrets_are_redacted_in_json_logs_at_debug() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=stream)
    add_secrets([SECRET_KEY, TOKEN])
    log = structlog.get_logger("t")
    log.debug("call", detail=f"header X-TC-Token: {TOKEN}", nested={"k": [SECRET_KEY]})
    log.info("x", password="hunter22", token="anything", nested={"Secret-Key": "k"})
    out = stream.getvalue()
    assert SECRET_KEY not in out and TOKEN not in out
    assert "hunter22" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["level"] == "debug" and lines[0]["detail"] == "header X-TC-Token: ***"
    assert lines[0]["nested"] == {"k": ["***"]}
    assert lines[1]["password"] == "***" and lines[1]["token"] == "***"
    assert lines[1]["nested"] == {"Secret-Key": "***"}


def test_a_short_value_is_never_rewritten_inside_a_message() -> None:
    """A short database password ('xp') registered by mistake must neither garble a
    server message ('e***ired') nor show, by where it masked, what the password is."""
    stream = io.StringIO()
    configure_logging(fmt="json", level="info", stream=stream)
    add_secrets(["xp", "p" * (MIN_SECRET_LENGTH - 1)])
    structlog.get_logger("t").warning("refused", error="token expired; ppppppppppppppp")
    line = json.loads(stream.getvalue())
    assert line["error"] == "token expired; ppppppppppppppp"
