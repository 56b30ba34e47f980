#!/usr/bin/env bash
# Set up a virtualenv from the lock (requirements/dev.txt; first run, or after the
# lock changed) and run every check: lint, format, types, layer contracts, and the
# whole test suite (which starts its own throwaway PostgreSQL and TRTC emulator).
# Extra arguments go to pytest.
#
#   ./scripts/test.sh                                   python3, in .venv
#   PYTHON=python3.13 ./scripts/test.sh                 that Python, in .venv-3.13
#   RECONCILER_TEST_POSTGRES=postgresql://… ./scripts/test.sh
#                                                       an existing PostgreSQL server
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
. scripts/setup.sh dev

exec scripts/checks.sh "$@"
