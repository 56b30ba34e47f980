#!/usr/bin/env bash
# Set up a virtualenv (first run only) and run every check: lint, format, types,
# layer contracts, and the whole test suite (which starts its own throwaway
# PostgreSQL and TRTC emulator). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
. scripts/setup.sh "dev"

echo "== ruff check";   ruff check .
echo "== ruff format";  ruff format --check .
echo "== mypy";         mypy
echo "== import-linter"; lint-imports
echo "== pytest";       pytest -q "$@"
