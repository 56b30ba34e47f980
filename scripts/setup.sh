# Sourced by demo.sh and test.sh: create .venv on first use, activate it, and
# install the project with the extras given as "$1" (empty for none). pip's
# output is shown only if it fails.
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
setup_log="$(mktemp)"
pip_install() { python -m pip install --quiet "$@" >>"$setup_log" 2>&1 || { cat "$setup_log" >&2; exit 1; }; }
pip_install --upgrade pip
pip_install --editable ".${1:+[$1]}"
rm -f "$setup_log"
