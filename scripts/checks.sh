#!/usr/bin/env bash
# Every check, in the virtualenv the caller activated (test.sh, test-floors.sh):
# lint, format, types, layer contracts, then the whole test suite. Extra arguments
# go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== $(python --version) in ${VIRTUAL_ENV:-?}"
echo "== ruff check";    ruff check .
echo "== ruff format";   ruff format --check .
echo "== mypy";          mypy
echo "== import-linter"; lint-imports
# The suite runs on every CPU (up to 4), a test file per worker at a time: most of
# its time is spent waiting on subprocesses, the emulator and PostgreSQL.
echo "== pytest";        pytest -q -n auto --maxprocesses 4 --dist loadfile "$@"
