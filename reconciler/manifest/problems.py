"""Problems: the collector that keeps what is wrong with the manifests.

A ``Problem`` (a domain value) is one ``FILE:LINE:COL`` diagnostic; ``Problems``
collects them for one load, caps how many it keeps, and gives them back sorted by
place. Whoever
reports does so through a ``FileProblems``, which names the file once, when it is
made: the file a problem belongs to is always the one the reporter was made for.
The text helpers here shape user-supplied text for one-line messages.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Protocol

from reconciler.domain import Problem

DEFAULT_MAX_PROBLEMS = 100

_SHOWN_CHARS = 60


class TooManyProblems(Exception):
    """Internal: the cap is reached, so looking further would find nothing to keep."""


class Problems:
    """Every problem of one load, up to a cap, in the order of their places."""

    def __init__(self, max_problems: int) -> None:
        self.max_problems = max(1, max_problems)  # a cap never hides that it failed
        self.truncated = False  # more problems were found than the cap
        # (file ordinal, line, col, arrival) sorts problems by place, stably.
        self._entries: list[tuple[int, int, int, int, Problem]] = []

    def __bool__(self) -> bool:
        return bool(self._entries)

    def in_file(self, file: str, ordinal: int = 0) -> FileProblems:
        """A reporter for ``file``, the ``ordinal``-th one read (0: before any file)."""
        return FileProblems(self, file, ordinal)

    def add(self, ordinal: int, problem: Problem) -> None:
        """Keep ``problem``; raises TooManyProblems, and marks the load truncated, past
        the cap."""
        if len(self._entries) >= self.max_problems:
            self.truncated = True
            raise TooManyProblems
        self._entries.append((ordinal, problem.line, problem.col, len(self._entries), problem))

    def in_order(self) -> tuple[Problem, ...]:
        """The problems in file order (as read), then line, then column."""
        return tuple(entry[4] for entry in sorted(self._entries, key=lambda entry: entry[:4]))


class _Mark(Protocol):
    line: int  # 0-based, as YAML marks count
    column: int


class _Marked(Protocol):
    @property
    def start_mark(self) -> _Mark: ...


@dataclass(frozen=True, slots=True)
class FileProblems:
    """Where the problems of one file go."""

    problems: Problems
    file: str
    ordinal: int

    def report(self, line: int, col: int, message: str, hint: str | None = None) -> None:
        self.problems.add(self.ordinal, Problem(self.file, line, col, message, hint))

    def whole_file(self, message: str, hint: str | None = None) -> None:
        self.report(0, 0, message, hint)

    def at(self, node: _Marked, message: str, hint: str | None = None) -> None:
        """Report at where ``node`` (a YAML node) starts."""
        mark = node.start_mark
        self.report(mark.line + 1, mark.column + 1, message, hint)


# -- user text in messages ---------------------------------------------------------


def show(text: str, *, quote: bool = True) -> str:
    """User text for a one-line message: shortened, control characters escaped."""
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    if quote or not text.isprintable():
        return repr(text)
    return text


def fits_shown(text: str) -> bool:
    """Whether ``show`` would print ``text`` whole."""
    return len(text) <= _SHOWN_CHARS


def suggest(name: str, choices: tuple[str, ...], listing: str) -> str:
    """A did-you-mean hint for ``name`` among ``choices``, else the list of choices."""
    by_lower = {choice.lower(): choice for choice in choices}
    lower = name.lower()
    if lower in by_lower:
        return f"did you mean {by_lower[lower]!r}?"
    close = difflib.get_close_matches(lower, list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"did you mean {by_lower[close[0]]!r}?"
    return f"{listing}: {', '.join(choices)}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def os_message(exc: OSError | ValueError) -> str:
    """An OS error as a message: ``no such file or directory``."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return one_line(text).lower().rstrip(".")
