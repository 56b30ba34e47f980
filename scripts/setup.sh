# Sourced by demo.sh, test.sh and test-floors.sh: make a virtualenv from a lock in
# requirements/, activate it, and install the project into it in editable mode.
#
#   . scripts/setup.sh LOCK [VENV]
#
# LOCK is dev, main or floors (requirements/LOCK.txt). The interpreter is $PYTHON
# (default python3). VENV defaults to .venv, or to .venv-X.Y when PYTHON is set, so
# each Python keeps its own. The venv is made from scratch on first use and again
# whenever the lock or the Python changes, with `pip install --require-hashes`: the
# same files every time, nothing resolved on the day. Otherwise nothing is
# installed and the index is never asked. pip's output is shown only if it fails.

setup_python="${PYTHON:-python3}"
if ! setup_version="$("$setup_python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"; then
    echo "setup: cannot run Python '$setup_python' (set PYTHON to an interpreter)" >&2
    exit 1
fi
if ! "$setup_python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "setup: Python $setup_version is too old: the reconciler needs 3.10 or newer" >&2
    exit 1
fi
setup_venv="${2:-.venv${PYTHON:+-${setup_version%.*}}}"

setup_files() { # the lock files a venv for lock $1 is made from: main.txt has no
    # build backend, so the locked setuptools comes from build.txt (a venv's own
    # setuptools, where it has one, is too old for pyproject.toml's license field)
    echo "requirements/$1.txt"
    [ "$1" != main ] || echo requirements/build.txt
}
setup_stamp() { # what a venv made from lock $1 by this Python records
    printf 'python %s\n' "$setup_version"
    for file in $(setup_files "$1"); do printf '%s %s\n' "$file" "$(cksum <"$file")"; done
}
setup_current() { # is the venv up to date for lock $1?
    [ -x "$setup_venv/bin/python" ] && [ "$(cat "$setup_venv/.lock-stamp" 2>/dev/null)" = "$(setup_stamp "$1")" ]
}

setup_log="$(mktemp)"
setup_pip() { "$setup_venv/bin/python" -m pip "$@" >>"$setup_log" 2>&1 || { cat "$setup_log" >&2; rm -f "$setup_log"; exit 1; }; }

# A venv made from dev.txt holds everything main.txt does, so the demo reuses it.
if ! setup_current "$1" && ! { [ "$1" = main ] && setup_current dev; }; then
    echo "setup: making $setup_venv with Python $setup_version from $(setup_files "$1" | xargs)" >&2
    rm -rf "$setup_venv"
    "$setup_python" -m venv "$setup_venv"
    # shellcheck disable=SC2046 # one --requirement per file, names without spaces
    setup_pip install --quiet --require-hashes $(setup_files "$1" | sed 's/^/--requirement=/')
    setup_stamp "$1" >"$setup_venv/.lock-stamp"
    rm -f "$setup_venv/.project-stamp"
fi
# The project itself, editable, built by the setuptools the lock installed (no
# isolated build environment fetched from the index); redone when pyproject.toml
# changes (entry points, metadata).
if [ "$(cat "$setup_venv/.project-stamp" 2>/dev/null)" != "$(cksum <pyproject.toml)" ]; then
    setup_pip install --quiet --no-deps --no-build-isolation --editable .
    cksum <pyproject.toml >"$setup_venv/.project-stamp"
fi
rm -f "$setup_log"
# shellcheck disable=SC1091
. "$setup_venv/bin/activate"
