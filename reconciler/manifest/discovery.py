"""Discovery: which manifest files the given paths name, in reading order.

A path is one file, or a directory searched recursively for ``*.yaml`` / ``*.yml``
(hidden folders skipped). Files come in sorted order, each once however many paths
reach it, named as the user gave its path. A path that cannot be read is a problem
of that path, never an exception. Reads directory listings and nothing else.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from reconciler.manifest.problems import Problems, os_message

MANIFEST_SUFFIXES = (".yaml", ".yml")


def discover(paths: Sequence[str | Path], problems: Problems) -> list[str]:
    """Each manifest file under ``paths`` once, in reading order; unreadable paths
    are reported (before any file, so at ordinal 0)."""
    found: list[str] = []
    seen: set[str] = set()
    for given in paths:
        for name in _files_under(os.fspath(given), problems):
            real = os.path.realpath(name)
            if real not in seen:
                seen.add(real)
                found.append(name)
    if not found and not problems:
        shown = ", ".join(os.fspath(path) for path in paths) or "."
        problems.in_file(shown).whole_file("no manifest files (*.yaml, *.yml) found")
    return found


def _files_under(shown: str, problems: Problems) -> list[str]:
    try:
        info = os.stat(shown)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        problems.in_file(shown).whole_file(os_message(exc))
        return []
    if not stat.S_ISDIR(info.st_mode):
        return [shown]

    def walk_error(exc: OSError) -> None:
        problems.in_file(exc.filename or shown).whole_file(os_message(exc))

    names: list[tuple[tuple[str, ...], str]] = []
    for root, dirs, files in os.walk(shown, onerror=walk_error):
        # Hidden folders are not manifests: .git, and the timestamped copies
        # (..2024_…, ..data) a Kubernetes ConfigMap mount links its files to.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith(MANIFEST_SUFFIXES):
                path = os.path.join(root, name)
                names.append((Path(os.path.relpath(path, shown)).parts, path))
    names.sort()
    return [path for _, path in names]
