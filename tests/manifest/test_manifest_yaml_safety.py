"""Safe YAML: syntax errors and encodings at their place, no tag that builds
objects, alias bombs and oversized files refused fast, the garbage collector left
as it was."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, Node, SequenceNode

from reconciler.manifest import load_manifests, safe_yaml
from tests.manifest.helpers import (
    HEADER,
    load_text,
    manifest_text,
    messages,
    only_problem,
    write,
)

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


def test_the_node_budget_counts_every_node_of_the_file(tmp_path: Path) -> None:
    # 2 + 2 + 2 + 40 * 2 nodes of metadata, past a budget of 50 before any rule runs.
    labels = ", ".join(f"k{n}: v" for n in range(40))
    text = f"{HEADER}metadata: {{name: x, labels: {{{labels}}}}}\nspec: {{tasks: []}}\n"
    problem = only_problem(load_text(tmp_path, text, max_nodes=50))
    assert "node budget of 50 YAML nodes" in problem.message
    assert len(load_text(tmp_path, text, max_nodes=200).problems) == 1  # unknown key 'labels'


def _distinct_nodes(node: Node) -> int:
    if isinstance(node, MappingNode):
        return 1 + sum(_distinct_nodes(k) + _distinct_nodes(v) for k, v in node.value)
    if isinstance(node, SequenceNode):
        return 1 + sum(_distinct_nodes(child) for child in node.value)
    return 1


PLAIN_DATA = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(documents=st.lists(PLAIN_DATA, min_size=1, max_size=3), libyaml=st.booleans())
def test_the_composers_count_every_node_they_compose(
    documents: list[object], libyaml: bool
) -> None:
    text = yaml.safe_dump_all(documents, allow_unicode=True)
    with mock.patch.object(safe_yaml, "_WITH_LIBYAML", libyaml and yaml.__with_libyaml__):
        composer = safe_yaml._composer(text.encode("utf-8"))
    try:
        total = 0
        while composer.check_node():
            root = composer.get_node()
            assert root is not None
            total += _distinct_nodes(root)
            assert composer.nodes_composed == total
    finally:
        composer.dispose()


def test_no_composer_outlives_its_file(tmp_path: Path) -> None:
    """Each composer is let go as its file ends, even when the problem cap stops
    reading in the middle, so none waits for the garbage collector."""
    write(tmp_path, "a.yaml", manifest_text("".join(f"    - {n}\n" for n in range(20))))
    write(tmp_path, "b.yaml", manifest_text("    - a\n"))
    gc.collect()
    gc.disable()
    try:
        result = load_manifests([tmp_path], max_problems=5)
        assert result.truncated
        alive = [obj for obj in gc.get_objects() if isinstance(obj, safe_yaml._Composer)]
    finally:
        gc.enable()
    assert alive == []


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
