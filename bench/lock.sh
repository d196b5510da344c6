#!/usr/bin/env bash
# `beep-python lock` against the installers' own resolution, measured in the
# same run, with real packages from the configured package index:
#
#   - installer uv: `lock` of one environment vs one `uv pip compile
#     --generate-hashes`; `lock --jobs 1` of ten environments vs the ten
#     compiles one after another (goal <= 1.2x); `lock` with the default
#     jobs vs the same sum (goal <= 1.0x); then the same three from uv's
#     cache alone (UV_OFFLINE=1 on both sides), where the index's round
#     trips no longer drown our own overhead;
#   - installer pip: `lock` of one environment vs one `pip install --dry-run
#     --report` from a `python -m venv` environment (goal <= 1.3x); ten
#     environments, `--jobs 1` vs the sum (goal <= 1.3x) and default jobs.
#
#   bench/lock.sh                      # RUNS=5 by default
#   RUNS=9 PY=/usr/bin/python3.11 bench/lock.sh
#   BEEP_BIN=/path/to/beep-python bench/lock.sh   # an existing build (e.g. an older one)
#   SKIP_PIP=1 bench/lock.sh           # uv only
#   PIP_RUNS=3 bench/lock.sh           # fewer rounds for the (slow) pip half
#
# Every run removes beep-python.lock first, so each `lock` resolves from
# scratch (no pins kept); the caches stay warm on both sides: uv's and pip's
# HTTP caches, our discovery cache and resolver environment, as on a
# user's machine after the first run. The index is whatever pip and uv are
# configured to use (network access needed).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
PIP_RUNS="${PIP_RUNS:-$RUNS}"
# The base interpreter: $PY, else the real interpreter behind `python3`.
PY="${PY:-$(python3 -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')}"
XY="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

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
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# Ten environments, each a small real dependency tree.
REQS=(requests rich click attrs jinja2 pyyaml packaging python-dateutil tomli httpx)
mkdir -p "$TMP/req" "$TMP/out"
for i in "${!REQS[@]}"; do
    printf '%s\n' "${REQS[$i]}" > "$TMP/req/e$i.in"
done

manifest() { # dir installer count
    mkdir -p "$1"
    {
        printf 'version = 1\n[settings]\ninstaller = "%s"\n' "$2"
        printf '[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n' "$PY"
        for ((i = 0; i < $3; i++)); do
            printf '[environments.e%s]\npath = "envs/e%s"\npackages = ["%s"]\n' "$i" "$i" "${REQS[$i]}"
        done
    } > "$1/beep-python.toml"
}

JOBS1=""
if "$BIN" lock --help | grep -q -- '--jobs'; then JOBS1="--jobs 1"; fi

for installer in uv pip; do
    manifest "$TMP/$installer-1" "$installer" 1
    manifest "$TMP/$installer-10" "$installer" 10
done
ours() { # project [flags]
    echo "cd $TMP/$1 && $BIN --home $TMP/home lock ${2:-}"
}
reset() { echo "rm -f $TMP/$1/beep-python.lock"; }

compile() { # env index
    echo "$UV pip compile -q --generate-hashes --python $PY --python-version $XY --no-header --no-annotate -o $TMP/out/e$1.txt $TMP/req/e$1.in"
}
uv_sum="for i in \$(seq 0 9); do $UV pip compile -q --generate-hashes --python $PY --python-version $XY --no-header --no-annotate -o $TMP/out/e\$i.txt $TMP/req/e\$i.in || exit 1; done"

ratio() { python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print("%.2fx" % (a / b))' "$1" "$2"; }
median() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/times"; }

echo "base interpreter: $PY ($XY); uv: $($UV --version); beep-python: $BIN" >&2

# Warm every cache once, untimed (the resolver environment is built here).
for project in uv-1 uv-10; do (cd "$TMP/$project" && "$BIN" --home "$TMP/home" lock >/dev/null 2>&1); done

python3 bench/timing.py "$RUNS" \
    ours-uv-1 "$(reset uv-1)" "$(ours uv-1)" \
    uv-1 "true" "$(compile 0)" \
    ours-uv-10-j1 "$(reset uv-10)" "$(ours uv-10 "$JOBS1")" \
    ours-uv-10 "$(reset uv-10)" "$(ours uv-10)" \
    uv-10 "true" "$uv_sum" > "$TMP/times"

# The same from uv's cache alone (UV_OFFLINE=1 for both sides): no network
# round trips, so what is left is uv's own work and ours around it.
UV_OFFLINE=1 python3 bench/timing.py "$RUNS" \
    ours-uvc-1 "$(reset uv-1)" "$(ours uv-1)" \
    uvc-1 "true" "$(compile 0)" \
    ours-uvc-10-j1 "$(reset uv-10)" "$(ours uv-10 "$JOBS1")" \
    ours-uvc-10 "$(reset uv-10)" "$(ours uv-10)" \
    uvc-10 "true" "$uv_sum" >> "$TMP/times"

if [[ -z "${SKIP_PIP:-}" ]]; then
    "$PY" -m venv "$TMP/pip-venv"
    PIP="$TMP/pip-venv/bin/python -m pip install --dry-run --ignore-installed --quiet"
    pip_one() { echo "$PIP --report $TMP/out/e$1.json -r $TMP/req/e$1.in"; }
    pip_sum="for i in \$(seq 0 9); do $PIP --report $TMP/out/e\$i.json -r $TMP/req/e\$i.in || exit 1; done"
    for project in pip-1 pip-10; do (cd "$TMP/$project" && "$BIN" --home "$TMP/home" lock >/dev/null 2>&1); done
    python3 bench/timing.py "$PIP_RUNS" \
        ours-pip-1 "$(reset pip-1)" "$(ours pip-1)" \
        pip-1 "true" "$(pip_one 0)" \
        ours-pip-10-j1 "$(reset pip-10)" "$(ours pip-10 "$JOBS1")" \
        ours-pip-10 "$(reset pip-10)" "$(ours pip-10)" \
        pip-10 "true" "$pip_sum" >> "$TMP/times"
fi

line() { # label ours anchor goal
    local a b
    a="$(median "$2")"; b="$(median "$3")"
    printf '%-58s %8.1f ms  vs %8.1f ms  %6s  (goal %s)\n' "$1" "$a" "$b" "$(ratio "$a" "$b")" "$4"
}
echo
echo "lock, median of $RUNS runs ($PIP_RUNS for pip), ours vs anchor, ratio:"
line "uv, 1 environment vs uv pip compile --generate-hashes" ours-uv-1 uv-1 "<= 1.2x"
line "uv, 10 environments, --jobs 1 vs the 10 compiles summed" ours-uv-10-j1 uv-10 "<= 1.2x"
line "uv, 10 environments, default jobs vs the same sum" ours-uv-10 uv-10 "<= 1.0x"
line "uv cached (UV_OFFLINE=1), 1 environment vs 1 compile" ours-uvc-1 uvc-1 "<= 1.2x"
line "uv cached, 10 environments, --jobs 1 vs the sum" ours-uvc-10-j1 uvc-10 "<= 1.2x"
line "uv cached, 10 environments, default jobs vs the sum" ours-uvc-10 uvc-10 "<= 1.0x"
if [[ -z "${SKIP_PIP:-}" ]]; then
    line "pip, 1 environment vs pip install --dry-run --report" ours-pip-1 pip-1 "<= 1.3x"
    line "pip, 10 environments, --jobs 1 vs the 10 reports summed" ours-pip-10-j1 pip-10 "<= 1.3x"
    line "pip, 10 environments, default jobs vs the same sum" ours-pip-10 pip-10 "(none)"
fi
[[ -n "$JOBS1" ]] || echo "(this beep-python has no \`lock --jobs\`: the --jobs 1 rows ran with its default)"
