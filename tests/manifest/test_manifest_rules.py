"""The manifest rules: the format with its defaults and short form, and each
problem a document, its spec or a task can have, with its message and FILE:LINE:COL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.domain import (
    REGIONS,
    SDK_APP_ID_MAX,
    TASK_ID_MAX_LENGTH,
    DesiredTask,
)
from reconciler.manifest import load_manifests
from tests.manifest.helpers import (
    load_text,
    manifest_text,
    messages,
    only_problem,
    write,
)

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
        f"{path}:11:7: unknown key 'colour'"
        " (hint: accepted keys: taskId, sdkAppId, region, stopAt, note)",
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
