#!/usr/bin/env bash
# Set up a virtualenv (first run only) and run every check: lint, format, types,
# layer contracts, and the whole test suite (which starts its own throwaway
# PostgreSQL and TRTC emulator). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
# Quiet set-up: show pip's output only if it fails.
setup_log="$(mktemp)"
pip_install() { python -m pip install --quiet "$@" >>"$setup_log" 2>&1 || { cat "$setup_log" >&2; exit 1; }; }
pip_install --upgrade pip
pip_install --editable '.[dev]'
rm -f "$setup_log"

echo "== ruff check";   ruff check .
echo "== ruff format";  ruff format --check .
echo "== mypy";         mypy
echo "== import-linter"; lint-imports
echo "== pytest";       pytest -q "$@"
