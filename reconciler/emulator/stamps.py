"""Arrival stamps: when a request's first bytes reached the emulator's socket, as the
kernel saw them (``SO_TIMESTAMPNS``), rather than when a handler thread got round to
reading them.

A gateway counts a request in its rate-limit window when the request reaches it.
The emulator's handler threads share the machine with the clients under test, and
on a busy machine one may start reading a request tens of milliseconds after the
request came: counted then, it would land in a later window than it arrived in, and
a client that spaced its sends correctly would look as if it had bunched them. The
kernel stamps each segment as it is received, which over loopback is the moment the
client sent it. Where the kernel does not stamp (not Linux, or the option refused)
the handler reads its clock instead, as before.
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
    time) of the first segment read since the last ``mark``, None until one came."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.first: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        size, ancillary, _flags, _address = self._sock.recvmsg_into([buffer], _ANCILLARY)
        if self.first is None:
            for level, kind, data in ancillary:
                stamped = level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS
                if stamped and len(data) >= _TIMESPEC.size:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(data)
                    self.first = seconds + nanoseconds / 1e9
        return size

    def mark(self) -> None:
        """A new request starts: forget the last stamp."""
        self.first = None
