"""The shape the codebase keeps: small modules, short functions, short test files.

Limits: no product module over 500 lines, no function over 80 (data literals such
as the JSON Schema are exempt by name below), no test file over 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_TEST_FILE_LINES = 500
#: Functions that are one data literal (a schema, a table), not logic.
DATA_LITERALS = {"reconciler/schema.py:manifest_schema"}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_product_module_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): _lines(p)
        for p in (ROOT / "reconciler").rglob("*.py")
        if _lines(p) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_test_file_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): _lines(p)
        for p in (ROOT / "tests").rglob("*.py")
        if _lines(p) > MAX_TEST_FILE_LINES
    }
    assert long == {}


def test_no_function_is_over_the_limit() -> None:
    long = {}
    for path in (ROOT / "reconciler").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                name = f"{path.relative_to(ROOT)}:{node.name}"
                if length > MAX_FUNCTION_LINES and name not in DATA_LITERALS:
                    long[name] = length
    assert long == {}


def test_every_module_says_its_job_in_a_docstring() -> None:
    missing = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "reconciler").rglob("*.py")
        if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []


def test_nothing_cites_documents_outside_the_repository() -> None:
    cited = []
    for folder in ("reconciler", "tests", "benchmarks", "docs", "scripts", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".sh", ".yml", ".yaml"}:
                text = path.read_text(encoding="utf-8", errors="replace")
                for needle in ("../shared", "SPEC.md", "STYLE.md", "see SPEC", "(see SPEC"):
                    if needle in text and path.name != "test_code_shape.py":
                        cited.append(f"{path.relative_to(ROOT)}: {needle}")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cited += [f"README.md: {n}" for n in ("../shared", "SPEC.md", "STYLE.md") if n in readme]
    assert cited == []


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or through others."""
    import grimp

    graph = grimp.build_graph("reconciler")
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.find_shortest_chain(importer=imported, imported=module):
                cycles.add(tuple(sorted((module, imported))))
    assert sorted(cycles) == []
