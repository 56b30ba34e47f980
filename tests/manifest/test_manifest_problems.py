"""How problems are kept and shown: every one up to the cap, in order of place,
each on one line as FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.manifest import Problem
from reconciler.manifest.problems import Problems, TooManyProblems
from tests.manifest.helpers import (
    load_text,
    manifest_text,
    messages,
)


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


def test_problems_come_back_by_file_then_place_and_keep_their_order_at_one_place() -> None:
    problems = Problems(10)
    second, first = problems.in_file("b.yaml", 2), problems.in_file("a.yaml", 1)
    second.report(1, 1, "b first")
    first.report(5, 1, "a later")
    first.report(2, 3, "a earlier")
    first.report(2, 3, "a earlier, second at that place")
    problems.in_file("missing/").whole_file("no such file or directory")
    assert [str(p) for p in problems.in_order()] == [
        "missing/:0:0: no such file or directory",
        "a.yaml:2:3: a earlier",
        "a.yaml:2:3: a earlier, second at that place",
        "a.yaml:5:1: a later",
        "b.yaml:1:1: b first",
    ]


def test_the_cap_stops_the_search_and_says_so() -> None:
    problems = Problems(2)
    reporter = problems.in_file("m.yaml", 1)
    reporter.report(3, 1, "one")
    reporter.report(1, 1, "two")
    assert not problems.truncated
    with pytest.raises(TooManyProblems):
        reporter.report(2, 1, "three")
    assert problems.truncated
    assert [p.message for p in problems.in_order()] == ["two", "one"]


def test_a_problem_at_a_node_is_at_its_start_counted_from_one() -> None:
    problems = Problems(10)
    node = yaml.compose("spec:\n  tasks: [a, b]\n", Loader=yaml.SafeLoader)
    assert node is not None
    problems.in_file("m.yaml", 1).at(node.value[0][1].value[0][1].value[1], "here")
    assert str(problems.in_order()[0]) == "m.yaml:2:14: here"
