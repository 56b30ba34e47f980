"""Reading what a user hands in — a saved plan, a state document, a manifest — in
bounded memory and time, and interruptibly.

``read_bytes`` is the one way a whole input file is read:

- ``-`` is standard input; any other path is opened without blocking
  (``O_NONBLOCK``), so opening a FIFO that no writer has opened yet cannot hang;
- then the kind of file is checked before a byte is read: a regular file, or — unless
  the caller wants regular files only (manifests) — a pipe or FIFO (``<(cmd)``,
  ``cmd | reconciler state push -``), a socket or a terminal. A directory, a disk or
  a character device such as ``/dev/zero`` is refused at once;
- it reads in chunks and stops one byte past ``limit``, so an endless stream is
  refused after ``limit`` bytes, never read whole;
- it waits for data with ``poll`` in short slices and looks at the halt between
  them: a SIGINT / SIGTERM interrupts a read that no writer feeds
  (``Interrupted``).

``load_json`` parses such bytes as one JSON document after checking how deeply it
nests (a deep ``[[[[…`` is refused with a message, not a ``RecursionError``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import stat
from typing import Protocol

from reconciler.errors import InputError, Interrupted

#: The largest JSON input read (a state of 100,000 records is about 40 MB).
MAX_JSON_BYTES = 256 * 1024 * 1024
#: How deeply a JSON document may nest; ours nest four levels.
MAX_JSON_DEPTH = 64

_STDIN = 0
_CHUNK = 1024 * 1024
_POLL_MS = 100
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class Halt(Protocol):
    """What a read looks at between waits (``reconciler.clock.Halt``)."""

    def is_set(self) -> bool: ...


class Unreadable(InputError):
    """An input that cannot be read; ``reason`` says why without naming the file."""

    def __init__(self, path: str, what: str, reason: str, *, message: str | None = None) -> None:
        super().__init__(message or f"{path}: cannot read the {what}: {reason}")
        self.reason = reason


class Missing(Unreadable):
    """An input that is not there at all (no such file)."""


class InputTooLarge(Unreadable):
    """An input past its size limit; ``size`` is how much was seen (at least)."""

    def __init__(self, path: str, what: str, *, size: int, limit: int) -> None:
        super().__init__(path, what, f"it is larger than the limit of {limit:,} bytes")
        self.size = size
        self.limit = limit


def read_bytes(
    path: str,
    *,
    limit: int,
    what: str,
    halt: Halt | None = None,
    regular_only: bool = False,
) -> bytes:
    """The whole of ``path`` (``-``: standard input), at most ``limit`` bytes.

    ``what`` names the input in messages ("plan file"). Raises ``InputError`` (or
    ``InputTooLarge``) with one clear message, ``Interrupted`` if ``halt`` is set
    while waiting for data.
    """
    if path == "-":
        try:
            os.fstat(_STDIN)
        except OSError:  # started with standard input closed
            raise Unreadable(path, what, "standard input is closed") from None
        return _read_fd(_STDIN, path, limit=limit, what=what, halt=halt)
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError as exc:
        raise Missing(path, what, _reason(exc), message=f"{path}: no such {what}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise Unreadable(path, what, _reason(exc)) from None
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if stat.S_ISREG(mode) and info.st_size > limit:  # refused unread
            raise InputTooLarge(path, what, size=info.st_size, limit=limit)
        if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
            # poll decides when to read; O_NONBLOCK only kept open() from waiting
            os.set_blocking(fd, True)
        if not _readable_kind(mode, fd, regular_only=regular_only):
            kinds = "a regular file" if regular_only else "a regular file or a pipe"
            raise Unreadable(path, what, f"not {kinds}")
        return _read_fd(fd, path, limit=limit, what=what, halt=halt)
    finally:
        os.close(fd)


def _readable_kind(mode: int, fd: int, *, regular_only: bool) -> bool:
    if stat.S_ISREG(mode):
        return True
    if regular_only:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


def _read_fd(fd: int, path: str, *, limit: int, what: str, halt: Halt | None) -> bytes:
    data = bytearray()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    while True:
        if halt is not None and halt.is_set():
            raise Interrupted(f"interrupted while reading the {what} {path}")
        try:
            if not poller.poll(_POLL_MS):
                continue
            chunk = os.read(fd, min(_CHUNK, limit + 1 - len(data)))
        except BlockingIOError:  # a descriptor left non-blocking by whoever opened it
            continue
        except OSError as exc:
            raise Unreadable(path, what, _reason(exc)) from None
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            raise InputTooLarge(path, what, size=len(data), limit=limit)


def load_json(data: bytes, path: str, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """Parse ``data`` as one JSON document; every failure is one ``InputError``."""
    depth = json_depth(data)
    if depth > max_depth:
        raise InputError(
            f"{path}: the {what} nests {depth} levels deep; at most {max_depth} are allowed"
        )
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the {what} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits
        raise InputError(f"{path}: not a valid {what}: {_one_line(str(exc))}") from None


def read_json(path: str, *, what: str, halt: Halt | None = None) -> object:
    """``read_bytes`` then ``load_json``, with the JSON limits; every failure to read
    is a plain ``InputError`` (or ``Interrupted``)."""
    try:
        data = read_bytes(path, limit=MAX_JSON_BYTES, what=what, halt=halt)
    except Unreadable as exc:
        raise InputError(str(exc)) from None
    return load_json(data, path, what=what)


#: A JSON string (its brackets do not nest anything), unrolled so ``re`` runs it fast.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)]


def json_depth(data: bytes) -> int:
    """How deeply ``data`` nests arrays and objects (outside strings), without parsing it."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_STEP[b] for b in brackets), default=0)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower().rstrip(".")
    return _one_line(str(exc)).lower().rstrip(".")


def _one_line(text: str) -> str:
    return " ".join(text.split())
