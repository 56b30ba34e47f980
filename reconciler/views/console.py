"""The one writer of the terminal: results, log lines and the progress line.

On a terminal, a live progress line sits at the bottom of the screen. Anything
else written to that terminal — a result on stdout, a log line on stderr, from
any thread — must not land on the same row: the ``Console`` clears the progress
line, writes the whole line, and draws the progress line again under it. Both
streams go through it (``out`` and ``err`` here), and so do structlog and the
standard library's logging, which the command line points at ``err``.

Text is passed on a whole line at a time (a partial line waits for its newline,
or for a ``flush``), so lines written by different threads never mix.

The progress line fits the terminal's width, is never drawn on a pipe or a file
nor under ``TERM=dumb``, and carries no escape sequence under ``NO_COLOR``: it is
then cleared by overwriting it with spaces.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from reconciler.views.outlet import Outlet

#: Carriage return, then erase to the end of the line (ECMA-48 "EL").
ERASE_LINE = "\r\033[K"

_SGR = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "cyan": "36",
}


class TextSink(Protocol):
    """What a view, a prompt or a log handler writes to: a text stream."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


class StatusLine(Protocol):
    """The live progress line: shown, replaced, removed."""

    def show(self, text: str) -> None: ...

    def clear(self) -> None: ...


class NoStatus:
    """No progress line (a pipe, a file, a dumb terminal)."""

    def show(self, text: str) -> None:
        pass

    def clear(self) -> None:
        pass


NO_STATUS = NoStatus()


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (False for anything that cannot tell)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


@dataclass(frozen=True)
class Style:
    """Colours for text on one stream; with ``enabled`` False, text passes unchanged."""

    enabled: bool = False

    def paint(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles or not text:
            return text
        codes = ";".join(_SGR[style] for style in styles)
        return f"\033[{codes}m{text}\033[0m"


PLAIN = Style(False)


@dataclass(frozen=True)
class TerminalTraits:
    """What the environment allows: colour (not ``NO_COLOR`` / ``--no-color``) and
    cursor control (not ``TERM=dumb``)."""

    no_color: bool = False
    dumb: bool = False


class Console:
    """Owns ``out`` and ``err`` when they are terminals; see the module docstring."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        traits: TerminalTraits | None = None,
        width: Callable[[], int] | None = None,
        give_up: Callable[[], bool] | None = None,
    ) -> None:
        traits = traits or TerminalTraits()
        self._lock = threading.RLock()
        out_tty, err_tty = is_terminal(out), is_terminal(err)
        colorful = not traits.no_color and not traits.dumb
        self.out_style = Style(colorful and out_tty)
        self.err_style = Style(colorful and err_tty)
        self.out_is_terminal = out_tty
        self.err_is_terminal = err_tty
        # The progress line lives on stderr, and only on a terminal that can move
        # its cursor; stdout shares its rows when both are the same terminal.
        self.has_status = err_tty and not traits.dumb
        self._escapes = not traits.no_color
        self._width = width or _width_of(err)
        # ``give_up`` (a signal came): a stream nobody drains may then lose text.
        self.err = _Channel(self, Outlet(err, give_up), shares_status=True)
        shared = out_tty and err_tty and _same_file(out, err)
        self.out = _Channel(self, Outlet(out, give_up), shares_status=shared)
        self._status_stream = self.err.outlet
        self._status_text: str | None = None
        self._drawn = 0  # columns of the progress line on screen now; 0 = none
        self._line_open = False  # a partial line on the shared terminal awaits its end

    @property
    def status(self) -> StatusLine:
        return self if self.has_status else NO_STATUS

    def show(self, text: str) -> None:
        """Show (or replace) the progress line."""
        with self._lock:
            self._status_text = text
            if not self._line_open:
                self._draw()

    def clear(self) -> None:
        """Remove the progress line for good (until the next ``show``)."""
        with self._lock:
            self._erase()
            self._status_text = None

    def _emit(self, channel: _Channel, text: str, *, line_open: bool) -> None:
        with self._lock:
            if channel.shares_status:
                self._erase()
            channel.outlet.write_out(text)
            if channel.shares_status:
                self._line_open = line_open
                if not line_open:
                    self._draw()

    def _draw(self) -> None:
        if not self.has_status or self._status_text is None:
            return
        columns = max(1, self._width() - 1)  # the last column would wrap on some terminals
        text = self._status_text[:columns]
        self._erase()
        self._status_stream.write_out(text)
        self._drawn = max(1, len(text))

    def _erase(self) -> None:
        if not self._drawn:
            return
        if self._escapes:
            self._status_stream.write_out(ERASE_LINE)
        else:  # no escape sequence at all: overwrite with spaces
            self._status_stream.write_out("\r" + " " * self._drawn + "\r")
        self._drawn = 0


class _Channel:
    """One stream, as the console passes it on: whole lines, the progress line cleared."""

    def __init__(self, console: Console, outlet: Outlet, *, shares_status: bool) -> None:
        self._console = console
        self.outlet = outlet
        self.target = outlet.target
        self.shares_status = shares_status
        self._pending = ""

    def write(self, text: str, /) -> int:
        with self._console._lock:
            self._pending += text
            if "\n" in self._pending:
                head, _, self._pending = self._pending.rpartition("\n")
                self._console._emit(self, head + "\n", line_open=False)
        return len(text)

    def flush(self) -> None:
        with self._console._lock:
            if self._pending:
                text, self._pending = self._pending, ""
                self._console._emit(self, text, line_open=True)
            else:
                self.target.flush()

    def isatty(self) -> bool:
        return is_terminal(self.target)

    def fileno(self) -> int:
        return self.target.fileno()


def _same_file(a: TextIO, b: TextIO) -> bool:
    try:
        return os.path.samestat(os.fstat(a.fileno()), os.fstat(b.fileno()))
    except (AttributeError, ValueError, OSError):
        return False


def _width_of(stream: TextIO) -> Callable[[], int]:
    def width() -> int:
        try:
            return os.get_terminal_size(stream.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            return 80

    return width


def open_console(traits: TerminalTraits, *, give_up: Callable[[], bool] | None = None) -> Console:
    """The console of this process: ``sys.stdout`` and ``sys.stderr``; once
    ``give_up`` is true, a stream nobody drains no longer holds the process."""
    return Console(sys.stdout, sys.stderr, traits=traits, give_up=give_up)
