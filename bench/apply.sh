#!/usr/bin/env bash
# plan/apply speed, against uv and pip measured in the same run:
#
#   - a no-op `plan` over 20 environments (goal <= 50 ms, no Python started);
#   - apply of three environments with about 20 wheels from a local folder,
#     installer uv vs the same raw `uv venv` + `uv pip install` commands
#     (goal <= 1.3x), and installer pip vs raw `python -m venv` + `pip install`
#     (goal <= 1.1x);
#   - apply of ten small environments (one wheel each), installer uv:
#     `apply --jobs 1` vs a plain `uv venv && uv pip install` loop (goal
#     <= 1.0x), and `apply` with the default jobs vs the same loop under
#     `xargs -P<cores>` (goal <= 1.0x). Medians of interleaved runs
#     (bench/timing.py).
#
#   bench/apply.sh             # RUNS=5 by default
#   PY=/usr/bin/python3.11 bench/apply.sh
#   BEEP_BIN=/path/to/beep-python bench/apply.sh   # an existing build
#   SKIP_PIP=1 bench/apply.sh  # without the (slow) pip comparison
#
# Everything is offline: the wheels are generated here (pure-Python, with
# dependencies between them) and installed with --no-index --find-links.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
# The base interpreter: $PY, else the real interpreter behind `python3`.
PY="${PY:-$(python3 -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')}"
CORES="$(nproc 2>/dev/null || echo 2)"

if [[ -n "${BEEP_BIN:-}" ]]; then
    BIN="$BEEP_BIN"
else
    cargo build --release --quiet
    BIN="$PWD/target/release/beep-python"
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

UV="$(command -v uv || true)"
if [[ -z "$UV" ]]; then
    echo "uv is not on PATH; installing it into a temporary venv" >&2
    python3 -m venv "$TMP/uv-venv" >&2
    "$TMP/uv-venv/bin/python" -m pip install --quiet uv >&2
    UV="$TMP/uv-venv/bin/uv"
fi
export PATH="$(dirname "$UV"):$PATH"
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null UV_NO_CONFIG=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# ~20 wheels: pkg00..pkg19, each depending on the previous two; leaf0..leaf9.
"$PY" bench/wheels.py "$TMP/wheels"

ms() { python3 -c 'import time; print(int(time.time()*1000))'; }

# time_ms PREPARE COMMAND: mean wall time of COMMAND over RUNS, PREPARE untimed.
time_ms() {
    local prepare="$1" command="$2" total=0 start end i
    for ((i = 0; i < RUNS; i++)); do
        bash -c "$prepare"
        start=$(date +%s%N)
        bash -c "$command" >/dev/null 2>&1 || { echo "failed: $command" >&2; bash -c "$command" >&2; exit 1; }
        end=$(date +%s%N)
        total=$((total + end - start))
    done
    echo $((total / RUNS / 1000000))
}
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print("%.2fx" % (a/b) if b else "n/a")' "$1" "$2"; }

# Three environments: 8, 12 and all 20 packages (each pulls its chain).
manifest() { # installer, project dir
    cat > "$2/beep-python.toml" <<TOML
version = 1
[settings]
installer = "$1"
find-links = ["$TMP/wheels"]
offline = true
[runtimes.py]
source = "system"
path = "$PY"
default = true
[environments.e1]
path = "envs/e1"
packages = ["pkg07"]
[environments.e2]
path = "envs/e2"
packages = ["pkg11"]
[environments.e3]
path = "envs/e3"
packages = ["pkg19"]
TOML
}

raw_uv='for e in e1:pkg07 e2:pkg11 e3:pkg19; do n=${e%%:*}; p=${e##*:}; '"$UV"' venv -q --python '"$PY"' '"$TMP"'/raw/$n && '"$UV"' pip install -q --offline --no-index --find-links '"$TMP"'/wheels --python '"$TMP"'/raw/$n/bin/python $p & done; wait'
raw_pip='for e in e1:pkg07 e2:pkg11 e3:pkg19; do n=${e%%:*}; p=${e##*:}; ( '"$PY"' -m venv '"$TMP"'/raw/$n && '"$TMP"'/raw/$n/bin/python -m pip install -q --no-index --find-links '"$TMP"'/wheels $p ) & done; wait'

for installer in uv pip; do
    mkdir -p "$TMP/p-$installer"; manifest "$installer" "$TMP/p-$installer"
done
# Warm uv's cache the same way for both sides.
$UV pip install -q --offline --no-index --find-links "$TMP/wheels" --python "$PY" --dry-run pkg19 >/dev/null 2>&1 || true

# Between runs, remove the environments and the registry but keep the
# caches (interpreters, pip wheel), as uv keeps its own: a user's machine
# has them warm after the first run.
reset() { echo "rm -rf $TMP/$1/envs $TMP/$2/registry.json $TMP/$2/backups"; }
(cd "$TMP/p-uv" && $BIN --home "$TMP/home-uv" apply --auto-approve >/dev/null 2>&1)
[[ -n "${SKIP_PIP:-}" ]] || (cd "$TMP/p-pip" && $BIN --home "$TMP/home-pip" apply --auto-approve >/dev/null 2>&1)
ours_uv=$(time_ms "$(reset p-uv home-uv)" "cd $TMP/p-uv && $BIN --home $TMP/home-uv apply --auto-approve")
theirs_uv=$(time_ms "rm -rf $TMP/raw" "$raw_uv")
if [[ -z "${SKIP_PIP:-}" ]]; then
    ours_pip=$(time_ms "$(reset p-pip home-pip)" "cd $TMP/p-pip && $BIN --home $TMP/home-pip apply --auto-approve")
    theirs_pip=$(time_ms "rm -rf $TMP/raw" "$raw_pip")
fi

# No-op plan over 20 environments (built once with uv).
mkdir -p "$TMP/p20"
{
    printf 'version = 1\n[settings]\ninstaller = "uv"\nfind-links = ["%s"]\noffline = true\n' "$TMP/wheels"
    printf '[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n' "$PY"
    for i in $(seq -w 1 20); do printf '[environments.e%s]\npath = "envs/e%s"\npackages = ["pkg%s"]\n' "$i" "$i" "$(printf %02d $((10#$i - 1)))"; done
} > "$TMP/p20/beep-python.toml"
(cd "$TMP/p20" && $BIN --home "$TMP/home20" apply --auto-approve >/dev/null 2>&1)
probes=$(cd "$TMP/p20" && $BIN --home "$TMP/home20" -v plan 2>&1 >/dev/null | grep -o 'observation started [0-9]* Python' || true)
noop=$(RUNS=$((RUNS * 4)) time_ms "true" "cd $TMP/p20 && $BIN --home $TMP/home20 plan --detailed-exitcode")

# Ten small environments, installer uv: one after another, and in parallel.
mkdir -p "$TMP/p10"
{
    printf 'version = 1\n[settings]\ninstaller = "uv"\nfind-links = ["%s"]\noffline = true\n' "$TMP/wheels"
    printf '[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n' "$PY"
    for i in $(seq 0 9); do printf '[environments.e%s]\npath = "envs/e%s"\npackages = ["leaf%s"]\n' "$i" "$i" "$i"; done
} > "$TMP/p10/beep-python.toml"
(cd "$TMP/p10" && $BIN --home "$TMP/home10" apply --auto-approve >/dev/null 2>&1)
one_uv="$UV venv -q --python $PY $TMP/raw10/e\$i && $UV pip install -q --offline --no-index --find-links $TMP/wheels --python $TMP/raw10/e\$i/bin/python leaf\$i"
loop10="for i in \$(seq 0 9); do $one_uv || exit 1; done"
xargs10="seq 0 9 | xargs -P$CORES -I{} bash -c 'i={}; $one_uv'"
python3 bench/timing.py "$RUNS" \
    ours10-j1 "$(reset p10 home10)" "cd $TMP/p10 && $BIN --home $TMP/home10 apply --auto-approve --jobs 1" \
    loop10 "rm -rf $TMP/raw10" "$loop10" \
    ours10 "$(reset p10 home10)" "cd $TMP/p10 && $BIN --home $TMP/home10 apply --auto-approve" \
    xargs10 "rm -rf $TMP/raw10" "$xargs10" > "$TMP/times10"
median() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/times10"; }

echo
echo "apply, 3 environments / 20 wheels, installer uv:  ${ours_uv} ms   raw uv venv + uv pip install:  ${theirs_uv} ms   ratio $(ratio "$ours_uv" "$theirs_uv") (goal <= 1.3x)"
if [[ -z "${SKIP_PIP:-}" ]]; then
    echo "apply, 3 environments / 20 wheels, installer pip: ${ours_pip} ms   raw python -m venv + pip:      ${theirs_pip} ms   ratio $(ratio "$ours_pip" "$theirs_pip") (goal <= 1.1x)"
fi
echo "no-op plan over 20 environments:                  ${noop} ms   (goal <= 50 ms; ${probes:-?} processes)"
printf 'apply --jobs 1, 10 small environments, uv:    %7.1f ms   uv venv && uv pip install loop:    %7.1f ms   ratio %s (goal <= 1.0x)\n' \
    "$(median ours10-j1)" "$(median loop10)" "$(ratio "$(median ours10-j1)" "$(median loop10)")"
printf 'apply (default jobs), 10 small environments: %7.1f ms   the same loop under xargs -P%s:    %7.1f ms   ratio %s (goal <= 1.0x)\n' \
    "$(median ours10)" "$CORES" "$(median xargs10)" "$(ratio "$(median ours10)" "$(median xargs10)")"
