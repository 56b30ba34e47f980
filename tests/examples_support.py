"""Shared by the tests of the production examples, the CI examples and the install
commands: where the files are, which image and version this repository publishes,
and readers for YAML, shell scripts and the Dockerfile that cut them into what the
tests check (``reconciler …`` argument lists, instructions, simple commands)."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import __version__
from reconciler.cli.parser import ParseError, build_parser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
K8S = EXAMPLES / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
DOCS = ROOT / "docs" / "production.md"
GITHUB = EXAMPLES / "ci" / "github-actions.yml"
GITLAB = EXAMPLES / "ci" / "gitlab-ci.yml"
ALERTS = EXAMPLES / "prometheus" / "reconciler-alerts.yml"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"

IMAGE_NAME = "trtc-ingest-reconciler"
#: The owner the examples put in the image's name, for the user to replace.
EXAMPLE_OWNER = "your-org"
VERSION = __version__
#: The image as the examples name it; the release workflow publishes it under the
#: owner of the repository (checked in test_ci_examples.py).
PUBLISHED_IMAGE = f"ghcr.io/{EXAMPLE_OWNER}/{IMAGE_NAME}:{VERSION}"
SECRET_ENV = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "PGPASSWORD")
SUBCOMMANDS = ("validate", "plan", "apply", "state", "run", "schema", "emulator")
_SHELL_OPERATOR = re.compile(r"^[();<>|&]+$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def one_doc(path: Path, kind: str) -> dict[str, Any]:
    docs = [d for d in yaml_docs(path) if isinstance(d, dict) and d.get("kind") == kind]
    assert len(docs) == 1, f"{path.name}: expected one {kind}, found {len(docs)}"
    return docs[0]


def shell_commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell script, as words (operators and redirections cut)."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, ";"]:
            if _SHELL_OPERATOR.match(token):
                if token[0] in "<>" and words and words[-1].isdigit():
                    words.pop()  # the fd of "2>file"
                if words:
                    yield words
                words = []
                if token[0] in "<>":
                    words = ["<redirect-target>"]  # the next word is a file, not a command
            else:
                words.append(token)


def reconciler_argvs(script: str) -> list[list[str]]:
    """The arguments of every ``reconciler`` / ``python -m reconciler`` call in a script,
    and of every ``docker run … IMAGE ARGS`` of this project's image."""
    found = []
    for words in shell_commands(script):
        while words and (_ASSIGNMENT.match(words[0]) or words[0] in ("exec", "time", "!")):
            words = words[1:]
        if words[:1] == ["reconciler"]:
            found.append(words[1:])
        elif words[:3] in (["python", "-m", "reconciler"], ["python3", "-m", "reconciler"]):
            found.append(words[3:])
        elif words[:2] == ["docker", "run"]:
            image = next(i for i, w in enumerate(words) if IMAGE_NAME in w)
            found.append(words[image + 1 :])
    return found


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of the grammar by command path: "", "plan", "state rm", ..."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        found[path] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}".strip())

    walk(build_parser(), "")
    return found


def assert_parses(argv: list[str], where: str, *, unattended: bool = True) -> Any:
    """Parse ``argv`` with the real CLI parser; fail naming the command if it would exit
    (or, ``unattended``, if it is an apply that would ask for confirmation)."""
    try:
        args = build_parser().parse_args(argv)
    except ParseError as exc:
        pytest.fail(f"{where}: `reconciler {shlex.join(argv)}` does not parse: {exc}")
    except SystemExit as exc:
        if exc.code == 0:
            return None  # --help or --version: parsed, then printed
        pytest.fail(f"{where}: `reconciler {shlex.join(argv)}` does not parse (exit {exc.code})")
    if unattended and args.command == "apply":
        plan_file = len(args.paths) == 1 and args.paths[0].endswith(".json")
        assert args.auto_approve or plan_file, (
            f"{where}: `reconciler {shlex.join(argv)}` would ask for confirmation: "
            "unattended applies need --auto-approve or a saved plan file"
        )
    return args


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in text.splitlines():
        if line.strip():
            instruction, _, rest = line.strip().partition(" ")
            result.append((instruction.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def image_user() -> tuple[int, int]:
    users = [rest for name, rest in final_stage() if name == "USER"]
    assert users, "the final stage sets no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit(), f"USER {users[-1]!r} is not numeric (runAsNonRoot needs a UID)"
    return int(user), int(group or user)


def image_workdir() -> str:
    workdirs = [rest for name, rest in final_stage() if name == "WORKDIR"]
    assert workdirs, "the final stage sets no WORKDIR"
    return workdirs[-1]
