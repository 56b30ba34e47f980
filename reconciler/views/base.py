"""What every view shares: the two output streams, errors (as text or JSON), and
small text helpers.

Results go to ``out`` (stdout), everything for a person's eyes alone — problems,
errors, the progress line — to ``err`` (stderr). On a terminal both are the
console's channels (``reconciler.views.console``), which keep the progress line
out of every other line. Views only write; they decide nothing.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

from reconciler.errors import ReconcilerError
from reconciler.views.console import NO_STATUS, PLAIN, StatusLine, Style, TextSink, is_terminal


@dataclass
class Streams:
    """Where a view writes, and how: results to ``out`` (painted with ``style``),
    messages to ``err``, progress to ``status``; ``terminal`` when a person reads
    ``out`` on a terminal (long plans are then grouped by manifest file)."""

    out: TextSink = field(default_factory=lambda: sys.stdout)
    err: TextSink = field(default_factory=lambda: sys.stderr)
    style: Style = PLAIN
    status: StatusLine = NO_STATUS
    terminal: bool = False


class View:
    """The base of every command's view: it can report an error."""

    def __init__(self, streams: Streams | None = None) -> None:
        self.streams = streams or Streams()

    @property
    def out(self) -> TextSink:
        return self.streams.out

    @property
    def err(self) -> TextSink:
        return self.streams.err

    @property
    def style(self) -> Style:
        return self.streams.style

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def error(self, exc: ReconcilerError) -> None:
        """The error that ended the command: each problem, then one line."""
        self.streams.status.clear()
        for problem in exc.problems:
            print(str(problem), file=self.err)
        print(f"Error: {exc}", file=self.err, flush=True)


class JsonView(View):
    """A view whose stdout is JSON: an error is one JSON object there too (and the
    usual text on stderr, for a person reading the log)."""

    def error(self, exc: ReconcilerError) -> None:
        JsonLines(self.out).emit(error_document(exc))
        super().error(exc)


def error_document(exc: ReconcilerError) -> dict[str, object]:
    """``{"error": kind, "message": …, "problems": […]}`` (problems only if any)."""
    doc: dict[str, object] = {"error": error_kind(exc), "message": str(exc)}
    if exc.problems:
        doc["problems"] = [problem.to_json() for problem in exc.problems]
    return doc


def error_kind(exc: ReconcilerError) -> str:
    """The error's class as a stable snake_case name: ``LockBusy`` → ``lock_busy``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


class JsonLines:
    """Compact JSON, one document a line (``indent`` would switch ``json`` to its
    pure-Python encoder, several times slower on a 100,000-task plan)."""

    def __init__(self, out: TextSink) -> None:
        self._out = out

    def emit(self, doc: object) -> None:
        print(json.dumps(doc, separators=(",", ":")), file=self._out, flush=True)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def duration(seconds: float) -> str:
    """A short human duration: ``45s``, ``3m07s``, ``2h05m``."""
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


__all__ = [
    "JsonLines",
    "JsonView",
    "Streams",
    "View",
    "duration",
    "error_document",
    "is_terminal",
    "plural",
]
