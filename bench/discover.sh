#!/usr/bin/env bash
# Interpreter discovery speed: cold (no cache), cached, and `uv python list`
# on the same machine in the same run.
#
#   bench/discover.sh            # RUNS=10 by default
#   RUNS=30 bench/discover.sh
#
# Uses hyperfine when it is on PATH, else a bash loop timed with
# `date +%s%N`. uv comes from PATH, or is installed into a throwaway venv.
# Goals (DESIGN): cold <= 500 ms, cached <= 30 ms with no Python started.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-10}"

cargo build --release --quiet
BIN="$PWD/target/release/beep-python"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
HOME_DIR="$TMP/home"
DISCOVER="$BIN --home $HOME_DIR runtimes discover --format json"

UV="$(command -v uv || true)"
if [[ -z "$UV" ]]; then
    echo "uv is not on PATH; installing it into a temporary venv" >&2
    if python3 -m venv "$TMP/uv-venv" >&2 && "$TMP/uv-venv/bin/python" -m pip install --quiet uv >&2; then
        UV="$TMP/uv-venv/bin/uv"
    else
        echo "could not install uv; its timings are skipped" >&2
    fi
fi

# mean_ms NAME PREPARE COMMAND: mean wall time of COMMAND in ms (integer),
# running PREPARE before each run (untimed).
mean_ms() {
    local name="$1" prepare="$2" command="$3"
    if command -v hyperfine >/dev/null; then
        hyperfine --style none --runs "$RUNS" --prepare "$prepare" \
            --export-json "$TMP/$name.json" "$command" >&2
        python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' \
            "$TMP/$name.json"
    else
        local total=0 start end i
        for ((i = 0; i < RUNS; i++)); do
            bash -c "$prepare"
            start=$(date +%s%N)
            bash -c "$command" >/dev/null 2>&1
            end=$(date +%s%N)
            total=$((total + end - start))
        done
        echo $((total / RUNS / 1000000))
    fi
}

# ratio A B: how many times faster B is than A.
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print("%.1fx" % (a/b) if b else "n/a")' "$1" "$2"; }

# Sanity: the command works, and a cached run really starts no Python.
rm -rf "$HOME_DIR"
$DISCOVER >/dev/null
$DISCOVER | python3 -c '
import json, sys
d = json.load(sys.stdin)
found = d.get("runtimes", d.get("interpreters", []))
print("beep-python found %d interpreters; a cached run started %s probes (expected 0)" % (len(found), d.get("probes_run", "?")))' >&2

cold=$(mean_ms cold "rm -rf '$HOME_DIR'" "$DISCOVER")
cached=$(mean_ms cached "true" "$DISCOVER")

echo
echo "beep-python runtimes discover   cold:   ${cold} ms   (goal <= 500 ms)"
echo "beep-python runtimes discover   cached: ${cached} ms   (goal <= 30 ms)"
if [[ -n "$UV" ]]; then
    uv_cold=$(mean_ms uv-cold "true" "$UV python list --no-cache")
    uv_warm=$(mean_ms uv "true" "$UV python list")
    echo "uv python list --no-cache               ${uv_cold} ms"
    echo "uv python list                          ${uv_warm} ms"
    echo "cold is $(ratio "$uv_cold" "$cold") faster than uv --no-cache; cached is $(ratio "$uv_warm" "$cached") faster than uv"
    echo "(uv found $("$UV" python list --only-installed 2>/dev/null | wc -l) installed interpreters; it runs the version-manager shims on PATH, which we skip)"
fi
