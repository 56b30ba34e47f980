"""The doc test fails when a documented command breaks: shown on deliberately broken
copies of README.md and docs/production.md, read and checked by the same code as
the real ones (tests/docs_session.py), and the failure says where.

- A copy with the README's old JSON Schema advice (check-jsonschema on every
  manifest, one of which holds two documents) fails to run, naming the README's
  line and command and showing check-jsonschema's complaint.
- A copy whose emulator example applies a folder that does not exist fails at that
  line — the block's last, after a background emulator, a wait and a continued
  export — and the emulator it started is gone afterwards.
- A copy with a misspelt option fails the parse check, naming the block.
- A block added to a copy is run by default, with no entry in any list.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.docs_session import check_block, check_parses
from tests.docs_support import ROOT, Block, blocks
from tests.test_docs_commands import given_for, is_run, placeholder_filler

#: No block of these copies calls the TRTC API: the discard port, should one try.
NO_API = "http://127.0.0.1:9"


def broken(file: str, old: str, new: str) -> tuple[list[Block], int]:
    """The blocks of a copy of ``file`` with ``old`` made ``new``, and the line of
    the copy that holds ``new``."""
    text = (ROOT / file).read_text(encoding="utf-8")
    assert old in text, f"{file} no longer holds {old!r}"
    copy = text.replace(old, new, 1)
    line = copy[: copy.index(new)].count("\n") + 1
    return blocks(file, copy), line


def block_at(found: list[Block], line: int) -> Block:
    return next(b for b in found if b.line < line <= b.line + b.text.count("\n"))


def failure_of(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    with pytest.raises(AssertionError) as failed:
        check_block(
            block,
            given_for(block),
            base=tmp_path,
            endpoint=lambda: NO_API,
            fill=placeholder_filler(request),
        )
    return str(failed.value)


def test_the_old_json_schema_advice_fails(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    old = "manifests/events/*.yaml manifests/regions/china.yaml"
    found, line = broken("README.md", old, "manifests/*/*.yaml")
    block = block_at(found, line)
    assert is_run(block)
    report = failure_of(block, tmp_path, request)
    assert f"failed at README.md:{line} with exit status 1" in report, report
    assert "check-jsonschema --schemafile reconciler.schema.json manifests/*/*.yaml" in report
    # Every check-jsonschema names the file (newer ones also say why).
    assert "Failed to parse" in report and "apac.yaml" in report


def test_a_broken_line_fails_at_that_line(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    old = "reconciler apply manifests --auto-approve --endpoint"
    found, line = broken("README.md", old, old.replace("manifests", "manifests/missing"))
    block = block_at(found, line)
    assert line == block.line + 5, "the apply: the fifth line, after a continued export"
    report = failure_of(block, tmp_path, request)
    assert f"failed at README.md:{line} with exit status 1" in report, report
    assert "manifests/missing:0:0: no such file or directory" in report
    # The emulator the block started in the background is ended with its session.
    port = int((tmp_path / "clone" / "emulator.port").read_text())
    emulator_pids = [pid for pid in pids() if f"--port {port}" in command_line(pid)]
    assert not emulator_pids, emulator_pids


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""  # it ended meanwhile


def test_a_misspelt_option_fails_the_parse_check() -> None:
    old = "reconciler state push state.json"
    found, line = broken("docs/production.md", old, "reconciler state push --forse state.json")
    block = block_at(found, line)
    with pytest.raises(pytest.fail.Exception) as failed:
        check_parses(block)
    assert f"{block.where}: `reconciler state push --forse state.json` does not parse" in str(
        failed.value
    )


def test_a_new_block_is_run_by_default(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    script = "reconciler validate manifests/\nreconciler schema | python -m json.tool\n"
    found, _ = broken("README.md", "## Command line\n", f"```sh\n{script}```\n\n## Command line\n")
    block = next(block for block in found if block.text == script)
    assert is_run(block) and check_parses(block) == 2
    check_block(block, given_for(block), base=tmp_path, endpoint=lambda: NO_API, fill=str)
