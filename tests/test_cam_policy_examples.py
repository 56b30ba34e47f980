"""The example CAM policies under examples/cam/: CAM's policy shape (version "2.0", a
statement list of effect / action / resource), and exactly the permissions the
README's table gives each command — nothing more."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cam"
ACTION = re.compile(r"^[a-z]+:[A-Z][A-Za-z]+$")
RESOURCE = re.compile(r"^(\*|qcs::[a-z]*::[^\s]*)$")
ROLE_ARN = re.compile(r"^qcs::cam::uin/\d+:roleName/[\w+=,.@-]+$")


def policy(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_each_example_has_the_cam_policy_shape(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"version", "statement"}
    assert document["version"] == "2.0"
    assert isinstance(document["statement"], list) and document["statement"]
    for statement in document["statement"]:
        assert set(statement) == {"effect", "action", "resource"}
        assert statement["effect"] in ("allow", "deny")
        assert statement["action"] and all(ACTION.match(a) for a in statement["action"])
        assert statement["resource"] and all(RESOURCE.match(r) for r in statement["resource"])


def test_the_reconciler_policy_allows_the_two_ingest_actions_only() -> None:
    (statement,) = policy("reconciler-policy.json")["statement"]
    assert statement["effect"] == "allow"
    assert sorted(statement["action"]) == ["trtc:DescribeStreamIngest", "trtc:StopStreamIngest"]


def test_the_assume_role_policy_allows_assuming_one_role_only() -> None:
    (statement,) = policy("assume-role-policy.json")["statement"]
    assert statement["effect"] == "allow"
    assert statement["action"] == ["sts:AssumeRole"]
    assert len(statement["resource"]) == 1 and ROLE_ARN.match(statement["resource"][0])
