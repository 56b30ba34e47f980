"""Arrival stamps: when a request's first bytes reached the emulator's socket, as the
kernel saw them (``SO_TIMESTAMPNS``), rather than when a handler thread got round to
reading them.

A gateway counts a request in its rate-limit window when the request reaches it.
The emulator's handler threads share the machine with the clients under test, and
on a busy machine one may start reading a request tens of milliseconds after the
request came: counted then, it would land in a later window than it arrived in, and
a client that spaced its sends correctly would look as if it had bunched them. The
kernel stamps each segment as it is received, which over loopback is the moment the
client sent it (segments still waiting to be read are merged, and keep the latest
stamp: see ``StampedReader``). Where the kernel does not stamp (not Linux, or the
option refused) the handler reads its clock instead, as before.
"""

from __future__ import annotations

import io
import socket
import struct
import sys

#: Linux's SO_TIMESTAMPNS (x86, ARM and the other generic-ABI architectures);
#: Python's socket module does not name it.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@ll")  # struct timespec: seconds and nanoseconds
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives; whether it will."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


class StampedReader(io.RawIOBase):
    """A socket's bytes, read with ``recvmsg``; ``first`` is the kernel's stamp (Unix
    time) of the read that brought the current request's first bytes (see ``mark``),
    None if unknown.

    That is the stamp of the segment that brought them, unless later ones came before
    the read: the kernel merges segments waiting in the socket's queue and keeps the
    latest one's stamp, so a request that came in pieces while its handler was busy
    counts when its last waiting piece came (still no later than it was read)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.first: float | None = None
        self._last: float | None = None  # the stamp of the last read
        self._fresh = True  # the next read brings the current request's first bytes
        self._probing = False  # reads answer "nothing yet" without touching the socket

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int | None:  # type: ignore[override]
        if self._probing:
            return None
        size, ancillary, _flags, _address = self._sock.recvmsg_into([buffer], _ANCILLARY)
        stamp = None
        for level, kind, data in ancillary:
            if (
                level == socket.SOL_SOCKET
                and kind == SO_TIMESTAMPNS
                and len(data) >= _TIMESPEC.size
            ):
                seconds, nanoseconds = _TIMESPEC.unpack_from(data)
                stamp = seconds + nanoseconds / 1e9
        self._last = stamp
        if self._fresh and size:
            self._fresh = False
            self.first = stamp
        return size

    def mark(self, reader: io.BufferedReader[StampedReader]) -> None:
        """A new request starts, read through ``reader``: its first bytes are those
        ``reader`` still holds (pipelined behind the last request: they came with the
        last read), else those of the next read."""
        self._probing = True
        try:
            pending = reader.peek(1)  # what is buffered; never a read of the socket
        finally:
            self._probing = False
        self._fresh = not pending
        self.first = self._last if pending else None
