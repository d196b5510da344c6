#!/usr/bin/env bash
# Issue 16, item 4 and the figures to keep:
#
#   - a first apply (empty home) of 200 environments on a system runtime
#     named by path: which processes it starts (goal: none but what it
#     needs: no discovery of the other Pythons on the machine);
#   - the max RSS of a no-op plan over those 200 environments (keep <= 9 MB
#     plus what the inventory check needs);
#   - start-up: `beep-python --version` (keep ~2 ms; uv 7 ms).
#
#   bench/first_apply.sh
#   PY=/usr/bin/python3.11 RUNS=20 bench/first_apply.sh
#
# Offline: the environments have no packages (pip seeded from the wheel the
# interpreter bundles). Needs strace.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-20}"
PY="${PY:-$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')}"
command -v strace >/dev/null || { echo "error: strace is needed to count processes" >&2; exit 1; }

cargo build --release --quiet
BIN="$PWD/target/release/beep-python"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TMP/p"
{
    printf 'version = 1\n[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n' "$PY"
    for i in $(seq -w 1 200); do printf '[environments.e%s]\npath = "envs/e%s"\n' "$i" "$i"; done
} > "$TMP/p/beep-python.toml"

start=$(date +%s%N)
(cd "$TMP/p" && strace -f -qq -e trace=execve -e signal=none -o "$TMP/execs" \
    "$BIN" --home "$TMP/home" apply --auto-approve >/dev/null 2>&1)
end=$(date +%s%N)
# Every program the apply started, with its first arguments, counted.
execs=$(grep -v "^[0-9]* +++\|resumed\|ENOENT" "$TMP/execs" | grep 'execve(' \
    | sed -E 's/^[0-9]+ +execve\("([^"]*)", \[("[^"]*"(, "[^"]*")?(, "[^"]*")?)?.*/\1 \2/' \
    | sed -E "s|$TMP|\$TMP|g" | sort | uniq -c | sort -rn)
others=$(grep -v "^[0-9]* +++\|resumed\|ENOENT" "$TMP/execs" | grep -c 'execve(' || true)

rss=$(cd "$TMP/p" && /usr/bin/time -f '%M' "$BIN" --home "$TMP/home" plan --detailed-exitcode 2>&1 >/dev/null | tail -1)
python3 bench/timing.py "$RUNS" version true "$BIN --version" > "$TMP/t"
version_ms=$(awk '$1 == "version" { print $2 }' "$TMP/t")
python3 bench/timing.py "$RUNS" shell true "true" > "$TMP/t0"
shell_ms=$(awk '$1 == "shell" { print $2 }' "$TMP/t0")

echo "first apply of 200 environments on $PY: $(( (end - start) / 1000000 )) ms under strace, $others programs started:"
echo "$execs"
echo "no-op plan over the 200: max RSS ${rss} KB"
printf 'beep-python --version: %.1f ms (bash -c true alone: %.1f ms; timing.py runs both through bash)\n' "$version_ms" "$shell_ms"
