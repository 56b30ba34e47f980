"""Which files the manifest loader reads: found recursively under each path, in
sorted order, each once; a path that is not there is a problem of that path."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifest import load_manifests
from tests.manifest.helpers import (
    REPO,
    manifest_text,
    messages,
    only_problem,
    write,
)


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
