"""The JSON Schema of a manifest document (``reconciler.schema``): what it
describes, that the example manifests validate, and that it agrees with the loader
(checked with ``jsonschema``, the reference validator for Python)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.domain import REGIONS, TASK_ID_MAX_LENGTH, TASK_ID_PATTERN
from reconciler.schema import manifest_schema
from tests.manifest.helpers import HEADER, REPO, load_text, manifest_text, messages


def errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """What ``jsonschema`` finds wrong with ``instance``, one message per error."""
    return [error.message for error in Draft202012Validator(schema).iter_errors(instance)]


def test_the_schema_describes_one_manifest_document() -> None:
    schema = manifest_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]
    assert schema["required"] == ["apiVersion", "kind", "spec"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["apiVersion"] == {"const": "reconciler/v1"}
    assert schema["properties"]["kind"] == {"const": "StreamIngestStop"}
    defs = schema["$defs"]
    assert defs["region"]["enum"] == sorted(REGIONS)
    assert defs["sdkAppId"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert defs["taskId"]["maxLength"] == TASK_ID_MAX_LENGTH
    assert defs["taskId"]["pattern"] == TASK_ID_PATTERN
    assert [branch.get("type", "string") for branch in defs["task"]["oneOf"]] == [
        "string",
        "object",
    ]
    assert json.loads(json.dumps(schema)) == schema
    assert manifest_schema() is not manifest_schema()
    Draft202012Validator.check_schema(schema)


def test_the_example_manifests_validate_against_the_schema() -> None:
    schema = manifest_schema()
    documents = [
        document
        for path in sorted((REPO / "manifests").rglob("*.y*ml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document is not None
    ]
    assert len(documents) >= 4
    for document in documents:
        assert errors(document, schema) == []


AGREEMENT_CASES = [
    manifest_text("    - a\n    - {taskId: b, note: x, region: ap-beijing, sdkAppId: 2}\n"),
    manifest_text("    - a\n", spec=""),
    manifest_text("    - {taskId: a, sdkAppId: 1}\n", spec="  region: ap-mumbai\n"),
    manifest_text("    - {taskId: a, region: ap-mumbai}\n", spec="  region: ap-mumbai\n"),
    manifest_text("    - 12345\n"),
    manifest_text("    - '12345'\n"),
    manifest_text("    - yes\n"),
    manifest_text("    - 'a b'\n"),
    manifest_text("    - 'a\\u3000b'\n"),
    manifest_text('    - "a\\x85b"\n'),
    manifest_text("    - 'a\\u200bb'\n"),
    manifest_text("    - ''\n"),
    manifest_text(f"    - {'x' * 257}\n"),
    manifest_text(f"    - {'x' * 256}\n"),
    manifest_text("    - {taskId: a, sdkAppId: true}\n"),
    manifest_text("    - {taskId: a, sdkAppId: '5'}\n"),
    manifest_text("    - {taskId: a, sdkAppId: 0}\n"),
    manifest_text(f"    - {{taskId: a, sdkAppId: {2**63}}}\n"),
    manifest_text(f"    - {{taskId: a, sdkAppId: {2**63 - 1}}}\n"),
    manifest_text("    - {taskId: a, region: mars}\n"),
    manifest_text("    - {taskId: a, note: 5}\n"),
    manifest_text("    - {taskId: a, taskID: b}\n"),
    manifest_text("    - [a]\n"),
    manifest_text("    - {note: x}\n"),
    manifest_text("    - 2024-06-01\n"),
    manifest_text("    - a\n", spec="  region: ap-jakarta\n  sdkAppId: 2\n  extra: 1\n"),
    manifest_text(""),
    f"{HEADER}spec:\n  tasks: []\n",
    f"{HEADER}spec: {{}}\n",
    f"{HEADER}metadata: {{name: x}}\nspec: {{tasks: []}}\n",
    f"{HEADER}metadata: {{name: 1}}\nspec: {{tasks: []}}\n",
    f"{HEADER}metadata: {{}}\nspec: {{tasks: []}}\n",
    f"{HEADER}metadata: {{nmae: x}}\nspec: {{tasks: []}}\n",
    "apiVersion: reconciler/v2\nkind: StreamIngestStop\nspec: {tasks: []}\n",
    "kind: StreamIngestStop\nspec: {tasks: []}\n",
    "[]\n",
    "5\n",
]


@pytest.mark.parametrize("text", AGREEMENT_CASES)
def test_the_loader_and_the_schema_agree(tmp_path: Path, text: str) -> None:
    document = yaml.safe_load(text)
    schema_ok = not errors(document, manifest_schema())
    loader_ok = load_text(tmp_path, text).ok
    assert loader_ok == schema_ok, (
        messages(load_text(tmp_path, text)),
        errors(document, manifest_schema()),
    )


@pytest.mark.parametrize(
    "text",
    [
        manifest_text("    - a\n    - a\n"),  # the same address twice
        manifest_text("    - {taskId: a, sdkAppId: 017}\n"),  # YAML 1.1 octal
        manifest_text("    - {taskId: a, sdkAppId: 1400000001.0}\n"),  # JSON calls it an integer
        manifest_text("    - {taskId: a, note: !!python/str x}\n"),  # a tag
    ],
)
def test_what_only_the_loader_can_refuse(tmp_path: Path, text: str) -> None:
    document = yaml.unsafe_load(text) if "!!python" in text else yaml.safe_load(text)
    assert errors(document, manifest_schema()) == []
    assert not load_text(tmp_path, text).ok


def test_dates_are_not_strings_to_the_schema_either() -> None:
    # What YAML reads as a date is no TaskId to the loader; nor is it a string here.
    date = datetime.date(2024, 6, 1)
    assert errors({"task": date}, {"properties": {"task": {"type": "string"}}})
