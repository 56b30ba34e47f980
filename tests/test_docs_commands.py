"""Every command README.md and docs/ show is run here, or at least parsed.

Each shell block (```sh, ```bash, ```shell, ```console) runs as a user would paste
it: one bash session (``set -e``, ``pipefail``; exported variables carry from line
to line; background jobs are ended afterwards) in a fresh copy of this clone, with
``reconciler`` and ``python`` this checkout's, a HOME of its own, and an emulator
seeded with the tasks manifests/ declares, its endpoint and test credentials in the
environment — unless the block starts an emulator of its own, when it gets none of
that and must say everything itself. A block is run by default: a new block that
fails fails this suite. The blocks that cannot run here (a container engine, a
cluster, the real TRTC API, the package index) are listed below, each with why;
every ``reconciler …`` command in them is parsed with the real CLI parser instead.
Every block is fenced with a language, so each is a decision: ``text`` for what
is not typed, such as the usage synopsis, which is checked against the parser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tests.docs_support import (
    ROOT,
    SHELL,
    Block,
    all_blocks,
    all_spans,
    report,
    run_block,
)
from tests.examples_support import assert_parses, parsers, reconciler_argvs
from tests.support import EmulatorProcess

#: Blocks shown and not run, by (file, one of the block's lines) → why. Their
#: ``reconciler …`` commands are parsed (test_every_reconciler_command_parses).
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "docker pull ghcr.io/your-org/trtc-ingest-reconciler:0.1.0"): (
        "a container engine and the published image (test_install_commands.py checks "
        "that this is the image the release publishes)"
    ),
    ("README.md", "pip install --no-deps --no-build-isolation ."): (
        "installs from the package index; scripts/check-reproducible.sh, in .ci/run, "
        "runs this install and test_install_commands.py checks the commands"
    ),
    ("README.md", "tccli configure --profile ci"): (
        "tccli and real credentials for the real TRTC API"
    ),
    ("README.md", "python benchmarks/bench_apply.py --tasks 600"): (
        "benchmarks run for minutes to measure speed: by hand, not in the suite"
    ),
    ("docs/production.md", "git tag v0.1.0 && git push origin v0.1.0"): ("publishes a release"),
    ("docs/production.md", "docker build -t ghcr.io/your-org/trtc-ingest-reconciler:0.1.0 ."): (
        "a container engine"
    ),
    ("docs/production.md", "docker run --rm"): "a container engine and the published image",
    ("docs/production.md", "kubectl create namespace trtc-reconciler"): "a Kubernetes cluster",
    ("docs/production.md", "reconciler run /manifests --interval 5m"): (
        "a service that runs until stopped, on the container's /manifests mount "
        "(the run loop's end-to-end tests run it)"
    ),
}

#: Lines left out of blocks that are otherwise run, by (file, the line) → why.
NOT_RUN_LINES: dict[tuple[str, str], str] = {
    ("README.md", "./scripts/test.sh"): "the test command itself: it runs this suite",
}


@dataclass(frozen=True)
class Given:
    """What a run block finds ready: ``setup`` run before it (its own session, with
    the same environment); ``replace``: text of the block → what it becomes here,
    ``{postgres}`` standing for a fresh PostgreSQL state; ``stdin`` its input, with
    ``{password}`` the test server's password."""

    setup: str = ""
    replace: Mapping[str, str] = field(default_factory=dict)
    stdin: str = ""


#: Run blocks that need more than a clone and the emulator, by (file, a line) → what.
GIVEN: dict[tuple[str, str], Given] = {
    # Migrates a local state to a user's PostgreSQL: a state to migrate is applied
    # first, and the test server stands in for db.example.com.
    ("docs/production.md", "reconciler state pull > state.json"): Given(
        setup="reconciler apply manifests --auto-approve",
        replace={
            "'postgresql://reconciler@db.example.com:5432/reconciler?state=prod&sslmode=require'": (
                "'{postgres}'"
            )
        },
        stdin="{password}\n",
    ),
}


def key_matches(block: Block, key: tuple[str, str]) -> bool:
    file, line = key
    return block.file == file and any(line in text for text in block.script().splitlines())


def shell_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.language in SHELL]


def is_run(block: Block) -> bool:
    return not any(key_matches(block, key) for key in NOT_RUN)


def given_for(block: Block) -> Given:
    found = [given for key, given in GIVEN.items() if key_matches(block, key)]
    return found[0] if found else Given()


def starts_own_emulator(block: Block) -> bool:
    return "reconciler emulator" in block.script()


# --- the session a block runs in ------------------------------------------------------


def fresh_clone(dest: Path) -> Path:
    """The files a clone of this checkout has (tracked, and new ones not ignored),
    copied to ``dest``; its ``.venv`` is the running virtualenv, so the repository's
    scripts find their environment made, as after a first run."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the checkout is not copied
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    (dest / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return dest


def user_env(base: Path) -> dict[str, str]:
    """A new user's shell: this checkout's ``reconciler`` and the virtualenv's tools
    first on the PATH, a HOME of its own, and none of the caller's reconciler, Tencent
    Cloud or PostgreSQL settings."""
    bin_dir = base / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "reconciler"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    wrapper.chmod(0o755)
    (base / "home").mkdir(exist_ok=True)
    dropped = ("TENCENTCLOUD_", "RECONCILER_", "TKE_", "TCCLI_", "PG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.pop("PYTHON", None)  # the scripts then use the .venv above
    path = [str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")]
    env.update(PATH=os.pathsep.join(path), HOME=str(base / "home"), PYTHONUNBUFFERED="1")
    return env


def prepare(block: Block, request: pytest.FixtureRequest) -> tuple[str, Given]:
    """The block's script as run here (left-out lines blanked, replacements made),
    and what it is given, with the placeholders filled in."""
    given = given_for(block)
    lines = block.script().splitlines()
    for index, line in enumerate(lines):
        if any(block.file == f and text == line.split("#")[0].strip() for f, text in NOT_RUN_LINES):
            lines[index] = ""
    script = "\n".join(lines) + "\n"
    stdin, fill = given.stdin, {}
    if any("{postgres}" in value for value in given.replace.values()):
        location: str = request.getfixturevalue("postgres_state_location")()
        fill["{postgres}"] = location
        stdin = stdin.replace("{password}", unquote(urlsplit(location).password or ""))
    for old, new in given.replace.items():
        assert old in script, f"{block.where}: no {old!r} to replace"
        for placeholder, value in fill.items():
            new = new.replace(placeholder, value)
        script = script.replace(old, new)
    return script, Given(setup=given.setup, stdin=stdin)


def session(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Path, dict[str, str]]:
    """A fresh clone to run ``block`` in, and its environment (with the emulator's
    endpoint and credentials unless the block starts its own)."""
    clone = fresh_clone(tmp_path / "clone")
    env = user_env(tmp_path)
    if not starts_own_emulator(block):
        emulator = EmulatorProcess("--seed-manifests", "manifests", cwd=clone)
        request.addfinalizer(emulator.stop)
        env.update(
            TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
            TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
            RECONCILER_ENDPOINT=emulator.url,
        )
    return clone, env


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", [b for b in shell_blocks() if is_run(b)], ids=lambda block: block.where
)
def test_block_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "./scripts/demo.sh" in block.script() and not venv_made_for_the_demo():
        pytest.skip("this virtualenv is not made from requirements/dev.txt or main.txt")
    clone, env = session(block, tmp_path, request)
    script, given = prepare(block, request)
    if given.setup:
        setup = Block(block.file, block.line, "sh", given.setup + "\n")
        done = run_block(setup, cwd=clone, env=env)
        assert done.ok, "preparing the block: " + report(setup, done)
    outcome = run_block(block, cwd=clone, env=env, script=script, stdin=given.stdin)
    assert outcome.ok, report(block, outcome)


def venv_made_for_the_demo() -> bool:
    """Whether scripts/setup.sh would take the running virtualenv for the demo as it
    is (one made from dev.txt or main.txt), rather than make one from the index."""
    stamp = Path(sys.prefix, ".lock-stamp")
    made_from = stamp.read_text() if stamp.exists() else ""
    return "requirements/dev.txt" in made_from or "requirements/main.txt" in made_from


@pytest.mark.parametrize("block", shell_blocks(), ids=lambda block: block.where)
def test_every_reconciler_command_parses(block: Block) -> None:
    for argv in reconciler_argvs(block.commands_text()):
        assert_parses(argv, block.where)


def test_every_block_says_its_language() -> None:
    untagged = [block.where for block in all_blocks() if not block.language]
    assert not untagged, (
        f"code blocks without a language: {untagged}; fence them as ```sh to have "
        "their commands run, or ```text (or the format they hold) for anything else"
    )


@pytest.mark.parametrize("table", ["NOT_RUN", "NOT_RUN_LINES", "GIVEN"])
def test_each_listed_block_exists_once(table: str) -> None:
    entries: Mapping[tuple[str, str], object] = globals()[table]
    for key in entries:
        matching = [block.where for block in shell_blocks() if key_matches(block, key)]
        assert len(matching) == 1, f"{table}: {key} matches {matching or 'no block'}"


def test_the_synopsis_agrees_with_the_parser() -> None:
    """The ```text block of ``reconciler …`` lines under "Command line": every command
    there exists and takes the options shown; every command the CLI has is there."""
    synopses = [
        block
        for block in all_blocks()
        if block.language == "text" and block.text.startswith("reconciler ")
    ]
    assert len(synopses) == 1, [block.where for block in synopses]
    grammar = parsers()
    shown: set[str] = set()
    for entry in synopsis_entries(synopses[0].text):
        command = entry.split()[1]
        shown.add(command)
        assert command in grammar, f"the synopsis shows `reconciler {command}`: no such command"
        takes = {
            option
            for path, parser in grammar.items()
            if path == command or path.startswith(command + " ") or path == ""
            for action in parser._actions
            for option in action.option_strings
        }
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", entry))
        assert named <= takes, f"`reconciler {command}` takes no {sorted(named - takes)}"
    commands = {path for path in grammar if path and " " not in path}
    assert commands <= shown, f"the synopsis leaves out {sorted(commands - shown)}"


def synopsis_entries(text: str) -> list[str]:
    """One entry per ``reconciler`` line, its indented continuation lines joined."""
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("reconciler "):
            entries.append(line)
        elif line.strip() and entries:
            entries[-1] += " " + line.strip()
    return entries


def test_manifest_examples_validate(tmp_path: Path) -> None:
    """Every YAML block that is a manifest document is one the loader accepts."""
    examples = [
        block
        for block in all_blocks()
        if block.language == "yaml" and "apiVersion: reconciler/v1" in block.text
    ]
    assert examples, "the README shows no manifest"
    env = user_env(tmp_path)
    for index, block in enumerate(examples):
        path = tmp_path / "manifests" / f"example-{index}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(block.text)
        result = subprocess.run(
            ["reconciler", "validate", str(path)], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{block.where}: {result.stdout}{result.stderr}"


def test_inline_reconciler_commands_parse() -> None:
    """Commands written in the prose, such as `reconciler state pull > state.json`,
    parse too; a synopsis fragment (with ``[…]``, ``|`` alternatives or ``…``) is
    left to the option checks of test_docs_prose.py."""
    for span in all_spans():
        text = span.text
        if not text.startswith("reconciler ") or any(c in text for c in "[|…<"):
            continue
        for argv in reconciler_argvs(text):
            assert_parses(argv, f"{span.file}:{span.line}")
