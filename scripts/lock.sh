#!/usr/bin/env bash
# Refresh the hashed lock files in requirements/ from the ranges in pyproject.toml
# (and requirements/build.in). The only step that needs uv; every install reads the
# lock with plain `pip install --require-hashes`.
#
#   main.txt    the runtime with the postgres extra: the container image
#   dev.txt     everything ./scripts/test.sh needs, and the build backend
#   build.txt   the build backend alone: the image's and the release's wheel build
#   floors.txt  every direct dependency at the lowest version pyproject.toml allows
#               (scripts/test-floors.sh runs the suite on it)
#
# Each is universal: one file for every supported Python (3.10+) and platform, with
# environment markers where they differ. Arguments go to every `uv pip compile`, e.g.
# `--upgrade-package tencentcloud-sdk-python-trtc`; without `--upgrade`, versions
# already locked are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

# The uv release this lock format was made with; used when uv is not on the PATH.
UV_VERSION="0.13.9"
uv="$(command -v uv || true)"
if [ -z "$uv" ]; then
    tools="$(mktemp -d)"
    trap 'rm -rf "$tools"' EXIT
    "${PYTHON:-python3}" -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION"
    uv="$tools/bin/uv"
fi

compile() {
    local output="$1"
    shift
    "$uv" pip compile --quiet --universal --python-version 3.10 --generate-hashes \
        --custom-compile-command "./scripts/lock.sh" --output-file "requirements/$output" "$@"
}

compile main.txt pyproject.toml --extra postgres "$@"
compile dev.txt pyproject.toml --all-extras requirements/build.in "$@"
compile build.txt requirements/build.in "$@"
# Made afresh each time: uv would otherwise prefer the versions already in the file
# over a floor that was lowered.
rm -f requirements/floors.txt
compile floors.txt pyproject.toml --all-extras requirements/build.in \
    --resolution lowest-direct "$@"
