#!/usr/bin/env bash
# How long `beep_python::venv::observe` takes on a seeded environment (what
# `plan` does for each managed environment), moved here from a wall-clock
# assertion in tests/it/venv.rs.
#
#   bench/observe.sh                       # RUNS=5 by default
#   RUNS=9 PYTHON=/usr/bin/python3.11 bench/observe.sh
#
# Goal: 20 observations <= 50 ms (release build).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
# The real interpreter, not a version manager's shim.
PYTHON="$("${PYTHON:-python3}" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
VERSION="$("$PYTHON" -c 'import platform; print(platform.python_version())')"

cargo build --release --quiet --example venv_bench --example observe_bench
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
target/release/examples/venv_bench "$PYTHON" "$VERSION" "$TMP/env" --seed >/dev/null
if ! ls -d "$TMP"/env/lib/python*/site-packages/pip >/dev/null 2>&1; then
    echo "error: $PYTHON could not seed pip into the environment; pick another PYTHON" >&2
    exit 1
fi

echo "python: $PYTHON ($VERSION); goal: 20 observations <= 50 ms"
for _ in $(seq "$RUNS"); do
    target/release/examples/observe_bench "$TMP/env" 20
done
