"""The console, in process, on a real pseudo-terminal: results and log lines from
several threads at once, through structlog and the standard library's logging,
never share a row with the progress line; a pipe never sees it."""

from __future__ import annotations

import io
import logging
import os
import pty
import threading
from collections.abc import Iterator

import pytest
import structlog

from reconciler.logs import configure_logging
from reconciler.views.console import Console, TerminalTraits
from tests.terminal import render

PROGRESS = "[7/300] in flight 3 · failed 0 · 12.5/s · ETA 23s"


class Terminal:
    """A pty: the program side as two text streams on one terminal, as a shell gives."""

    def __init__(self) -> None:
        self.leader, follower = pty.openpty()
        self.out = os.fdopen(follower, "w", encoding="utf-8", closefd=True)
        self.err = os.fdopen(os.dup(follower), "w", encoding="utf-8", closefd=True)
        self.chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def screen(self, columns: int = 200) -> list[str]:
        self.out.close()
        self.err.close()
        self._reader.join(timeout=5)
        os.close(self.leader)
        return render(b"".join(self.chunks), columns=columns)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    yield term
    # Logging was pointed at this terminal: point it back before it closes.
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def test_lines_from_every_writer_and_thread_never_share_the_progress_row(
    terminal: Terminal,
) -> None:
    console = Console(terminal.out, terminal.err)
    assert console.has_status and console.out.shares_status
    configure_logging(fmt="json", level="info", stream=console.err)
    log = structlog.get_logger("t")
    stdlib = logging.getLogger("urllib3.connectionpool")

    def worker(index: int) -> None:
        for line in range(50):
            console.show(f"{PROGRESS} {index}")
            if line % 2:
                log.info("structlog line", worker=index, line=line)
            else:
                stdlib.info("stdlib line %s %s", index, line)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for line in range(100):
        print(f"result line {line}", file=console.out, flush=True)
    for thread in threads:
        thread.join()
    console.clear()
    rows = terminal.screen()
    for row in rows:
        if "in flight" in row:
            assert row.startswith(PROGRESS) and len(row) <= len(PROGRESS) + 2, row
    assert not any("in flight" in row for row in rows)  # cleared at the end
    assert sum(row.startswith("result line ") for row in rows) == 100
    assert sum('"event": "structlog line"' in row for row in rows) == 100
    assert (
        sum('"event": "stdlib line' in row and '"logger": "urllib3' in row for row in rows) == 100
    )


def test_a_partial_line_waits_for_its_end(terminal: Terminal) -> None:
    console = Console(terminal.out, terminal.err)
    console.show(PROGRESS)
    console.out.write("Enter a value: ")
    console.out.flush()  # shown at once, and the progress line is not drawn after it
    console.show(PROGRESS)
    console.out.write("yes\n")
    console.clear()
    rows = terminal.screen()
    assert "Enter a value: yes" in rows
    assert not any("Enter" in row and "in flight" in row for row in rows)


def test_the_progress_line_never_reaches_a_pipe() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    assert not console.has_status
    console.status.show(PROGRESS)
    print("a result", file=console.out, flush=True)
    print("a log line", file=console.err, flush=True)
    console.clear()
    assert out.getvalue() == "a result\n" and err.getvalue() == "a log line\n"


def test_no_color_clears_with_spaces_and_dumb_draws_nothing(terminal: Terminal) -> None:
    console = Console(terminal.out, terminal.err, traits=TerminalTraits(no_color=True))
    assert not console.out_style.enabled and console.has_status
    console.show(PROGRESS)
    print("after", file=console.out, flush=True)
    console.clear()
    dumb = Console(terminal.out, terminal.err, traits=TerminalTraits(dumb=True))
    assert not dumb.has_status and not dumb.err_style.enabled
    dumb.status.show("never drawn")
    print("dumb result", file=dumb.out, flush=True)
    raw_rows = terminal.screen()
    raw = b"".join(terminal.chunks)
    assert b"\x1b" not in raw and b"never drawn" not in raw
    assert ("\r" + " " * len(PROGRESS) + "\r").encode() in raw
    assert "after" in raw_rows and "dumb result" in raw_rows
