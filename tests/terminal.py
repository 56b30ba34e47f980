"""Run the CLI on a pseudo-terminal, as a person would, and render what it printed
as the terminal shows it (``pyte``, a VT100 emulator: carriage returns, erase-line
and colour sequences applied, long lines wrapped at the width)."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyte

PROMPT = b"Enter a value: "


@dataclass(frozen=True)
class Capture:
    code: int
    raw: bytes  # every byte the program wrote to the terminal
    rows: list[str]  # the rendered screen, scrollback included, right-trimmed
    width: int

    def rows_after(self, marker: str) -> list[str]:
        """The rendered rows after the first that holds ``marker``."""
        index = next(i for i, row in enumerate(self.rows) if marker in row)
        return self.rows[index + 1 :]


def render(raw: bytes, *, columns: int, lines: int = 40) -> list[str]:
    screen = pyte.HistoryScreen(columns, lines, history=100_000, ratio=0.5)
    stream = pyte.ByteStream(screen)
    stream.feed(raw)
    rows = [_row(line, columns) for line in screen.history.top]
    rows += [row.rstrip() for row in screen.display]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _row(line: Mapping[int, pyte.screens.Char], columns: int) -> str:
    return "".join(line[x].data for x in range(columns)).rstrip()


def run_in_terminal(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    columns: int = 100,
    answer: bytes | None = None,
    only_stderr: bool = False,
    timeout: float = 120,
) -> Capture:
    """Run ``reconciler ARGS`` with stdin, stdout and stderr on one terminal of
    ``columns`` columns; type ``answer`` at the confirmation prompt. With
    ``only_stderr``, stdin and stdout are not the terminal (``/dev/null``)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    elsewhere = subprocess.DEVNULL if only_stderr else follower
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env=dict(env),
        cwd=cwd,
        stdin=elsewhere,
        stdout=elsewhere,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    answered = answer is None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError as exc:  # EIO: the child closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not answered and PROMPT in b"".join(chunks[-3:]):
                assert answer is not None
                os.write(leader, answer)
                answered = True
        code = proc.wait(timeout=30)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raw = b"".join(chunks)
    return Capture(code, raw, render(raw, columns=columns), columns)
