"""What every view shares: the two output streams, terminal detection, errors, and
small text helpers.

Results go to ``out`` (stdout), everything for a person's eyes alone — problems,
errors, the progress line — to ``err`` (stderr). Views only write; they decide
nothing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TextIO

from reconciler.errors import ReconcilerError


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for anything that cannot tell)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Streams:
    """Where a view writes: results to ``out``, messages to ``err``."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)


class View:
    """The base of every command's view: it can report an error."""

    def __init__(self, streams: Streams | None = None) -> None:
        self.streams = streams or Streams()

    @property
    def out(self) -> TextIO:
        return self.streams.out

    @property
    def err(self) -> TextIO:
        return self.streams.err

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def error(self, exc: ReconcilerError) -> None:
        """The error that ended the command: each problem, then one line."""
        for problem in exc.problems:
            print(str(problem), file=self.err)
        print(f"Error: {exc}", file=self.err, flush=True)


class JsonLines:
    """Compact JSON, one document a line (``indent`` would switch ``json`` to its
    pure-Python encoder, several times slower on a 100,000-task plan)."""

    def __init__(self, out: TextIO) -> None:
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
