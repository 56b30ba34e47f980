"""``stopAt`` in manifests: a default in ``spec`` and a task's own, read from the
text as written whether YAML resolves it as a timestamp (plain) or a string
(quoted), every refusal with its place and hint, and the JSON Schema agreeing —
checked with ``jsonschema`` and with ``check-jsonschema``, which (as JSON tools do)
read a YAML timestamp as a string."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.instant import parse_time
from reconciler.schema import manifest_schema
from tests.manifest.helpers import load_text, manifest_text, messages, only_problem, write

DEFAULT = "  region: ap-singapore\n  sdkAppId: 1400000001\n"


def utc(task_stop_at: object) -> str | None:
    return None if task_stop_at is None else task_stop_at.text()  # type: ignore[attr-defined]


def test_a_spec_default_and_a_task_override_in_every_spelling(
    tmp_path: Path, composer: str
) -> None:
    text = manifest_text(
        "    - a\n"
        "    - {taskId: b, stopAt: 2026-12-05T15:00:00Z}\n"
        '    - {taskId: c, stopAt: "2026-12-05t15:00:00.25z"}\n'
        "    - {taskId: d, stopAt: 2026-12-05T10:00:00-05:00}\n"
        "    - {taskId: e, stopAt: '2026-12-06T05:30:00+14:30'}\n",
        spec=DEFAULT + "  stopAt: 2026-12-05T22:00:00+07:00   # plain: a YAML timestamp\n",
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [(task.task_id, utc(task.stop_at)) for task in result.tasks] == [
        ("a", "2026-12-05T15:00:00Z"),  # the default, its offset kept
        ("b", "2026-12-05T15:00:00Z"),
        ("c", "2026-12-05T15:00:00.25Z"),
        ("d", "2026-12-05T15:00:00Z"),
        ("e", "2026-12-05T15:00:00Z"),
    ]


def test_without_stop_at_a_task_has_none(tmp_path: Path) -> None:
    result = load_text(tmp_path, manifest_text("    - a\n    - {taskId: b}\n"))
    assert [task.stop_at for task in result.tasks] == [None, None]


def test_the_offset_is_never_lost_to_yaml_conversion(tmp_path: Path) -> None:
    # PyYAML's own constructor turns this timestamp into a datetime object; the
    # loader reads the text, so an offset far from the machine's zone still counts.
    text = manifest_text("    - {taskId: a, stopAt: 2026-12-05T00:30:00+13:45}\n")
    assert isinstance(yaml.safe_load(text)["spec"]["tasks"][0]["stopAt"], datetime)
    (task,) = load_text(tmp_path, text).tasks
    assert task.stop_at == parse_time("2026-12-04T10:45:00Z")


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ("2026-12-05", "stopAt '2026-12-05' is a date without a time", "T22:00:00+07:00"),
        ("2026-12-05T22:00:00", "stopAt '2026-12-05T22:00:00' has no UTC offset", "time zone"),
        ('"2026-12-05T22:00:00"', "stopAt '2026-12-05T22:00:00' has no UTC offset", "+07:00"),
        ("2026-12-05 22:00:00", "stopAt '2026-12-05 22:00:00' has no UTC offset", "T22:00:00Z"),
        ("2001-12-14 21:59:43.10 -5", "is not an RFC 3339 time", "offset"),
        ("2026-02-30T22:00:00Z", "has day 30, past the end of 2026-02", "28 days"),
        ("2026-12-05T22:00:60Z", "has no such time of day", "leap second"),
        ("1796482800", "stopAt must be an RFC 3339 time with an offset, not an integer", "e.g."),
        ("null", "stopAt must be an RFC 3339 time with an offset, not null", "leave stopAt out"),
        (
            "[2026-12-05T22:00:00Z]",
            "stopAt must be an RFC 3339 time with an offset, not a list",
            "",
        ),
        ("tomorrow", "stopAt 'tomorrow' is not an RFC 3339 time", "offset"),
    ],
)
def test_refusals(tmp_path: Path, composer: str, value: str, message: str, hint: str) -> None:
    text = manifest_text(f"    - taskId: a\n      stopAt: {value}\n")
    problem = only_problem(load_text(tmp_path, text))
    assert (problem.line, problem.col) == (8, 15)
    assert message in problem.message
    assert hint in (problem.hint or "")


def test_a_bad_default_is_reported_once_and_no_task_is_declared(tmp_path: Path) -> None:
    text = manifest_text("    - a\n    - b\n", spec=DEFAULT + "  stopAt: 2026-12-05\n")
    result = load_text(tmp_path, text)
    assert messages(result) == [
        f"{tmp_path / 'm.yaml'}:6:11: spec.stopAt '2026-12-05' is a date without a time"
        ' (hint: give a time and its offset, e.g. "2026-12-05T22:00:00+07:00")'
    ]
    assert result.tasks == ()


def test_a_tag_on_stop_at_is_refused(tmp_path: Path) -> None:
    text = manifest_text("    - {taskId: a, stopAt: !!python/object:datetime.datetime {}}\n")
    assert "YAML tag '!!python/object:datetime.datetime' is not allowed" in str(
        only_problem(load_text(tmp_path, text))
    )


# -- the JSON Schema -------------------------------------------------------------------


class JsonToolLoader(yaml.SafeLoader):
    """YAML as JSON Schema tools read it (check-jsonschema, editors): a timestamp is a
    string, JSON having no dates."""


JsonToolLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:str"]
)


def schema_errors(text: str) -> list[str]:
    document: Any = yaml.load(text, Loader=JsonToolLoader)
    return [e.message for e in Draft202012Validator(manifest_schema()).iter_errors(document)]


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-05T22:00:00+07:00",
        "'2026-12-05t15:00:00.5z'",
        "2026-12-05",
        "2026-12-05T22:00:00",
        "'2026-12-05 22:00:00+07:00'",
        "2026-12-05T22:00:00+0700",
        "1796482800",
        "null",
    ],
)
def test_the_loader_and_the_schema_agree(tmp_path: Path, value: str) -> None:
    for text in (
        manifest_text(f"    - {{taskId: a, stopAt: {value}}}\n"),
        manifest_text("    - a\n", spec=f"{DEFAULT}  stopAt: {value}\n"),
    ):
        assert load_text(tmp_path, text).ok == (not schema_errors(text)), value


def test_a_day_its_month_lacks_only_the_loader_refuses(tmp_path: Path) -> None:
    text = manifest_text("    - {taskId: a, stopAt: 2026-02-30T22:00:00Z}\n")
    assert schema_errors(text) == []
    assert not load_text(tmp_path, text).ok


def test_check_jsonschema_accepts_plain_and_quoted_and_refuses_no_offset(tmp_path: Path) -> None:
    schema = write(tmp_path, "schema.json", json.dumps(manifest_schema()))
    good = write(
        tmp_path,
        "good.yaml",
        manifest_text(
            "    - {taskId: a, stopAt: 2026-12-05T22:00:00+07:00}\n"
            "    - {taskId: b, stopAt: '2026-12-05T15:00:00Z'}\n"
        ),
    )
    bad = write(tmp_path, "bad.yaml", manifest_text("    - {taskId: a, stopAt: 2026-12-05}\n"))
    tool = [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema)]
    ok = subprocess.run([*tool, str(good)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = subprocess.run([*tool, str(bad)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "stopAt" in refused.stdout
