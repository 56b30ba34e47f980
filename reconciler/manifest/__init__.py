"""The manifest loader: YAML files in, desired tasks and every problem out.

Its one job is to turn the manifests under the given paths into ``DesiredTask``
values, collecting each problem as a ``FILE:LINE:COL`` diagnostic instead of raising.
It reads files and nothing else: no network, no database, no state, no clock, and
it imports nothing of the package but ``reconciler.domain``.

- ``discovery``: which ``*.yaml`` / ``*.yml`` files the paths name, in reading order;
- ``safe_yaml``: a file's documents as YAML nodes, within the size limit, the UTF-8
  check and the node budget, never constructing anything from a tag;
- ``rules``: what a document, its spec and each task must be, each rule once;
- ``problems``: the ``Problem`` value and the collector that sorts and caps them;
- ``loader``: ``load_manifests``, which runs the four.
"""

from reconciler.domain import Problem
from reconciler.manifest.discovery import MANIFEST_SUFFIXES
from reconciler.manifest.loader import LoadResult, load_manifests
from reconciler.manifest.problems import DEFAULT_MAX_PROBLEMS
from reconciler.manifest.safe_yaml import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_NODES

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_PROBLEMS",
    "MANIFEST_SUFFIXES",
    "LoadResult",
    "Problem",
    "load_manifests",
]
