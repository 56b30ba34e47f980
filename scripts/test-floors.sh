#!/usr/bin/env bash
# Keep the ranges in pyproject.toml honest: install every direct dependency at the
# lowest version they allow (requirements/floors.txt, made by ./scripts/lock.sh) on
# the oldest supported Python, in .venv-floors, and run every check on it. Extra
# arguments go to pytest.
#
#   ./scripts/test-floors.sh                  Python 3.10 from pyenv or the PATH
#   PYTHON=python3.10 ./scripts/test-floors.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/find-python.sh
. scripts/find-python.sh
PYTHON="${PYTHON:-$(find_python 3.10)}"
# shellcheck source=scripts/setup.sh
. scripts/setup.sh floors .venv-floors

exec scripts/checks.sh "$@"
