#!/usr/bin/env bash
# A no-problem `doctor` over 20 environments (issue 13): how long it takes
# and that it starts no process, next to the no-op `plan` it contains.
#
#   bench/doctor.sh              # RUNS=9 by default
#   RUNS=15 PY=/usr/bin/python3.11 bench/doctor.sh
#   BEEP_BIN=/path/to/beep-python bench/doctor.sh   # an existing build
#
# Twenty environments (e01 with pkg00 .. e20 with pkg19 and its chain: 210
# installed distributions in all) on a system runtime, applied once with uv
# (pip when uv is not on PATH). Then, interleaved (bench/timing.py), medians:
#
#   - `plan --detailed-exitcode` (the no-op plan doctor computes too);
#   - `doctor`: every fast check (exit 0; the report's `processes_started`
#     must be 0);
#   - `doctor --deep`, for reference: every installed file hashed, each
#     interpreter run once.
#
# Where strace is installed it also counts the inventory files one
# `doctor` opens: one per environment (the plan's observation keeps what
# it read for the checks).
#
# Goal: `doctor` <= 100 ms and no process started (the no-op plan's goal is
# 50 ms; doctor reads every installed file's metadata on top of it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-9}"
PY="${PY:-$(python3 -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')}"

if [[ -n "${BEEP_BIN:-}" ]]; then
    BIN="$BEEP_BIN"
else
    cargo build --release --quiet
    BIN="$PWD/target/release/beep-python"
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
INSTALLER=pip
command -v uv >/dev/null && INSTALLER=uv
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null UV_NO_CONFIG=1 PIP_DISABLE_PIP_VERSION_CHECK=1

"$PY" bench/wheels.py "$TMP/wheels"
mkdir -p "$TMP/p"
{
    printf 'version = 1\n[settings]\ninstaller = "%s"\nfind-links = ["%s"]\noffline = true\n' "$INSTALLER" "$TMP/wheels"
    printf '[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n' "$PY"
    for i in $(seq -w 1 20); do printf '[environments.e%s]\npath = "envs/e%s"\npackages = ["pkg%s"]\n' "$i" "$i" "$(printf %02d $((10#$i - 1)))"; done
} > "$TMP/p/beep-python.toml"
B="$BIN --home $TMP/home"
(cd "$TMP/p" && $B apply --auto-approve >/dev/null 2>&1)

# It must be a no-problem doctor that starts nothing.
report="$(cd "$TMP/p" && $B --format json doctor)" || {
    echo "doctor is not clean:" >&2
    echo "$report" >&2
    exit 1
}
read -r healthy processes environments < <(python3 -c '
import json, sys
r = json.loads(sys.stdin.read().splitlines()[-1])
print(r["summary"]["healthy"], r["processes_started"], r["environments"])' <<<"$report")
if [[ "$healthy" != True || "$processes" != 0 || "$environments" != 20 ]]; then
    echo "expected a healthy report over 20 environments with no process started; got healthy=$healthy processes=$processes environments=$environments" >&2
    exit 1
fi

# Each environment's inventory is read once per run (the plan's
# observation keeps it for the checks): counted where strace is installed.
if command -v strace >/dev/null; then
    (cd "$TMP/p" && strace -f -e trace=openat,open -o "$TMP/strace" $B doctor >/dev/null 2>&1) || true
    inventory_reads="$(grep -c 'beep-python-inventory.json' "$TMP/strace" || true)"
fi

python3 bench/timing.py "$RUNS" \
    plan true "cd $TMP/p && $B plan --detailed-exitcode" \
    doctor true "cd $TMP/p && $B doctor" \
    doctor-deep true "cd $TMP/p && $B doctor --deep" > "$TMP/times"
cat "$TMP/times"
median() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/times"; }
echo
echo "installer $INSTALLER, python $PY, $RUNS runs (medians)"
echo "no-op plan over 20 environments:       $(median plan) ms"
echo "doctor over 20 environments:           $(median doctor) ms, no process started (goal <= 100 ms)"
echo "doctor --deep over 20 environments:    $(median doctor-deep) ms"
if [[ -n "${inventory_reads:-}" ]]; then
    echo "inventory files opened by one doctor:  $inventory_reads (one per environment: 20)"
fi
