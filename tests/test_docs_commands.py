"""Every command README.md and docs/ show is run here, or at least parsed.

Each shell block (```sh, ```bash, ```shell, ```console) runs as a user would paste
it: one bash session (``set -e``, ``pipefail``; exported variables carry from line
to line; background jobs are ended afterwards) in a fresh copy of this clone, with
``reconciler`` and ``python`` this checkout's, a HOME of its own, and the test
credentials and endpoint of an emulator seeded with the tasks manifests/ declares —
unless the block starts an emulator of its own, when it gets none of that and must
say everything itself (tests/docs_session.py). A block is run by default: a new
block that fails fails this suite. The blocks that cannot run here (a container
engine, a cluster, the real TRTC API, the package index) are listed in NOT_RUN,
each with why; every ``reconciler …`` command in every block, those included, is
parsed with the real CLI parser. Every block is fenced with a language, so each is
a decision: ``text`` for what is not typed (the usage synopsis, which
test_docs_prose.py checks against the parser).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.docs_session import Fill, Given, check_block, check_parses, user_env
from tests.docs_support import ROOT, SHELL, Block, all_blocks
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
    ("README.md", "python benchmarks/bench_apply.py --tasks 600"): (
        "benchmarks run for minutes to measure speed: by hand at full size; "
        "test_benchmarks_run.py runs each one at a small size"
    ),
    ("docs/production.md", "git tag v0.1.0 && git push origin v0.1.0"): "publishes a release",
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
    # tccli is not installed here: the test writes the profile file `tccli configure`
    # would, with the emulator's test keys (and takes them out of the environment, so
    # only the profile holds them); the plan and the apply run as shown.
    ("README.md", "tccli configure --profile ci"): Given(
        replace={
            "tccli configure --profile ci": (
                'mkdir -p ~/.tccli && printf \'{"secretId": "%s", "secretKey": "%s"}\' '
                '"$TENCENTCLOUD_SECRET_ID" "$TENCENTCLOUD_SECRET_KEY" > ~/.tccli/ci.credential'
                " && unset TENCENTCLOUD_SECRET_ID TENCENTCLOUD_SECRET_KEY"
            )
        }
    ),
    # The test server stands in for db: an empty quota board, which it shows.
    ("README.md", "reconciler quota --state 'postgresql://reconciler@db/ops'"): Given(
        replace={"'postgresql://reconciler@db/ops'": "'{postgres}'"}
    ),
    # The schema file comes from the block before it.
    ("README.md", "check-jsonschema --schemafile reconciler.schema.json"): Given(
        setup="reconciler schema > reconciler.schema.json"
    ),
    # Port 8080 may be taken on a test machine (or by another test's run of it).
    ("README.md", "reconciler emulator --port 8080 --seed-manifests manifests"): Given(
        replace={"8080": "{port}"}
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


def left_out(block: Block) -> set[str]:
    return {line for file, line in NOT_RUN_LINES if file == block.file}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def placeholder_filler(request: pytest.FixtureRequest) -> Fill:
    """Fills ``Given`` placeholders; the password is that of the state it made."""
    made: dict[str, str] = {}

    def fill(name: str) -> str:
        if name in ("{postgres}", "{password}") and "{postgres}" not in made:
            made["{postgres}"] = request.getfixturevalue("postgres_state_location")()
            made["{password}"] = unquote(urlsplit(made["{postgres}"]).password or "")
        elif name == "{port}":
            made[name] = str(free_port())
        return made[name]

    return fill


@pytest.fixture(scope="module")
def docs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator for every block of this module that needs one: each block has a
    state of its own, so a task an earlier block stopped is an ``already_stopped``."""
    cwd = tmp_path_factory.mktemp("docs-emulator")
    emulator = EmulatorProcess("--seed-manifests", str(ROOT / "manifests"), cwd=cwd)
    yield emulator
    emulator.stop()


def venv_made_for_the_demo() -> str:
    """Why scripts/setup.sh would not take the running virtualenv for the demo as it
    is (it would make or change one), or "" if it would."""
    stamp = Path(sys.prefix, ".lock-stamp")
    made_from = stamp.read_text() if stamp.exists() else ""
    if "requirements/dev.txt" not in made_from and "requirements/main.txt" not in made_from:
        return "this virtualenv is not made from requirements/dev.txt or main.txt"
    project = Path(sys.prefix, ".project-stamp")
    checksum = subprocess.run(
        ["cksum"], stdin=(ROOT / "pyproject.toml").open("rb"), capture_output=True, text=True
    ).stdout
    if not project.exists() or project.read_text() != checksum:
        return "pyproject.toml changed since the project was installed into this virtualenv"
    return ""


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", [b for b in shell_blocks() if is_run(b)], ids=lambda block: block.where
)
def test_block_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "./scripts/demo.sh" in block.script() and (why := venv_made_for_the_demo()):
        pytest.skip(why)  # the demo would install into the running virtualenv
    check_block(
        block,
        given_for(block),
        base=tmp_path,
        endpoint=lambda: request.getfixturevalue("docs_emulator").url,
        fill=placeholder_filler(request),
        left_out=left_out(block),
    )


@pytest.mark.parametrize("block", shell_blocks(), ids=lambda block: block.where)
def test_every_reconciler_command_parses(block: Block) -> None:
    check_parses(block)


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
