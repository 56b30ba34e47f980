"""``load_manifests``: the manifests under some paths in, a ``LoadResult`` out.

It runs the package's steps in order: discovery finds the files, safe YAML reads
and composes each file's documents, the rules turn each document into tasks, and
every problem of every step goes to one collector. It never raises for anything
found on disk.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.domain import DesiredTask, Problem
from reconciler.manifest.discovery import discover
from reconciler.manifest.problems import DEFAULT_MAX_PROBLEMS, Problems, TooManyProblems
from reconciler.manifest.rules import Declared, check_document
from reconciler.manifest.safe_yaml import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_NODES, read_documents


@dataclass(frozen=True)
class LoadResult:
    """What the manifests declare, and everything wrong with them.

    ``tasks`` come in file order, then document order, then list order. Callers
    must not plan when ``problems`` is non-empty.
    """

    tasks: tuple[DesiredTask, ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...]
    truncated: bool = False  # more problems were found than max_problems

    @property
    def ok(self) -> bool:
        return not self.problems


def load_manifests(
    paths: Sequence[str | Path],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> LoadResult:
    """Read every ``*.yaml`` / ``*.yml`` under ``paths`` (each a directory, searched
    recursively, or one file) in sorted order, each file once.

    Never raises for anything found on disk: missing paths, unreadable or oversized
    files, bad encodings, YAML syntax errors, unsafe tags, alias bombs and schema
    violations all come back as problems, in file order then position order, at
    most ``max_problems`` of them (``truncated`` says when there were more).

    Limits, per file: ``max_file_bytes`` of text, checked before parsing; and a node
    budget of ``max_nodes`` or, if smaller, 10,000 plus two per byte of the file,
    counted as documents expand through aliases.
    """
    if isinstance(paths, (str, os.PathLike)):  # one path, not a sequence of characters
        paths = [paths]
    problems = Problems(max_problems)
    declared = Declared()
    files: list[str] = []
    # The walk allocates many small objects that all stay alive until the end;
    # generational GC passes over them would cost more than the parse itself. The
    # result is built, and the bookkeeping dropped, before GC resumes.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with contextlib.suppress(TooManyProblems):  # ``truncated`` says so
            for ordinal, name in enumerate(discover(paths, problems), start=1):
                files.append(name)
                in_file = problems.in_file(name, ordinal)
                for root in read_documents(
                    name, max_file_bytes=max_file_bytes, max_nodes=max_nodes, problems=in_file
                ):
                    check_document(root, problems=in_file, declared=declared)
        result = LoadResult(
            tasks=tuple(declared.tasks),
            problems=problems.in_order(),
            files=tuple(files),
            truncated=problems.truncated,
        )
        del declared, problems
    finally:
        if gc_was_enabled:
            gc.enable()
    return result
