"""The session a documented shell block runs in, and the check that runs it.

A block runs as a user would paste it into a fresh clone: the files a clone of this
checkout has, this checkout's ``reconciler`` and ``python`` first on the PATH, a HOME
of its own, none of the caller's reconciler, Tencent Cloud or PostgreSQL settings —
and, unless the block starts an emulator of its own, an emulator's endpoint and test
credentials in the environment. What a block needs beyond that (a state to migrate,
a file an earlier block wrote, a free port) is a ``Given``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tests.docs_support import ROOT, Block, report, run_block
from tests.examples_support import assert_parses, reconciler_argvs


@dataclass(frozen=True)
class Given:
    """What a run block finds ready: ``setup``, run before it in its own session with
    the same environment; ``replace``: text of the block → what it becomes here, with
    placeholders (``{postgres}``: a fresh PostgreSQL state; ``{port}``: a free port);
    ``stdin``, its input (``{password}``: the test server's password)."""

    setup: str = ""
    replace: Mapping[str, str] = field(default_factory=dict)
    stdin: str = ""

    def placeholders(self) -> set[str]:
        text = " ".join([*self.replace.values(), self.stdin])
        return {name for name in ("{postgres}", "{port}", "{password}") if name in text}


#: Fills a placeholder of a ``Given`` ("{port}" → "40123").
Fill = Callable[[str], str]


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


def user_env(base: Path, *, endpoint: str | None = None) -> dict[str, str]:
    """A new user's shell: this checkout's ``reconciler`` and the virtualenv's tools
    first on the PATH, a HOME of its own, none of the caller's reconciler, Tencent
    Cloud or PostgreSQL settings; with ``endpoint``, an emulator's and its test
    credentials."""
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
    if endpoint is not None:
        env.update(
            TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID,
            TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY,
            RECONCILER_ENDPOINT=endpoint,
        )
    return env


def starts_own_emulator(block: Block) -> bool:
    return "reconciler emulator" in block.script()


def prepare(
    block: Block, given: Given, *, left_out: Collection[str], fill: Fill
) -> tuple[str, str]:
    """The block's script as run here — its ``left_out`` lines blanked (so every other
    line keeps its number), the replacements made — and its input."""
    lines = [
        "" if line.split("#")[0].strip() in left_out else line
        for line in block.script().splitlines()
    ]
    script = "\n".join(lines) + "\n"
    values = {name: fill(name) for name in given.placeholders()}
    for old, new in given.replace.items():
        assert old in script, f"{block.where}: no {old!r} to replace"
        for name, value in values.items():
            new = new.replace(name, value)
        script = script.replace(old, new)
    stdin = given.stdin
    for name, value in values.items():
        stdin = stdin.replace(name, value)
    return script, stdin


def check_block(
    block: Block,
    given: Given,
    *,
    base: Path,
    endpoint: Callable[[], str],
    fill: Fill,
    left_out: Collection[str] = (),
) -> None:
    """Run ``block`` in a fresh clone under ``base``; fail with a report saying which
    command of which file failed, and what it printed. ``endpoint`` gives a running
    emulator's URL, asked only for a block that does not start its own."""
    clone = fresh_clone(base / "clone")
    env = user_env(base, endpoint=None if starts_own_emulator(block) else endpoint())
    script, stdin = prepare(block, given, left_out=left_out, fill=fill)
    if given.setup:
        setup = Block(block.file, block.line, "sh", given.setup + "\n")
        done = run_block(setup, cwd=clone, env=env)
        assert done.ok, "preparing the block: " + report(setup, done)
    outcome = run_block(block, cwd=clone, env=env, script=script, stdin=stdin)
    assert outcome.ok, report(block, outcome)


def check_parses(block: Block) -> int:
    """Parse every ``reconciler …`` command of ``block`` with the real CLI parser
    (failing the test, naming the block, at the first that does not); how many."""
    argvs = reconciler_argvs(block.commands_text())
    for argv in argvs:
        assert_parses(argv, block.where)
    return len(argvs)
