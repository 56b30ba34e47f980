#!/usr/bin/env bash
# Install from the lock twice, each time into a new virtualenv, exactly as the
# README's install from a clone does, and check that the two `pip freeze --all`
# are byte-identical and that the installed CLI runs. Fails with the difference.
#
#   ./scripts/check-reproducible.sh                 requirements/main.txt, python3
#   PYTHON=python3.13 ./scripts/check-reproducible.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."

lock="requirements/${1:-main}.txt"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# What the image's build context holds: setuptools builds in the source tree
# (build/, *.egg-info), so it builds in a copy, not in this one.
mkdir "$work/src"
cp -R pyproject.toml README.md LICENSE reconciler "$work/src/"

for n in 1 2; do
    venv="$work/venv-$n"
    "$python" -m venv "$venv"
    {
        "$venv/bin/python" -m pip install --require-hashes -r "$lock" -r requirements/build.txt
        "$venv/bin/python" -m pip install --no-deps --no-build-isolation "$work/src"
    } >"$work/install-$n.log" 2>&1 || { cat "$work/install-$n.log" >&2; exit 1; }
    "$venv/bin/reconciler" --version >/dev/null
    "$venv/bin/python" -m pip freeze --all >"$work/freeze-$n.txt"
    rm -rf "$work/src/build" "$work/src/"*.egg-info  # the second build starts clean too
done

if ! cmp -s "$work/freeze-1.txt" "$work/freeze-2.txt"; then
    echo "check-reproducible: two installs from the lock differ:" >&2
    diff -u "$work/freeze-1.txt" "$work/freeze-2.txt" >&2
    exit 1
fi
echo "check-reproducible: two installs from $lock with $("$python" --version):" \
    "identical pip freeze ($(wc -l <"$work/freeze-1.txt") packages, sha256" \
    "$(sha256sum <"$work/freeze-1.txt" | cut -c1-16))"
