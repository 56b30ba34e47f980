"""What README.md and docs/ tell people to type, read out of the Markdown and run.

Reading: every fenced block (its file, the line it starts at, its language, its
text) and every inline code span, through a CommonMark parser (markdown-it-py), so
fences inside list items, tables and escaped pipes read as a renderer shows them.
Running: a shell block as a user pastes it — one bash session in a directory of its
own, ``set -e`` and ``pipefail``, background jobs included (the session has its own
process group; whatever it left running is ended afterwards) — and, when it fails,
a report saying which file, which block, which command, and what it printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent

#: The languages of blocks that hold commands; ``console`` blocks mark them with ``$ ``.
SHELL = frozenset({"sh", "bash", "shell", "console"})
_PROMPT = "$ "
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
#: Printed by the session's ERR trap: the file's line of the failing command, its exit.
_FAILED = re.compile(r"^docs-test: (\d+) (\d+) (.*)$", re.S)


def documents() -> dict[str, str]:
    """README.md and every page under docs/: {path relative to the root: text}."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in paths}


@dataclass(frozen=True)
class Line:
    """One logical line of a block (continuations joined): where it starts, its text."""

    number: int
    text: str


@dataclass(frozen=True)
class Block:
    """A fenced code block: ``line`` is the file's line of the opening fence."""

    file: str
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def script(self) -> str:
        """The shell a user would type: a ``console`` block's ``$ `` lines (and their
        continuations) without the prompt, its output lines left blank, so every
        line keeps its number."""
        if self.language != "console":
            return self.text
        lines, continued = [], False
        for line in self.text.splitlines():
            if line.startswith(_PROMPT) or continued:
                command = line[len(_PROMPT) :] if line.startswith(_PROMPT) else line
                lines.append(command)
                continued = command.endswith("\\")
            else:
                lines.append("")
        return "\n".join(lines) + "\n"

    def lines(self) -> list[Line]:
        """Its commands' logical lines, with the file's line each starts on; comments,
        blank lines and here-document bodies are left out."""
        found: list[Line] = []
        pending: list[str] = []
        start = 0
        heredoc: str | None = None
        for index, raw in enumerate(self.script().splitlines()):
            if heredoc is not None:
                heredoc = None if raw.strip() == heredoc else heredoc
                continue
            if not pending:
                start = self.line + 1 + index
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
            pending.append(raw.rstrip("\\").rstrip() if raw.endswith("\\") else raw)
            if raw.endswith("\\"):
                continue
            text = " ".join(part.strip() for part in pending)
            found.append(Line(start, text))
            pending = []
            match = _HEREDOC.search(text)
            heredoc = match[2] if match else None
        return found

    def commands_text(self) -> str:
        """Its logical lines as a script a word splitter can read (no here-documents)."""
        return "\n".join(line.text for line in self.lines()) + "\n"


@dataclass(frozen=True)
class Span:
    """An inline code span, with the line its paragraph (or table) starts on."""

    file: str
    line: int
    text: str


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def blocks(file: str, text: str) -> list[Block]:
    """Every code block of a Markdown text; an indented (unfenced) one has no language."""
    found = []
    for token in _parser().parse(text):
        if token.type in ("fence", "code_block") and token.map:
            language = token.info.split()[0] if token.info.strip() else ""
            found.append(Block(file, token.map[0] + 1, language, token.content))
    return found


def spans(file: str, text: str) -> list[Span]:
    """Every inline code span of a Markdown text."""
    found = []
    for token in _parser().parse(text):
        if token.type == "inline" and token.map:
            found += [
                Span(file, token.map[0] + 1, child.content)
                for child in token.children or []
                if child.type == "code_inline"
            ]
    return found


def links(text: str) -> list[tuple[int, str]]:
    """Every link target of a Markdown text, with the line its paragraph starts on."""
    found = []
    for token in _parser().parse(text):
        if token.type == "inline" and token.map:
            for child in token.children or []:
                if child.type == "link_open":
                    found.append((token.map[0] + 1, str(child.attrs["href"])))
    return found


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text: the heading's text in
    lower case, without punctuation but ``-`` and ``_``, spaces made ``-``."""
    tokens = _parser().parse(text)
    found = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            words = "".join(child.content for child in tokens[index + 1].children or [])
            found.add(re.sub(r"[^\w\- ]", "", words.lower()).replace(" ", "-"))
    return found


@cache
def all_blocks() -> tuple[Block, ...]:
    """Every code block of README.md and docs/ (read once per test process)."""
    return tuple(block for file, text in documents().items() for block in blocks(file, text))


@cache
def all_spans() -> tuple[Span, ...]:
    """Every inline code span of README.md and docs/ (read once per test process)."""
    return tuple(span for file, text in documents().items() for span in spans(file, text))


# --- running a block ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a block's session ended: its exit status (None: it timed out), what it
    printed (stdout and stderr, interleaved as on a terminal), and the failing command
    (the file's line and the command, as bash's ERR trap saw them) if one failed."""

    status: int | None
    output: str
    failed_line: int | None = None
    failed_command: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0


def _prelude(block: Block, *, failure: Path) -> str:
    # The trap runs for the command that failed under set -e; it prints the file's
    # line of that command: the block's text starts on the line after the fence,
    # and this prelude shifts it by its own number of lines.
    failed = "docs-test: $((LINENO + OFFSET)) $? $BASH_COMMAND"
    lines = ["set -eE -o pipefail", f"trap 'echo \"{failed}\" >{shlex.quote(str(failure))}' ERR"]
    offset = block.line - len(lines)
    return "\n".join(lines).replace("OFFSET", str(offset)) + "\n"


def run_block(
    block: Block,
    *,
    cwd: Path,
    env: Mapping[str, str],
    script: str | None = None,
    stdin: str = "",
    timeout: float = 90,
) -> Outcome:
    """Run ``block`` (or ``script``, its text as prepared) in one bash session in
    ``cwd``; end whatever it left running. ``script`` must keep the block's lines."""
    failure = cwd.parent / f".{cwd.name}-failed"
    log = cwd.parent / f".{cwd.name}-output"
    failure.unlink(missing_ok=True)
    text = _prelude(block, failure=failure) + (block.script() if script is None else script)
    with log.open("w+b") as output:
        # A file, not a pipe: a background job left running keeps a pipe open.
        proc = subprocess.Popen(
            ["bash", "-c", text, f"{block.where}"],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: leftovers are found by it
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it did not read its input
        try:
            status: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
        end_group(proc.pid)
        proc.wait()
        output.seek(0)
        printed = output.read().decode(errors="replace")
    match = _FAILED.match(failure.read_text().strip()) if failure.exists() else None
    if match:
        return Outcome(status, printed, int(match[1]), match[3])
    return Outcome(status, printed)


def end_group(pgid: int, *, grace: float = 10) -> None:
    """End every process left in group ``pgid`` (one this module started): SIGTERM,
    then SIGKILL for any still there after ``grace`` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def report(block: Block, outcome: Outcome, *, limit: int = 80) -> str:
    """A failed block, readably: where, which command, its exit, the output's tail."""
    if outcome.status is None:
        what = "timed out"
    elif outcome.failed_line is not None:
        what = (
            f"failed at {block.file}:{outcome.failed_line} with exit status {outcome.status}:"
            f"\n    $ {outcome.failed_command}"
        )
    else:
        what = f"exited with status {outcome.status}"
    tail = outcome.output.splitlines()[-limit:]
    shown = "\n".join(f"    | {line}" for line in tail) or "    (no output)"
    return (
        f"the {block.language or 'untagged'} block at {block.where} {what}\n"
        f"  the block:\n{_indent(block.text)}\n  its output (last {limit} lines):\n{shown}"
    )


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines())
