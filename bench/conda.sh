#!/usr/bin/env bash
# Creating a 10-package conda environment from a warm local channel:
# beep-python's conda layer (rattler in-process) vs `micromamba create
# --offline`, when micromamba is on PATH.
#
#   bench/conda.sh                 # RUNS=5 by default
#   RUNS=10 FILES=120 bench/conda.sh
#
# The channel is built by bench/conda_channel.py: Debian's python3.11 as a
# conda `python` package plus nine small packages in a dependency chain
# (`pkg09` pulls in all ten). "Warm" means every cache is filled by one
# untimed run first: repodata, the verified archives, the extracted
# packages. Each timed run starts from a removed prefix and does what
# `create` does: solve (offline, from cached repodata), then link and write
# `conda-meta/`. The "cold" rows also remove the caches: fetch (a file
# copy from the channel folder), verify, extract, solve and link.
#
# micromamba is not in Debian's archive, nor on PyPI or npm as a binary;
# its installers download it from GitHub or conda-forge, which machines
# here cannot reach. When it is missing, the script says so and reports
# beep-python's absolute times only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
FILES="${FILES:-120}"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
CHANNEL="$TMP/channel"
python3 bench/conda_channel.py "$CHANNEL" --files "$FILES" >"$TMP/specs"
read -r -a SPECS <"$TMP/specs"

cargo build --release --quiet --example conda_bench
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/conda_bench"

# ms: milliseconds since the epoch.
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# timed LABEL PREPARE COMMAND: runs PREPARE (untimed) then COMMAND, RUNS
# times; prints the median, min and max in ms.
timed() {
    local label="$1" prepare="$2" command="$3" i start times=()
    for ((i = 0; i < RUNS; i++)); do
        bash -c "$prepare"
        start=$(ms)
        bash -c "$command" >/dev/null 2>>"$TMP/log"
        times+=($(( $(ms) - start )))
    done
    python3 - "$label" "${times[@]}" <<'EOF'
import statistics, sys
label, values = sys.argv[1], [int(v) for v in sys.argv[2:]]
print(f"  {label:<44} median {statistics.median(values):>6.0f} ms   (min {min(values)}, max {max(values)})")
EOF
}

PREFIX="$TMP/env"
CACHE="$TMP/home/cache"
OURS="'$BIN' '$CHANNEL' '$CACHE' '$PREFIX' ${SPECS[*]}"

# Sanity (and warm-up): a working environment with all ten packages.
rm -rf "$PREFIX"
"$BIN" "$CHANNEL" "$CACHE" "$PREFIX" "${SPECS[@]}"
"$PREFIX/bin/python" -c 'import pkg01, pkg09; print("imports: ok")'
echo "conda-meta: $(ls "$PREFIX/conda-meta"/*.json | wc -l) records, $(find "$PREFIX" -type f | wc -l) files"

echo
echo "10-package environment, $RUNS runs each"
timed "beep-python, warm caches (offline)" "rm -rf '$PREFIX'" "$OURS --offline"
timed "beep-python, cold caches" "rm -rf '$PREFIX' '$CACHE'" "$OURS"

MAMBA="$(command -v micromamba || true)"
if [[ -n "$MAMBA" ]]; then
    export MAMBA_ROOT_PREFIX="$TMP/mamba"
    MAMBA_CREATE="'$MAMBA' create -q -y -p '$PREFIX' --override-channels -c 'file://$CHANNEL' ${SPECS[*]}"
    rm -rf "$PREFIX"; bash -c "$MAMBA_CREATE" >/dev/null   # fills its caches
    timed "micromamba create --offline, warm caches" "rm -rf '$PREFIX'" "$MAMBA_CREATE --offline"
else
    echo "  micromamba: not installed (not in Debian, PyPI or npm as a binary here; its"
    echo "  installers download from GitHub/conda-forge, unreachable): no comparison"
fi
