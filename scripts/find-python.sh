# Sourced by .ci/run and test-floors.sh: `find_python X.Y` prints the path of a
# Python X.Y interpreter, from pyenv when it has one, else pythonX.Y on the PATH
# (as actions/setup-python, Debian or Homebrew install it); fails naming both.
find_python() {
    local version="$1" prefix
    if command -v pyenv >/dev/null 2>&1 && prefix="$(pyenv prefix "$version" 2>/dev/null)"; then
        echo "$prefix/bin/python$version"
    elif command -v "python$version" >/dev/null 2>&1 && "python$version" -c '' 2>/dev/null; then
        command -v "python$version"
    else
        echo "no Python $version: not in pyenv, no working python$version on the PATH" >&2
        return 1
    fi
}
