#!/usr/bin/env bash
# The native wheel installer (beep_python::wheel) against `uv pip sync` of
# the same pinned requirements, measured in the same run: warm cache, cold
# cache (downloads from the package index, in parallel), and the disk two
# environments use when they share files.
#
#   bench/native.sh                        # RUNS=7, COLD_RUNS=3
#   RUNS=11 PYTHON=/usr/bin/python3.11 bench/native.sh
#
# Needs the network (the package index uv and pip are configured for) and
# uv (from PATH, or installed into a throwaway venv).
#
# Goals (issue 12): warm <= 1.0x `uv pip sync` (uv's default link mode,
# hard links on Linux), cold <= 1.2x uv; two environments share numpy's
# files (du).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-7}"
COLD_RUNS="${COLD_RUNS:-3}"
REQUIREMENTS="${REQUIREMENTS:-numpy pandas requests rich httpx click jinja2 pyyaml attrs pydantic packaging}"
PYTHON="${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}"
PYTHON="$(readlink -f "$PYTHON")"
VERSION="$("$PYTHON" -c 'import platform; print(platform.python_version())')"

cargo build --release --quiet --example wheel_bench --example venv_bench
BENCH="$PWD/target/release/examples/wheel_bench"
VENV="$PWD/target/release/examples/venv_bench"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

UV="$(command -v uv || true)"
if [[ "$UV" == */shims/* ]]; then
    UV="$(pyenv which uv 2>/dev/null || true)"
fi
if [[ -z "$UV" ]] || ! "$UV" --version >/dev/null 2>&1; then
    echo "uv is not on PATH; installing it into a temporary venv" >&2
    "$PYTHON" -m venv "$TMP/uv-venv" >&2
    "$TMP/uv-venv/bin/python" -m pip install --quiet uv >&2
    UV="$TMP/uv-venv/bin/uv"
fi

# The pins: uv resolves the requirements (with hashes); pip's --report then
# names, for each pin, the wheel it would install on this interpreter (URL
# and sha256): a lock with an artifact per pin, as the native installer
# wants. Both installers then install exactly these versions.
tr ' ' '\n' <<<"$REQUIREMENTS" > "$TMP/requirements.in"
"$UV" pip compile --quiet --python "$PYTHON" --generate-hashes --no-header --no-annotate \
    "$TMP/requirements.in" -o "$TMP/pinned.txt"
"$PYTHON" -m venv "$TMP/resolver" >&2
"$TMP/resolver/bin/python" -m pip install --quiet --disable-pip-version-check --dry-run \
    --ignore-installed --only-binary=:all: --no-deps --report "$TMP/report.json" -r "$TMP/pinned.txt"
python3 - "$TMP/report.json" "$TMP/pins.json" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
pins = [
    {
        "name": item["metadata"]["name"],
        "version": item["metadata"]["version"],
        "url": item["download_info"]["url"],
        "sha256": item["download_info"]["archive_info"]["hashes"]["sha256"],
    }
    for item in report["install"]
]
json.dump(pins, open(sys.argv[2], "w"), indent=1)
print(f"{len(pins)} pinned wheels", file=sys.stderr)
PYEOF

# measure COMMAND...: runs it once, prints its wall time in ms.
measure() {
    python3 - "$@" <<'PYEOF'
import subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = (time.perf_counter() - start) * 1000
if done.returncode != 0:
    sys.stderr.write(f"failed ({done.returncode}): {' '.join(sys.argv[1:])}\n{done.stderr.decode(errors='replace')}")
    sys.exit(1)
print(f"{elapsed:.0f}")
PYEOF
}

HOME_CACHE="$TMP/home/cache"
UV_CACHE="$TMP/uv-cache"
# `sync` after each removal, so that writing back what the previous run
# deleted does not land in the next run's time.
ours_env() { rm -rf "$TMP/env"; "$VENV" "$PYTHON" "$VERSION" "$TMP/env"; sync; }
uv_env() { rm -rf "$TMP/uenv"; "$UV" venv --quiet --python "$PYTHON" "$TMP/uenv"; sync; }
ours() { measure "$BENCH" "$PYTHON" "$VERSION" "$TMP/env" "$TMP/pins.json" "$HOME_CACHE"; }
uv_sync() {
    measure "$UV" pip sync --quiet --python "$TMP/uenv/bin/python" --cache-dir "$UV_CACHE" "$@" "$TMP/pinned.txt"
}

# Cold: empty caches, so every wheel is downloaded (in parallel, by both).
: > "$TMP/cold-ours"; : > "$TMP/cold-uv"
for ((i = 0; i < COLD_RUNS; i++)); do
    rm -rf "$TMP/home"; ours_env; ours >> "$TMP/cold-ours"
    rm -rf "$UV_CACHE"; uv_env; uv_sync >> "$TMP/cold-uv"
done

# Sanity, untimed: the environment works.
"$TMP/env/bin/python" -c 'import numpy, pandas, rich, httpx, requests; print("works: numpy", numpy.__version__, "pandas", pandas.__version__)' >&2

# Warm: caches filled by the cold runs; interleaved.
: > "$TMP/warm-ours"; : > "$TMP/warm-uv"
for ((i = 0; i < RUNS; i++)); do
    ours_env; ours >> "$TMP/warm-ours"
    uv_env; uv_sync --offline >> "$TMP/warm-uv"
done
# Disk: two environments from one cache.
rm -rf "$TMP/a" "$TMP/b"
MODE="$("$BENCH" "$PYTHON" "$VERSION" "$TMP/a" "$TMP/pins.json" "$HOME_CACHE" --create 2>&1 | sed 's/.*link mode //')"
"$BENCH" "$PYTHON" "$VERSION" "$TMP/b" "$TMP/pins.json" "$HOME_CACHE" --create 2>/dev/null
SITE="lib/python${VERSION%.*}/site-packages"
echo >&2
echo "disk (du -sh; du counts a file linked twice once per invocation):" >&2
du -sh "$TMP/a" | sed "s|$TMP/||" >&2
du -sh "$TMP/a" "$TMP/b" | sed "s|$TMP/||" >&2
du -sh "$TMP/a/$SITE/numpy" "$TMP/b/$SITE/numpy" | sed "s|$TMP/||" >&2
echo "numpy/__init__.py inodes: $(stat -c %i "$TMP/a/$SITE/numpy/__init__.py") $(stat -c %i "$TMP/b/$SITE/numpy/__init__.py")" >&2

python3 - "$TMP" "$RUNS" "$COLD_RUNS" "$MODE" <<'PYEOF'
import statistics, sys
tmp, runs, cold_runs, mode = sys.argv[1:5]
def median(name):
    return statistics.median(int(line) for line in open(f"{tmp}/{name}"))
warm_ours, warm_uv = median("warm-ours"), median("warm-uv")
cold_ours, cold_uv = median("cold-ours"), median("cold-uv")
print(f"\nnative install vs `uv pip sync`, same pins (link mode: {mode})")
print(f"  warm cache, median of {runs}:  ours {warm_ours:6.0f} ms   uv {warm_uv:6.0f} ms   {warm_ours / warm_uv:.2f}x (goal <= 1.0x)")
print(f"  cold cache, median of {cold_runs}:  ours {cold_ours:6.0f} ms   uv {cold_uv:6.0f} ms   {cold_ours / cold_uv:.2f}x (goal <= 1.2x)")
PYEOF
