#!/usr/bin/env bash
# Virtual environment creation speed: ours (native, no Python started) vs
# `uv venv` vs `python -m venv`, bare and with pip, on the same machine in
# the same run.
#
#   bench/venv.sh                       # RUNS=20 by default
#   RUNS=50 PYTHON=/usr/bin/python3.11 bench/venv.sh
#
# Uses hyperfine when it is on PATH, else a bash loop timed with
# `date +%s%N`. uv comes from PATH, or is installed into a throwaway venv.
# Goals: bare creation no slower than `uv venv`; seeded within 2x of
# `uv venv --seed` and 20x faster than `python -m venv`.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-20}"
PYTHON="${PYTHON:-/root/.pyenv/versions/3.12.1/bin/python3.12}"
if [[ ! -x "$PYTHON" ]]; then
    PYTHON="$(command -v python3)"
fi
PYTHON="$(readlink -f "$PYTHON")"
VERSION="$("$PYTHON" -c 'import platform; print(platform.python_version())')"

cargo build --release --quiet --example venv_bench
BIN="$PWD/target/release/examples/venv_bench"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
DEST="$TMP/env"
CACHE="$TMP/cache"

UV="$(command -v uv || true)"
if [[ "$UV" == */shims/* ]]; then
    # A version-manager shim adds its own start-up to every run: time the
    # real binary.
    UV="$(pyenv which uv 2>/dev/null || true)"
fi
if [[ -n "$UV" ]] && ! "$UV" --version >/dev/null 2>&1; then
    UV=""
fi
if [[ -z "$UV" ]]; then
    echo "uv is not on PATH; installing it into a temporary venv" >&2
    if "$PYTHON" -m venv "$TMP/uv-venv" >&2 && "$TMP/uv-venv/bin/python" -m pip install --quiet uv >&2; then
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

# ratio A B: A / B, as "N.Nx".
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print("%.1fx" % (a/b) if b else "n/a")' "$1" "$2"; }

CLEAN="rm -rf '$DEST'"
OURS="'$BIN' '$PYTHON' '$VERSION' '$DEST'"

# Sanity: each command makes a working environment (and warms the caches).
eval "$CLEAN"; eval "$OURS --seed"; "$DEST/bin/pip" --version >&2
eval "$CLEAN"; eval "$OURS --seed --cache='$CACHE'"; "$DEST/bin/pip" --version >&2
if [[ -n "$UV" ]]; then
    eval "$CLEAN"; "$UV" venv -q --seed -p "$PYTHON" "$DEST" >&2; "$DEST/bin/python" -m pip --version >&2
fi
RUNS_SLOW=$(( RUNS < 5 ? RUNS : 5 ))

echo "python: $PYTHON ($VERSION); uv: ${UV:-none}; $RUNS runs each (python -m venv: $RUNS_SLOW)"
ours=$(mean_ms ours "$CLEAN" "$OURS")
py_bare=$(mean_ms py-bare "$CLEAN" "'$PYTHON' -m venv --without-pip '$DEST'")
ours_seed=$(mean_ms ours-seed "$CLEAN" "$OURS --seed")
ours_cached=$(mean_ms ours-cached "$CLEAN" "$OURS --seed --cache='$CACHE'")
py_seed=$(RUNS=$RUNS_SLOW mean_ms py-seed "$CLEAN" "'$PYTHON' -m venv '$DEST'")

echo
echo "bare environment"
echo "  beep-python (native)              ${ours} ms"
echo "  python -m venv --without-pip      ${py_bare} ms   ($(ratio "$py_bare" "$ours") ours)"
if [[ -n "$UV" ]]; then
    uv_bare=$(mean_ms uv-bare "$CLEAN" "'$UV' venv -q -p '$PYTHON' '$DEST'")
    echo "  uv venv                           ${uv_bare} ms   ($(ratio "$uv_bare" "$ours") ours; goal >= 1.0x)"
fi
echo "with pip"
echo "  beep-python + seed_pip            ${ours_seed} ms   (unpacks the bundled wheel)"
echo "  beep-python + seed_pip, cached    ${ours_cached} ms   (hard links from an unpacked copy, as uv does)"
echo "  python -m venv                    ${py_seed} ms   ($(ratio "$py_seed" "$ours_seed") uncached, $(ratio "$py_seed" "$ours_cached") cached; goal >= 20x)"
if [[ -n "$UV" ]]; then
    uv_seed=$(mean_ms uv-seed "$CLEAN" "'$UV' venv -q --seed -p '$PYTHON' '$DEST'")
    uv_offline=$(mean_ms uv-seed-offline "$CLEAN" "'$UV' venv -q --seed --offline -p '$PYTHON' '$DEST'")
    echo "  uv venv --seed                    ${uv_seed} ms"
    echo "  uv venv --seed --offline          ${uv_offline} ms"
    echo "  ours / uv --seed --offline: $(ratio "$ours_seed" "$uv_offline") uncached, $(ratio "$ours_cached" "$uv_offline") cached (goal <= 2.0x)"
fi
