"""How problems are kept and shown: every one up to the cap, in order of place,
each on one line as FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

from reconciler.manifest import Problem
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
