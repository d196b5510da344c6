#!/usr/bin/env bash
# How fast pip starts in an environment we seeded, against one made by
# `python -m venv`, with PYTHONDONTWRITEBYTECODE=1 (as in many containers):
# there, a pip without bytecode compiles itself on every command.
#
#   bench/pip_startup.sh                     # RUNS=15 by default
#   RUNS=30 PYTHON=/usr/bin/python3.11 bench/pip_startup.sh
#
# Environments, made once (untimed):
# - ours: `venv::create` + `seed_pip_cached` (what `apply` does; pip's
#   bytecode is compiled once into the cache and linked with pip);
# - ours, no cache: `seed_pip` (no cache, so no bytecode: what every
#   seeded environment was before);
# - venv: `python -m venv` (ensurepip compiles pip's bytecode).
# Then `bin/pip --version` in each, interleaved, RUNS times.
#
# Goal (issue 16): ours <= 1.1x venv.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-15}"
PYTHON="${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}"
PYTHON="$(readlink -f "$PYTHON")"
VERSION="$("$PYTHON" -c 'import platform; print(platform.python_version())')"

cargo build --release --quiet --example venv_bench
VENV="$PWD/target/release/examples/venv_bench"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$VENV" "$PYTHON" "$VERSION" "$TMP/ours" --seed --cache="$TMP/cache/unpacked" 2>/dev/null
"$VENV" "$PYTHON" "$VERSION" "$TMP/plain" --seed 2>/dev/null
"$PYTHON" -m venv "$TMP/venv"

export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
for env in ours plain venv; do
    "$TMP/$env/bin/pip" --version >/dev/null
    : > "$TMP/$env.ms"
done
measure() {
    python3 - "$@" <<'PYEOF'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(f"{(time.perf_counter() - start) * 1000:.0f}")
PYEOF
}
for ((i = 0; i < RUNS; i++)); do
    for env in ours plain venv; do
        measure "$TMP/$env/bin/pip" --version >> "$TMP/$env.ms"
    done
done
python3 - "$TMP" "$RUNS" "$VERSION" <<'PYEOF'
import statistics, sys
tmp, runs, version = sys.argv[1:4]
m = {e: statistics.median(int(l) for l in open(f"{tmp}/{e}.ms")) for e in ("ours", "plain", "venv")}
print(f"\n`pip --version`, PYTHONDONTWRITEBYTECODE=1, Python {version}, median of {runs}")
print(f"  ours (seeded from the cache, bytecode linked)  {m['ours']:5.0f} ms  {m['ours'] / m['venv']:.2f}x venv (goal <= 1.1x)")
print(f"  ours without a cache (no bytecode)             {m['plain']:5.0f} ms  {m['plain'] / m['venv']:.2f}x venv")
print(f"  python -m venv                                 {m['venv']:5.0f} ms")
PYEOF
