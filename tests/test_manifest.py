"""Tests of the manifest loader (``reconciler.manifest``) and its JSON Schema
(``reconciler.schema``): every rule of SPEC's *Manifests* section, each problem's
FILE:LINE:COL, the safety limits, and that loader and schema agree."""

from __future__ import annotations

import datetime
import gc
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from reconciler.domain import (
    REGIONS,
    SDK_APP_ID_MAX,
    TASK_ID_MAX_LENGTH,
    TASK_ID_PATTERN,
    DesiredTask,
)
from reconciler.manifest import LoadResult, Problem, load_manifests, safe_yaml
from reconciler.schema import manifest_schema

REPO = Path(__file__).resolve().parent.parent
HEADER = "apiVersion: reconciler/v1\nkind: StreamIngestStop\n"


@pytest.fixture(params=["libyaml", "pure-python"])
def composer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with libyaml's composer and again with PyYAML's own."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML is built without libyaml")
        yield request.param
    else:
        with mock.patch.object(safe_yaml, "_WITH_LIBYAML", False):
            yield request.param


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def manifest_text(
    tasks: str, *, spec: str = "  region: ap-singapore\n  sdkAppId: 1400000001\n"
) -> str:
    """A one-document manifest: the header, ``spec`` lines, then ``tasks`` lines
    (``tasks`` starts on line 7 with the default spec)."""
    return f"{HEADER}spec:\n{spec}  tasks:\n{tasks}"


def load_text(tmp_path: Path, text: str | bytes, name: str = "m.yaml", **limits: int) -> LoadResult:
    return load_manifests([write(tmp_path, name, text)], **limits)


def messages(result: LoadResult) -> list[str]:
    return [str(problem) for problem in result.problems]


def only_problem(result: LoadResult) -> Problem:
    assert len(result.problems) == 1, messages(result)
    return result.problems[0]


# -- the format ---------------------------------------------------------------------


def test_the_spec_example_loads_with_defaults_overrides_and_the_short_form(
    tmp_path: Path, composer: str
) -> None:
    text = """\
apiVersion: reconciler/v1
kind: StreamIngestStop
metadata:
  name: weekend-shows            # optional, shown in messages
spec:
  region: ap-singapore           # default for the tasks below
  sdkAppId: 1400000001           # default for the tasks below
  tasks:
    - taskId: "task-a"           # full form
      note: "event ended"        # optional free text
    - taskId: "task-b"
      sdkAppId: 1400000002       # per-task override
      region: ap-jakarta         # per-task override
    - "task-c"                   # short form: a bare TaskId with the defaults
"""
    path = write(tmp_path, "a.yaml", text)
    result = load_manifests([path])
    assert result.ok, messages(result)
    assert result.files == (str(path),)
    assert result.tasks == (
        DesiredTask(1400000001, "task-a", "ap-singapore", f"{path}:9", "event ended"),
        DesiredTask(1400000002, "task-b", "ap-jakarta", f"{path}:11"),
        DesiredTask(1400000001, "task-c", "ap-singapore", f"{path}:14"),
    )
    assert [task.address for task in result.tasks] == [
        "1400000001/task-a",
        "1400000002/task-b",
        "1400000001/task-c",
    ]


def test_the_example_manifests_of_the_repository_load() -> None:
    result = load_manifests([REPO / "manifests"])
    assert result.ok, messages(result)
    assert len(result.files) >= 3
    assert 10 <= len(result.tasks) <= 15
    assert len({task.address for task in result.tasks}) == len(result.tasks)
    assert {task.sdk_app_id for task in result.tasks} == {1400000001, 1400000002}
    assert len({task.region for task in result.tasks}) >= 4
    assert any(task.note for task in result.tasks)
    assert any(path.endswith(".yaml") for path in result.files)


def test_every_document_of_a_file_is_read_and_empty_documents_are_skipped(
    tmp_path: Path,
) -> None:
    text = (
        "# leading comment\n---\n---\n# only a comment\n---\n"
        + manifest_text('    - "one"\n')
        + "---\n"
        + manifest_text('    - "two"\n', spec="  region: ap-mumbai\n  sdkAppId: 7\n")
        + "...\n"
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [(t.address, t.region) for t in result.tasks] == [
        ("1400000001/one", "ap-singapore"),
        ("7/two", "ap-mumbai"),
    ]


def test_an_empty_file_declares_nothing(tmp_path: Path) -> None:
    result = load_text(tmp_path, "")
    assert result.ok and result.tasks == ()


def test_files_are_found_recursively_and_read_in_sorted_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, task in [
        ("manifests/z.yaml", "z"),
        ("manifests/b/deep/er.yml", "b-deep"),
        ("manifests/a.yaml", "a"),
        ("manifests/b/c.yaml", "b-c"),
    ]:
        write(tmp_path, name, manifest_text(f'    - "{task}"\n'))
    write(tmp_path, "manifests/notes.txt", "not a manifest")
    write(tmp_path, "manifests/b/README.md", "# not a manifest")
    result = load_manifests(["manifests"])
    assert result.ok, messages(result)
    assert result.files == (
        "manifests/a.yaml",
        "manifests/b/c.yaml",
        "manifests/b/deep/er.yml",
        "manifests/z.yaml",
    )
    assert [t.task_id for t in result.tasks] == ["a", "b-c", "b-deep", "z"]
    assert result.tasks[0].source == "manifests/a.yaml:7"


def test_a_path_may_name_one_file_and_each_file_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "m/one.yaml", manifest_text('    - "one"\n'))
    write(tmp_path, "m/two.yaml", manifest_text('    - "two"\n'))
    result = load_manifests(["m/two.yaml", "m", Path("m/one.yaml")])
    assert result.ok, messages(result)
    assert result.files == ("m/two.yaml", "m/one.yaml")


def test_a_missing_path_is_a_problem_at_line_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "m/one.yaml", manifest_text('    - "one"\n'))
    result = load_manifests(["m", "nope/", "gone.yaml"])
    assert messages(result) == [
        "nope/:0:0: no such file or directory",
        "gone.yaml:0:0: no such file or directory",
    ]
    assert [t.task_id for t in result.tasks] == ["one"]


def test_one_path_may_be_given_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", manifest_text("    - a\n"))
    assert load_manifests(str(path)).files == (str(path),)
    assert load_manifests(path).files == (str(path),)  # type: ignore[arg-type]


def test_no_manifest_files_at_all_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "readme.md", "hello")
    problem = only_problem(load_manifests([tmp_path]))
    assert problem.file == str(tmp_path)
    assert "no manifest files" in problem.message


def test_defaults_apply_unless_a_task_overrides_them(tmp_path: Path) -> None:
    text = manifest_text(
        "    - a\n"
        "    - taskId: b\n      region: ap-beijing\n"
        "    - taskId: c\n      sdkAppId: 42\n"
        "    - {taskId: d, sdkAppId: 9223372036854775807, region: ap-chongqing, note: ''}\n"
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [(t.sdk_app_id, t.task_id, t.region, t.note) for t in result.tasks] == [
        (1400000001, "a", "ap-singapore", None),
        (1400000001, "b", "ap-beijing", None),
        (42, "c", "ap-singapore", None),
        (SDK_APP_ID_MAX, "d", "ap-chongqing", ""),
    ]


def test_without_defaults_every_task_names_its_own(tmp_path: Path) -> None:
    text = manifest_text(
        "    - {taskId: a, sdkAppId: 5, region: ap-mumbai}\n"
        "    - {taskId: b, region: ap-mumbai}\n"
        "    - c\n",
        spec="",
    )
    no_app = "task has no sdkAppId (hint: set spec.sdkAppId or the task's own sdkAppId)"
    no_region = "task has no region (hint: set spec.region or the task's own region)"
    assert messages(load_text(tmp_path, text)) == [
        f"{tmp_path}/m.yaml:6:7: {no_app}",
        f"{tmp_path}/m.yaml:7:7: {no_app}",
        f"{tmp_path}/m.yaml:7:7: {no_region}",
    ]


def test_an_invalid_default_is_reported_once_not_per_task(tmp_path: Path) -> None:
    text = manifest_text("    - a\n    - b\n    - c\n", spec="  region: mars\n  sdkAppId: '12'\n")
    assert [(p.line, p.col) for p in load_text(tmp_path, text).problems] == [(4, 11), (5, 13)]


def test_task_ids_may_hold_any_visible_characters(tmp_path: Path) -> None:
    task_ids = ["a/b/c", "-gBj_dHPw6+uB5e6==", "café", "x" * TASK_ID_MAX_LENGTH, "12345", "yes"]
    text = manifest_text("".join(f"    - {json.dumps(t)}\n" for t in task_ids))
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [t.task_id for t in result.tasks] == task_ids
    assert result.tasks[0].address == "1400000001/a/b/c"


# -- problems -------------------------------------------------------------------------


def test_unknown_keys_are_reported_with_did_you_mean(tmp_path: Path, composer: str) -> None:
    text = (
        "apiVersion: reconciler/v1\n"
        "kind: StreamIngestStop\n"
        "metdata: {name: x}\n"
        "spec:\n"
        "  sdkAppId: 1400000001\n"
        "  region: ap-singapore\n"
        "  tasks:\n"
        "    - taskID: a\n"
        "      regoin: ap-jakarta\n"
        "      sdkappid: 5\n"
        "      colour: blue\n"
    )
    path = write(tmp_path, "m.yaml", text)
    assert messages(load_manifests([path])) == [
        f"{path}:3:1: unknown key 'metdata'; did you mean 'metadata'?",
        f"{path}:8:7: unknown key 'taskID'; did you mean 'taskId'?",
        f"{path}:8:7: task has no 'taskId' (hint: add 'taskId: \"...\"')",
        f"{path}:9:7: unknown key 'regoin'; did you mean 'region'?",
        f"{path}:10:7: unknown key 'sdkappid'; did you mean 'sdkAppId'?",
        f"{path}:11:7: unknown key 'colour' (hint: accepted keys: taskId, sdkAppId, region, note)",
    ]


@pytest.mark.parametrize(
    ("plain", "reads_as"),
    [
        ("12345", "an integer"),
        ("1.5", "a number"),
        ("1e3", "a string"),  # YAML 1.1 needs a sign in the exponent: this one is text
        ("yes", "a boolean"),
        ("no", "a boolean"),
        ("on", "a boolean"),
        ("Off", "a boolean"),
        ("null", "null"),
        ("~", "null"),
        ("2024-06-01", "a date"),
        ("0x1F", "an integer"),
        (".inf", "a number"),
    ],
)
def test_a_task_id_yaml_reads_as_no_string_is_refused_with_a_hint_to_quote_it(
    tmp_path: Path, composer: str, plain: str, reads_as: str
) -> None:
    text = manifest_text(f"    - {plain}\n    - taskId: {plain}\n      sdkAppId: 2\n")
    result = load_text(tmp_path, text)
    if reads_as == "a string":
        assert result.ok, messages(result)
        return
    quoted = json.dumps(plain)
    expected = f"taskId must be a string, but YAML reads {plain} as {reads_as}"
    assert [(p.line, p.col, p.message, p.hint) for p in result.problems] == [
        (7, 7, expected, f"quote it to keep it as text: {quoted}"),
        (8, 15, expected, f"quote it to keep it as text: {quoted}"),
    ]
    assert result.tasks == ()
    # ... and quoted, the same text is a fine TaskId.
    text = manifest_text(f"    - {quoted}\n    - taskId: '{plain}'\n      sdkAppId: 2\n")
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [t.task_id for t in result.tasks] == [plain, plain]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('""', "taskId must not be empty"),
        ('"a b"', "taskId 'a b' contains whitespace or a control character"),
        ('"tab\\there"', "taskId 'tab\\there' contains whitespace or a control character"),
        ('"nul\\0"', "taskId 'nul\\x00' contains whitespace or a control character"),
        ('"nbsp\\u00a0"', "taskId 'nbsp\\xa0' contains whitespace or a control character"),
        ('"line\\n"', "taskId 'line\\n' contains whitespace or a control character"),
        ('"' + "x" * 257 + '"', "taskId is 257 characters long; at most 256 are allowed"),
        ("", "taskId must be a string, not null"),
        ("[a, b]", "a task must be a TaskId string or a mapping with 'taskId', not a list"),
        ("{taskId: [a]}", "taskId must be a string, not a list"),
        ("{taskId: {a: b}}", "taskId must be a string, not a mapping"),
        ("{taskId: }", "taskId must be a string, not null"),
        ("{note: x}", "task has no 'taskId'"),
        ("{taskId: a, note: 5}", "note must be a string, but YAML reads 5 as an integer"),
        ("{taskId: a, region: 5}", "region must be a string, not an integer"),
        ("{taskId: a, region: Ap-Singapore}", "unknown region 'Ap-Singapore'"),
        ("{taskId: a, taskId: b}", "duplicate key 'taskId'"),
    ],
)
def test_a_bad_task_entry_is_refused(tmp_path: Path, entry: str, message: str) -> None:
    problem = only_problem(load_text(tmp_path, manifest_text(f"    - {entry}\n")))
    assert problem.line == 7
    assert problem.message == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("true", "sdkAppId must be an integer, not a boolean"),
        ("1.5", "sdkAppId must be an integer, not a number"),
        ("1400000001.0", "sdkAppId must be an integer, not a number"),
        ('"1400000001"', "sdkAppId must be an integer, not a string"),
        ("abc", "sdkAppId must be an integer, not a string"),
        ("~", "sdkAppId must be an integer, not null"),
        ("[1]", "sdkAppId must be an integer, not a list"),
        ("0", "sdkAppId 0 is out of range (1..9223372036854775807)"),
        ("-5", "sdkAppId -5 is out of range (1..9223372036854775807)"),
        (str(2**63), f"sdkAppId {2**63} is out of range (1..9223372036854775807)"),
        ("9" * 5000, "sdkAppId " + "9" * 59 + "… is out of range (1..9223372036854775807)"),
        ("0x10", "sdkAppId 0x10 is not a plain decimal integer"),
        ("017", "sdkAppId 017 is not a plain decimal integer"),
        ("1:30", "sdkAppId 1:30 is not a plain decimal integer"),
    ],
)
def test_an_sdk_app_id_must_be_a_plain_integer_in_range(
    tmp_path: Path, composer: str, value: str, message: str
) -> None:
    text = manifest_text(f"    - taskId: a\n      sdkAppId: {value}\n")
    problem = only_problem(load_text(tmp_path, text))
    assert (problem.line, problem.col, problem.message) == (8, 17, message)


def test_a_quoted_sdk_app_id_gets_a_hint_to_unquote_it(tmp_path: Path) -> None:
    text = manifest_text("    - a\n", spec="  region: ap-singapore\n  sdkAppId: '1400000001'\n")
    assert str(only_problem(load_text(tmp_path, text))).endswith(
        "5:13: spec.sdkAppId must be an integer, not a string"
        " (hint: write it without quotes: 1400000001)"
    )


def test_sdk_app_ids_may_use_underscores_and_a_plus_sign(tmp_path: Path) -> None:
    text = manifest_text("    - a\n", spec="  region: ap-singapore\n  sdkAppId: +1_400_000_001\n")
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert result.tasks[0].sdk_app_id == 1400000001


def test_an_unknown_region_is_refused_with_the_closest_or_the_list(tmp_path: Path) -> None:
    text = manifest_text(
        "    - {taskId: a, region: ap-singapur}\n"
        "    - {taskId: b, region: us-east-1}\n"
        "    - {taskId: c, region: AP-MUMBAI}\n"
    )
    result = load_text(tmp_path, text)
    accepted = ", ".join(sorted(REGIONS))
    assert [(p.line, p.col, p.message, p.hint) for p in result.problems] == [
        (7, 27, "unknown region 'ap-singapur'", "did you mean 'ap-singapore'?"),
        (8, 27, "unknown region 'us-east-1'", f"accepted regions: {accepted}"),
        (9, 27, "unknown region 'AP-MUMBAI'", "did you mean 'ap-mumbai'?"),
    ]


def test_the_document_structure_is_checked(tmp_path: Path) -> None:
    text = (
        "kind: StreamIngestStop\n"  # no apiVersion
        "metadata: {name: 5, labels: {}}\n"
        "spec: {region: ap-jakarta, sdkAppId: 3}\n"  # no tasks
        "---\n"
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\n"  # no spec
        "---\n"
        "- just a list\n"
        "---\n"
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec: [a]\n"
        "---\n"
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\nmetadata: x\nspec: {tasks: {a: b}}\n"
    )
    path = write(tmp_path, "m.yaml", text)
    assert messages(load_manifests([path])) == [
        f"{path}:1:1: missing required key 'apiVersion' (hint: add 'apiVersion: reconciler/v1')",
        f"{path}:2:18: metadata.name must be a string, not an integer",
        f"{path}:2:21: unknown key 'labels' (hint: accepted keys: name)",
        f"{path}:3:7: missing required key 'tasks' in spec"
        " (hint: list the TaskIds to stop under 'tasks:')",
        f"{path}:5:1: missing required key 'spec' (hint: add 'spec:' with 'tasks:')",
        f"{path}:8:1: a manifest document must be a mapping, not a list",
        f"{path}:12:7: spec must be a mapping, not a list",
        f"{path}:16:11: metadata must be a mapping, not a string",
        f"{path}:17:15: spec.tasks must be a list, not a mapping",
    ]


def test_a_document_of_another_kind_is_not_checked_further(tmp_path: Path) -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n"
    path = write(tmp_path, "m.yaml", text)
    assert messages(load_manifests([path])) == [
        f"{path}:1:13: apiVersion must be 'reconciler/v1', not 'apps/v1'",
        f"{path}:2:7: kind must be 'StreamIngestStop', not 'Deployment'",
    ]


def test_duplicate_keys_and_merge_keys_are_refused(tmp_path: Path) -> None:
    text = (
        "apiVersion: reconciler/v1\nkind: StreamIngestStop\n"
        "spec:\n  region: ap-jakarta\n  region: ap-mumbai\n  sdkAppId: 1\n"
        "  tasks:\n    - {taskId: a, <<: {region: ap-mumbai}}\n"
    )
    path = write(tmp_path, "m.yaml", text)
    assert messages(load_manifests([path])) == [
        f"{path}:5:3: duplicate key 'region' (hint: a key may appear once in a mapping)",
        f"{path}:8:19: YAML merge keys ('<<') are not supported"
        " (hint: set spec.region and spec.sdkAppId as defaults instead)",
    ]


def test_the_same_address_twice_names_both_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "m/a.yaml", manifest_text('    - "t1"\n    - taskId: t2\n    - t1\n'))
    write(tmp_path, "m/b.yaml", manifest_text("    - t3\n    - {taskId: t2, region: ap-mumbai}\n"))
    write(
        tmp_path,
        "m/c.yaml",
        manifest_text("    - t2\n", spec="  region: ap-mumbai\n  sdkAppId: 9\n"),
    )
    result = load_manifests(["m"])
    assert messages(result) == [
        "m/a.yaml:9:7: task 1400000001/t1 is declared twice; first at m/a.yaml:7"
        " (hint: remove one of the two declarations)",
        "m/b.yaml:8:7: task 1400000001/t2 is declared twice; first at m/a.yaml:8"
        " (hint: remove one of the two declarations)",
    ]
    # 9/t2 is another address: a different SdkAppId.
    assert "9/t2" in {t.address for t in result.tasks}


def test_every_problem_is_reported_up_to_the_cap(tmp_path: Path) -> None:
    text = manifest_text("".join(f"    - {n}\n" for n in range(150)))
    result = load_text(tmp_path, text)
    assert len(result.problems) == 100 and result.truncated
    assert [p.line for p in result.problems] == list(range(7, 107))
    result = load_text(tmp_path, text, max_problems=10)
    assert len(result.problems) == 10 and result.truncated
    result = load_text(tmp_path, manifest_text("    - 1\n    - 2\n"), max_problems=2)
    assert len(result.problems) == 2 and not result.truncated
    result = load_text(tmp_path, text, max_problems=0)  # a cap never hides that it failed
    assert len(result.problems) == 1 and result.truncated and not result.ok


def test_problems_print_on_one_line_as_file_line_col() -> None:
    assert str(Problem("m.yaml", 3, 7, "unknown key 'taskID'", "did you mean 'taskId'?")) == (
        "m.yaml:3:7: unknown key 'taskID'; did you mean 'taskId'?"
    )
    assert str(Problem("m.yaml", 3, 7, "bad", "fix it")) == "m.yaml:3:7: bad (hint: fix it)"
    assert str(Problem("m.yaml", 0, 0, "gone")) == "m.yaml:0:0: gone"


def test_user_text_in_messages_stays_on_one_line(tmp_path: Path) -> None:
    text = manifest_text('    - {"task\\nid": a, taskId: b}\n    - {taskId: "x\\ny"}\n')
    for line in messages(load_text(tmp_path, text)):
        assert "\n" not in line


# -- YAML errors and encodings ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        (manifest_text("    - [a, b\n"), 8, 1),
        (manifest_text("    - a\n   - b\n"), 8, 4),
        (manifest_text('    - "unterminated\n'), 8, 1),
        (manifest_text("    - a\n\t- b\n"), 8, 1),
        (manifest_text("    - *nowhere\n"), 7, 7),
    ],
)
def test_a_yaml_syntax_error_is_a_problem_at_its_mark(
    tmp_path: Path, composer: str, text: str, line: int, col: int
) -> None:
    problem = only_problem(load_text(tmp_path, text))
    assert problem.message.startswith("YAML syntax error: ")
    assert (problem.line, problem.col) == (line, col)


def test_problems_before_a_syntax_error_are_still_reported(tmp_path: Path) -> None:
    text = manifest_text("    - 5\n") + "---\n" + manifest_text("    - [a\n")
    assert [p.line for p in load_text(tmp_path, text).problems] == [7, 16]


def test_control_characters_are_a_problem_at_their_place(tmp_path: Path, composer: str) -> None:
    problem = only_problem(load_text(tmp_path, manifest_text("    - ab\x01c\n")))
    assert (problem.line, problem.col) == (7, 9)
    assert "control characters" in problem.message or "special characters" in problem.message


@pytest.mark.parametrize(
    ("data", "line", "col"),
    [
        (manifest_text("    - caf").encode() + b"\xe9\n", 7, 10),
        (b"\xff\xfe" + manifest_text("    - a\n").encode("utf-16-le"), 1, 1),
        (manifest_text("    - a\n").encode("utf-16"), 1, 1),
        (manifest_text("    - é").encode() + b"\xc3\x28\n", 7, 8),
    ],
)
def test_a_file_that_is_not_utf8_is_a_problem(
    tmp_path: Path, composer: str, data: bytes, line: int, col: int
) -> None:
    problem = only_problem(load_text(tmp_path, data))
    assert problem.message.startswith("not valid UTF-8")
    assert (problem.line, problem.col) == (line, col)


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path, composer: str) -> None:
    result = load_text(tmp_path, b"\xef\xbb\xbf" + manifest_text("    - a\n").encode())
    assert result.ok, messages(result)


def test_columns_count_characters(tmp_path: Path, composer: str) -> None:
    text = manifest_text("    - {taskId: é, regién: x}\n")
    problem = only_problem(load_text(tmp_path, text))
    assert (problem.line, problem.col, problem.message) == (7, 19, "unknown key 'regién'")


# -- safety -------------------------------------------------------------------------------


def test_a_python_tag_is_refused_and_never_runs(tmp_path: Path, composer: str) -> None:
    marker = tmp_path / "pwned"
    text = manifest_text(f'    - taskId: !!python/object/apply:os.system ["touch {marker}"]\n')
    problem = only_problem(load_text(tmp_path, text))
    assert (problem.line, problem.col) == (7, 15)
    assert problem.message == (
        "YAML tag '!!python/object/apply:os.system' is not allowed: manifests are data"
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "tag", "line", "col"),
    [
        ("!!python/object:os.system\napiVersion: x\n", "!!python/object:os.system", 1, 1),
        (manifest_text("    - !!binary aGVsbG8=\n"), "!!binary", 7, 7),
        (manifest_text("    - !!set {a, b}\n"), "!!set", 7, 7),
        (manifest_text("    - !!omap [{taskId: a}]\n"), "!!omap", 7, 7),
        (manifest_text("    - !custom a\n"), "!custom", 7, 7),
        (manifest_text("    - !<tag:example.com,2024:x> a\n"), "tag:example.com,2024:x", 7, 7),
        (
            manifest_text("    - {taskId: a, note: !!python/name:os.system x}\n"),
            "!!python/name:os.system",
            7,
            25,
        ),
        (manifest_text("    - {taskId: a, !!python/str note: x}\n"), "!!python/str", 7, 19),
        (f"{HEADER}spec: !!python/object/new:dict {{}}\n", "!!python/object/new:dict", 3, 7),
        (
            manifest_text("    - a\n", spec="  region: !!python/str ap-mumbai\n  sdkAppId: 1\n"),
            "!!python/str",
            4,
            11,
        ),
        (
            manifest_text("    - a\n", spec="  region: ap-mumbai\n  sdkAppId: !!python/int 1\n"),
            "!!python/int",
            5,
            13,
        ),
    ],
)
def test_tags_that_build_objects_are_refused(
    tmp_path: Path, composer: str, text: str, tag: str, line: int, col: int
) -> None:
    problem = only_problem(load_text(tmp_path, text))
    assert problem.message == f"YAML tag {tag!r} is not allowed: manifests are data"
    assert (problem.line, problem.col) == (line, col)


def test_standard_tags_are_fine(tmp_path: Path) -> None:
    text = manifest_text("    - !!str 12345\n    - !!map {taskId: !!str yes, sdkAppId: !!int 5}\n")
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [t.address for t in result.tasks] == ["1400000001/12345", "5/yes"]


BILLION_LAUGHS = """\
apiVersion: reconciler/v1
kind: StreamIngestStop
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
spec:
  region: ap-singapore
  sdkAppId: 1400000001
  tasks: *i
"""


def test_an_alias_bomb_is_refused_fast(tmp_path: Path, composer: str) -> None:
    start = time.perf_counter()
    result = load_text(tmp_path, BILLION_LAUGHS)
    assert time.perf_counter() - start < 1
    problem = only_problem(result)
    assert (problem.line, problem.col) == (1, 1)
    assert "node budget" in problem.message and "alias" in problem.message
    assert result.tasks == ()


def test_an_alias_bomb_of_tasks_is_refused(tmp_path: Path) -> None:
    # Aliased task mappings, each expanding to many nodes, in one long list.
    keys = "".join(f", k{n}: v" for n in range(200))
    text = manifest_text(f"    - &t {{taskId: a{keys}}}\n" + "    - *t\n" * 3000)
    start = time.perf_counter()
    problem = only_problem(load_text(tmp_path, text))
    assert time.perf_counter() - start < 1
    assert "node budget" in problem.message


def test_a_document_that_contains_itself_is_refused(tmp_path: Path, composer: str) -> None:
    problem = only_problem(load_text(tmp_path, manifest_text("    - &x [*x]\n")))
    assert "node budget" in problem.message


def test_an_ampersand_in_text_is_no_anchor(tmp_path: Path) -> None:
    result = load_text(tmp_path, manifest_text("    - {taskId: R&D, note: Q&A & more}\n"))
    assert result.ok, messages(result)
    assert result.tasks[0].task_id == "R&D"


def test_harmless_aliases_are_fine(tmp_path: Path) -> None:
    text = manifest_text(
        "    - {taskId: a, region: &r ap-mumbai, note: 'Q&A'}\n    - {taskId: b, region: *r}\n"
    )
    result = load_text(tmp_path, text)
    assert result.ok, messages(result)
    assert [t.region for t in result.tasks] == ["ap-mumbai", "ap-mumbai"]


def test_the_node_budget_can_be_lowered(tmp_path: Path) -> None:
    text = manifest_text("".join(f"    - t{n}\n" for n in range(100)))
    assert load_text(tmp_path, text, max_nodes=1000).ok
    problem = only_problem(load_text(tmp_path, text, max_nodes=50))
    assert "node budget of 50 YAML nodes" in problem.message


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", manifest_text("    - a\n") + "#" * 200 + "\n")
    with mock.patch.object(safe_yaml, "_composer") as compose:
        result = load_manifests([path], max_file_bytes=100)
    compose.assert_not_called()
    problem = only_problem(result)
    assert (problem.line, problem.col) == (0, 0)
    assert "larger than the limit of 100 bytes" in problem.message


def test_the_default_size_limit_is_8_mib(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(8 * 1024 * 1024 + 1)  # sparse: costs no disk
    start = time.perf_counter()
    problem = only_problem(load_manifests([path]))
    assert time.perf_counter() - start < 1
    assert "larger than the limit of 8,388,608 bytes" in problem.message


def test_what_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    try:
        os.mkfifo(fifo)
    except (AttributeError, OSError):
        pytest.skip("no named pipes here")
    assert only_problem(load_manifests([fifo])).message == "not a regular file"


def test_loading_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", manifest_text("    - a\n"))
    assert gc.isenabled()
    load_manifests([path])
    assert gc.isenabled()
    gc.disable()
    try:
        load_manifests([path])
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- the JSON Schema --------------------------------------------------------------------


def schema_errors(
    instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None
) -> list[str]:
    """A small JSON Schema 2020-12 validator for the keywords ``manifest_schema`` uses.

    ``jsonschema`` is not a dependency; this fails loudly on any keyword it does not
    know, so the schema cannot grow past what is tested.
    """
    root = root if root is not None else schema
    errors: list[str] = []
    for keyword, value in schema.items():
        if keyword in {"$schema", "$id", "$defs", "title", "description", "then"}:
            continue
        if keyword == "$ref":
            assert value.startswith("#/$defs/"), value
            errors += schema_errors(instance, root["$defs"][value[len("#/$defs/") :]], root)
        elif keyword == "type":
            types = value if isinstance(value, list) else [value]
            if not any(_is_json_type(instance, name) for name in types):
                errors.append(f"{instance!r} is not of type {value}")
        elif keyword == "const":
            if instance != value:
                errors.append(f"{instance!r} != {value!r}")
        elif keyword == "enum":
            if instance not in value:
                errors.append(f"{instance!r} not in {value}")
        elif keyword == "required":
            if isinstance(instance, dict):
                errors += [f"missing {key}" for key in value if key not in instance]
        elif keyword == "properties":
            if isinstance(instance, dict):
                for key, sub in value.items():
                    if key in instance:
                        errors += schema_errors(instance[key], sub, root)
        elif keyword == "additionalProperties":
            assert value is False
            if isinstance(instance, dict):
                errors += [f"extra {k!r}" for k in instance if k not in schema["properties"]]
        elif keyword == "items":
            if isinstance(instance, list):
                for item in instance:
                    errors += schema_errors(item, value, root)
        elif keyword == "oneOf":
            passing = sum(not schema_errors(instance, sub, root) for sub in value)
            if passing != 1:
                errors.append(f"{instance!r} matches {passing} of oneOf")
        elif keyword == "allOf":
            for sub in value:
                errors += schema_errors(instance, sub, root)
        elif keyword == "if":
            if not schema_errors(instance, value, root):
                errors += schema_errors(instance, schema.get("then", {}), root)
        elif keyword == "not":
            if not schema_errors(instance, value, root):
                errors.append(f"{instance!r} matches a 'not'")
        elif keyword in {"minLength", "maxLength", "pattern"}:
            if isinstance(instance, str):
                if keyword == "minLength" and len(instance) < value:
                    errors.append(f"{instance!r} is too short")
                if keyword == "maxLength" and len(instance) > value:
                    errors.append(f"{instance!r} is too long")
                # ECMA-262 semantics: '$' is the end of input, not "before a final newline".
                if keyword == "pattern" and not re.search(value.replace("$", r"\Z"), instance):
                    errors.append(f"{instance!r} does not match {value}")
        elif keyword in {"minimum", "maximum"}:
            if _is_json_type(instance, "number"):
                if keyword == "minimum" and instance < value:
                    errors.append(f"{instance!r} < {value}")
                if keyword == "maximum" and instance > value:
                    errors.append(f"{instance!r} > {value}")
        else:
            raise AssertionError(f"schema_errors does not know keyword {keyword!r}")
    return errors


def _is_json_type(instance: Any, name: str) -> bool:
    if isinstance(instance, bool):
        return name == "boolean"
    return {
        "object": isinstance(instance, dict),
        "array": isinstance(instance, list),
        "string": isinstance(instance, str),
        "integer": isinstance(instance, int)
        or (isinstance(instance, float) and instance.is_integer()),
        "number": isinstance(instance, (int, float)),
        "null": instance is None,
    }[name]


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
        assert schema_errors(document, schema) == []


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
    schema_ok = not schema_errors(document, manifest_schema())
    loader_ok = load_text(tmp_path, text).ok
    assert loader_ok == schema_ok, (
        messages(load_text(tmp_path, text)),
        schema_errors(document, manifest_schema()),
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
    assert schema_errors(document, manifest_schema()) == []
    assert not load_text(tmp_path, text).ok


def test_dates_are_not_strings_to_the_schema_either() -> None:
    assert not _is_json_type(datetime.date(2024, 6, 1), "string")
