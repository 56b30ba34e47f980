"""A command line that explains itself: every option has help and shows its
default, every command's help ends with examples that parse, ``--help`` lists
the exit codes, global options go before or after the command, every hint that
names an option spells it as the option takes it, and ``version`` and
``completion`` work — through the CLI where a user would meet it."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.cli.parser import build_parser
from tests.examples_support import parsers
from tests.support import APP, REPO, cli_env, manifest, reconciler

#: Commands whose options are the emulator's own (it has its own test suite).
_EMULATOR = "emulator"


def options() -> dict[str, str | None]:
    """Every option string of every command → its metavar."""
    found: dict[str, str | None] = {}
    for parser in parsers().values():
        for action in parser._actions:
            for option in action.option_strings:
                metavar = action.metavar if isinstance(action.metavar, str) else None
                found[option] = metavar
    return found


def help_of(*words: str) -> str:
    result = reconciler(*words, "--help", env={**os.environ, "COLUMNS": "200"}, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("path", [p for p in parsers() if p != _EMULATOR])
def test_every_option_has_help_and_shows_its_default(path: str) -> None:
    parser = parsers()[path]
    text = help_of(*path.split())
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help, f"{path}: {action.dest} has no help text"
        if action.option_strings and not isinstance(
            action, (argparse._HelpAction, argparse._VersionAction)
        ):
            flag = action.option_strings[-1]
            entry = re.search(rf"^  {re.escape(flag)}\b.*?(?=^  -|^\S|\Z)", text, re.M | re.S)
            assert entry, f"{path}: {flag} is not in --help"
            assert re.search(r"[(;] ?(default|required)\b", " ".join(entry[0].split())), (
                f"{path}: {flag} does not show its default: {entry[0]!r}"
            )


@pytest.mark.parametrize("path", [p for p in parsers() if p])
def test_every_command_help_ends_with_examples_that_parse(path: str) -> None:
    text = help_of(*path.split()).rstrip()
    head, _, tail = text.rpartition("\nexamples:\n")
    assert head, f"{path}: no examples section"
    examples = tail.splitlines()
    assert 2 <= len(examples) <= 3, examples
    for example in examples:
        words = shlex.split(re.split(r" [|>] ", example.strip())[0])
        assert words[0] == "reconciler", example
        try:
            build_parser().parse_args(words[1:])
        except Exception as exc:  # ParseError or SystemExit
            pytest.fail(f"{path}: example {example!r} does not parse: {exc}")


def test_root_help_lists_the_exit_codes_and_ends_with_examples() -> None:
    text = help_of()
    codes = text.split("exit codes:\n", 1)[1].split("\n\n", 1)[0]
    for code in ("0", "1", "2", "3", "130/143"):
        assert re.search(rf"^  {re.escape(code)} +\S", codes, flags=re.M), code
    assert "NO_COLOR" in text and "RECONCILER_LOG_LEVEL" in text
    assert text.rstrip().rpartition("\nexamples:\n")[0]


def test_global_options_work_before_and_after_the_command(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    env.pop("RECONCILER_STATE")
    manifest(tmp_path / "manifests" / "m.yaml", ["a", "b"])
    other = str(tmp_path / "other.db")
    record = {
        "address": f"{APP}/a", "sdkAppId": APP, "taskId": "a", "region": "ap-singapore",
        "outcome": "stopped", "requestId": "r-1", "time": "2026-01-01T00:00:00Z",
        "source": "manifests/m.yaml:9",
    }  # fmt: skip
    document = {"format_version": 1, "lineage": "l-1", "serial": 1, "records": [record]}
    (tmp_path / "state.json").write_text(json.dumps(document))
    pushed = reconciler("state", "push", "state.json", "--state", other, env=env, cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    for args in (
        ("--state", other, "--log-format", "json", "plan", "--json"),
        ("plan", "--json", "--state", other, "--log-format", "json"),
        ("--state", "ignored.db", "plan", "--state", other, "--json"),
    ):
        result = reconciler(*args, env=env, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert json.loads(result.stdout)["summary"] == {
            "stop": 1,
            "wait": 0,
            "forget": 0,
            "unchanged": 1,
        }
    for args in (("--state", other, "state", "list"), ("state", "list", "--state", other)):
        listed = reconciler(*args, env=env, cwd=tmp_path)
        assert listed.stdout.split() == [f"{APP}/a"], args
    for args in (("--no-color", "version"), ("version", "--no-color")):
        assert reconciler(*args, env=env, cwd=tmp_path).returncode == 0


def test_request_timeout_takes_a_duration(tmp_path: Path) -> None:
    ns = build_parser().parse_args(["apply", "--request-timeout", "1m30s"])
    assert ns.request_timeout == 90.0
    assert options()["--request-timeout"] == "DURATION"
    env = cli_env(tmp_path)
    for bad in ("0s", "ten", "300ms"):
        result = reconciler("plan", "--request-timeout", bad, env=env, cwd=tmp_path)
        assert result.returncode == 1 and "--request-timeout" in result.stderr, bad
        assert "Traceback" not in result.stderr


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            texts.append("".join(v.value for v in node.values if isinstance(v, ast.Constant)))
    return texts


def test_every_hint_that_names_an_option_spells_it_as_the_option_takes_it() -> None:
    known = options()
    named = 0
    for path in sorted((REPO / "reconciler").rglob("*.py")):
        if "emulator" in path.parts:
            continue
        for text in _string_constants(path):
            for option, value in re.findall(
                r"(?<![\w-])(--[a-z][a-z-]+)(?: ([A-Z][A-Z:|]+)\b)?", text
            ):
                named += 1
                assert option in known, f"{path.name}: {option!r} is no option: {text!r}"
                if value:
                    assert value == known[option], (
                        f"{path.name}: {option} {value} — the option takes {known[option]}"
                    )
    assert named > 20


def test_version_names_the_tool_sdk_python_and_libyaml(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    text = reconciler("version", env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    result = reconciler("version", "--json", env=env, cwd=tmp_path)
    doc = json.loads(result.stdout)
    assert doc["reconciler"] == __version__
    assert doc["tencentcloud-sdk-python-trtc"] == metadata.version("tencentcloud-sdk-python-trtc")
    assert doc["python"].split()[-1].count(".") == 2
    import yaml

    if yaml.__with_libyaml__:
        from yaml import _yaml

        assert doc["libyaml"] == _yaml.get_version_string()
    for key, value in doc.items():
        assert re.search(rf"^{re.escape(key)} +{re.escape(str(value))}$", text.stdout, re.M) or (
            key == "libyaml" and value is None
        ), key


def test_completion_scripts_know_every_command(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    commands = [p for p in parsers() if p and " " not in p]
    for shell in ("bash", "zsh", "fish"):
        result = reconciler("completion", shell, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for command in commands:
            assert command in result.stdout, (shell, command)
        if shutil.which(shell):
            check = subprocess.run(
                [shell, "-n"], input=result.stdout, text=True, capture_output=True
            )
            assert check.returncode == 0, (shell, check.stderr)
        (tmp_path / f"reconciler.{shell}").write_text(result.stdout)
    # Bash, for real: complete a command and an option.
    script = tmp_path / "reconciler.bash"
    probe = (
        f"source {shlex.quote(str(script))}\n"
        'COMP_WORDS=(reconciler pl); COMP_CWORD=1; _shtab_reconciler; echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(reconciler plan --mark); COMP_CWORD=2; _shtab_reconciler; "
        'echo "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True)
    assert done.stdout.split("\n")[:2] == ["plan", "--markdown"], done.stdout + done.stderr
    bad = reconciler("completion", "tcsh", env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "invalid choice" in bad.stderr
