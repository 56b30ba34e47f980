"""A manifest file whose name carries a newline, a code fence or an escape sequence:
plans, Markdown comments and problem messages show it escaped, so it cannot end
their lines, close the comment's code block (and post headings or mentions) or
drive the terminal."""

from __future__ import annotations

from pathlib import Path

from tests.support import cli_env, reconciler

HOSTILE = "a\n```\n# pwned @everyone\x1b[2J.yaml"
SHOWN = "a\\n```\\n# pwned @everyone\\x1b[2J.yaml"


def test_a_hostile_file_name_is_shown_escaped(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    text = "apiVersion: reconciler/v1\nkind: StreamIngestStop\nspec:\n  region: ap-singapore\n"
    (manifests / HOSTILE).write_text(text + "  sdkAppId: 1400000001\n  tasks: [a]\n")
    env = cli_env(tmp_path)
    markdown = reconciler("plan", "manifests", "--markdown", env=env, cwd=tmp_path)
    assert markdown.returncode == 0, markdown.stderr
    human = reconciler("plan", "manifests", env=env, cwd=tmp_path)
    (manifests / HOSTILE).write_text(text + "  tasks: [a]\n")  # now invalid: no sdkAppId
    problem = reconciler("validate", "manifests", env=env, cwd=tmp_path)
    assert problem.returncode == 1
    for output in (markdown.stdout, human.stdout, problem.stderr):
        assert SHOWN in output
        assert "\n# pwned" not in output and "\x1b" not in output
    fences = [line for line in markdown.stdout.splitlines() if line.startswith("```")]
    assert fences == ["```diff", "```"]  # the file name opened or closed none


def test_addresses_state_rm_and_show_cannot_find_are_shown_escaped(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    many = [f"1400000001/t{index}" for index in range(12)]
    for command in (
        ["state", "rm", "1/a\x1b[2J", "1/" + "b" * 100_000, *many],
        ["state", "show", "1/a\x1b[2J"],
    ):
        result = reconciler(*command, env=env, cwd=tmp_path)
        assert result.returncode == 1
        assert "\x1b" not in result.stderr and "not in the state" in result.stderr
        assert len(result.stderr) < 1000
