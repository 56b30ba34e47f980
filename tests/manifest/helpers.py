"""Helpers of the manifest tests: manifest text, files and what loading them says."""

from __future__ import annotations

from pathlib import Path

from reconciler.manifest import LoadResult, Problem, load_manifests

REPO = Path(__file__).resolve().parent.parent.parent
HEADER = "apiVersion: reconciler/v1\nkind: StreamIngestStop\n"


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def manifest_text(
    tasks: str, *, spec: str = "  region: ap-singapore\n  sdkAppId: 1400000001\n"
) -> str:
    """A one-document manifest: the header, ``spec`` lines, then ``tasks`` lines
    (``tasks`` starts on line 7 with the default spec)."""
    return f"{HEADER}spec:\n{spec}  tasks:\n{tasks}"


def load_text(tmp_path: Path, text: str | bytes, name: str = "m.yaml", **limits: int) -> LoadResult:
    return load_manifests([write(tmp_path, name, text)], **limits)


def messages(result: LoadResult) -> list[str]:
    return [str(problem) for problem in result.problems]


def only_problem(result: LoadResult) -> Problem:
    assert len(result.problems) == 1, messages(result)
    return result.problems[0]
