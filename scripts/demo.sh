#!/usr/bin/env bash
# Set up a virtualenv (first run only), start the built-in TRTC API emulator seeded
# with the tasks that manifests/ declares (one of them already ended), and run the
# reconciler against it: validate, plan, apply, plan again, state list.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
. scripts/setup.sh ""

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
    if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Test credentials the emulator checks signatures against (not real keys).
export TENCENTCLOUD_SECRET_ID="AKIDdemo0000000000000000000000000000"
export TENCENTCLOUD_SECRET_KEY="demo-secret-key-not-a-real-one"
export RECONCILER_STATE="$work/state.db"

reconciler emulator --port 0 --latency 0.05 \
    --secret-id "$TENCENTCLOUD_SECRET_ID" --secret-key "$TENCENTCLOUD_SECRET_KEY" \
    --seed-manifests manifests \
    --finished-task "1400000001/Zp9HfE2sK4uJ6nBq1VrXcM@ap-singapore" \
    >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$work/emulator.out" ] && break
    if ! kill -0 "$emulator_pid" 2>/dev/null; then cat "$work/emulator.err" >&2; exit 1; fi
    sleep 0.1
done
RECONCILER_ENDPOINT="$(python -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$work/emulator.out")"
export RECONCILER_ENDPOINT

# Bold commands on a terminal, plain text elsewhere and under NO_COLOR (no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-}" != dumb ]; then
    step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
else
    step() { printf '\n$ %s\n' "$*"; }
fi

step reconciler validate manifests
reconciler validate manifests
step reconciler plan manifests
reconciler plan manifests --log-level warning
step reconciler apply manifests --auto-approve
reconciler apply manifests --auto-approve --log-format json 2>"$work/apply.log"
step "(its structured log on stderr: one JSON line per task outcome and a summary; first and last)"
head -n 1 "$work/apply.log"
tail -n 1 "$work/apply.log"
step reconciler plan manifests --detailed-exitcode
reconciler plan manifests --detailed-exitcode --log-level warning
echo "(exit code $?)"
step reconciler state list
reconciler state list
printf '\nDemo done: emulator at %s, state in a temporary directory (removed).\n' "$RECONCILER_ENDPOINT"
