#!/usr/bin/env bash
# Provisioning a standalone runtime: download, verify and extract a ~30 MB
# python-build-standalone-like archive from 127.0.0.1, against the same work
# done by curl, sha256sum and tar, measured in the same run.
#
#   bench/provision.sh              # RUNS=5 by default
#   RUNS=9 SIZE_MB=30 bench/provision.sh
#
# Goals: beep-python's median <= 1.2x the baseline's, and its peak memory
# (max RSS) <= 64 MB.
#
# The archive is built by bench/pbs_archive.py from Debian's python3.11 (so
# the runtime really works) and served by `python3 -m http.server`. Every
# beep-python run gets a fresh --home, so its download cache is empty.
#
# Baseline: `curl -sf URL -o F && sha256sum -c && tar xzf F -C D`, i.e.
# download to a file, verify, then extract: the order beep-python must keep
# (nothing is unpacked before the digest matches). beep-python hashes while
# it downloads, which the shell cannot without a pipeline; the pipelined
# `curl | tee F | tar xz; sha256sum F` (which extracts before verifying) is
# timed too, for reference.
#
# Time and memory come from a small python3 wrapper around each run:
# time.perf_counter() and resource.getrusage(RUSAGE_CHILDREN).ru_maxrss,
# which is the largest of the process and the processes it waited for (for
# beep-python: any interpreter it starts to check the runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
SIZE_MB="${SIZE_MB:-30}"

for needed in curl tar sha256sum python3; do
    command -v "$needed" >/dev/null || { echo "provision.sh needs \`$needed\`" >&2; exit 2; }
done

cargo build --release --quiet
BIN="$PWD/target/release/beep-python"
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

case "$(uname -m)" in
    x86_64 | amd64) ARCH=x86_64 ;;
    aarch64 | arm64) ARCH=aarch64 ;;
    *) echo "provision.sh: no python-build-standalone archives for $(uname -m)" >&2; exit 2 ;;
esac
VERSION="$(/usr/bin/python3.11 -c 'import platform; print(platform.python_version())')"
NAME="cpython-$VERSION+20990101-$ARCH-unknown-linux-gnu-install_only.tar.gz"

mkdir -p "$TMP/srv" "$TMP/project"
SHA="$(python3 bench/pbs_archive.py "$TMP/srv/$NAME" --size-mb "$SIZE_MB")"
SIZE="$(stat -c %s "$TMP/srv/$NAME")"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$TMP/srv" >/dev/null 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT/$NAME"
for _ in $(seq 50); do
    curl -sfI "$URL" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sfI "$URL" >/dev/null || { echo "provision.sh: the server did not start" >&2; exit 1; }

cat > "$TMP/project/catalog.json" <<JSON
{
  "source": "bench",
  "count": 1,
  "downloads": [
    {
      "version": "$VERSION",
      "os": "linux",
      "arch": "$ARCH",
      "libc": "gnu",
      "build": "20990101",
      "url": "$URL",
      "sha256": "$SHA"
    }
  ]
}
JSON
MANIFEST="$TMP/project/beep-python.toml"
cat > "$MANIFEST" <<TOML
version = 1
[settings]
python-downloads = "catalog.json"
[runtimes.py]
source = "standalone"
version = "3.11"
TOML

# measure COMMAND...: runs it once and prints "<wall ms> <max RSS KiB>";
# fails (with its stderr) if it fails.
measure() {
    python3 - "$@" <<'PYEOF'
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = (time.perf_counter() - start) * 1000
if done.returncode != 0:
    sys.stderr.write(f"failed ({done.returncode}): {' '.join(sys.argv[1:])}\n{done.stderr.decode(errors='replace')}")
    sys.exit(1)
print(f"{elapsed:.0f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PYEOF
}

HOME_DIR="$TMP/home"
ours() { measure "$BIN" --home "$HOME_DIR" --manifest "$MANIFEST" apply --auto-approve; }
baseline() {
    measure bash -c 'set -euo pipefail
        curl -sf "$1" -o "$2/archive.tar.gz"
        echo "$3  $2/archive.tar.gz" | sha256sum -c --quiet
        mkdir "$2/runtime" && tar xzf "$2/archive.tar.gz" -C "$2/runtime"' _ "$URL" "$TMP/base" "$SHA"
}
streamed() {
    measure bash -c 'set -euo pipefail
        mkdir "$2/runtime"
        curl -sf "$1" | tee "$2/archive.tar.gz" | tar xz -C "$2/runtime"
        echo "$3  $2/archive.tar.gz" | sha256sum -c --quiet' _ "$URL" "$TMP/base" "$SHA"
}
fresh() { rm -rf "$HOME_DIR" "$TMP/base"; mkdir -p "$TMP/base"; }

# Sanity, untimed: the provisioned runtime runs. Also warms the page cache
# and the server.
fresh
ours >/dev/null
PY="$(find "$HOME_DIR/runtimes" -path '*/bin/python3' | head -n 1)"
[[ -n "$PY" ]] || { echo "provision.sh: no bin/python3 under $HOME_DIR/runtimes" >&2; exit 1; }
"$PY" -c 'import sys, ssl, sqlite3; print("provisioned:", sys.prefix, sys.version.split()[0])' >&2
fresh; baseline >/dev/null

# Interleaved, so that drift on a busy machine hits all three alike.
: > "$TMP/ours" ; : > "$TMP/baseline"; : > "$TMP/streamed"
for ((i = 0; i < RUNS; i++)); do
    fresh; ours >> "$TMP/ours"
    fresh; baseline >> "$TMP/baseline"
    fresh; streamed >> "$TMP/streamed"
done

python3 - "$TMP" "$SIZE" "$RUNS" <<'PYEOF'
import statistics, sys
tmp, size, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name):
    rows = [tuple(map(int, line.split())) for line in open(f"{tmp}/{name}")]
    return statistics.median(r[0] for r in rows), max(r[1] for r in rows)
ours, ours_rss = load("ours")
base, base_rss = load("baseline")
streamed, streamed_rss = load("streamed")
print(f"\narchive {size / 1e6:.1f} MB from 127.0.0.1, median of {runs} runs")
print(f"  beep-python apply                    {ours:6.0f} ms   max RSS {ours_rss / 1024:5.1f} MB (goal <= 64 MB)")
print(f"  curl -o, sha256sum -c, tar xzf       {base:6.0f} ms   max RSS {base_rss / 1024:5.1f} MB")
print(f"  curl | tee | tar xz, then sha256sum  {streamed:6.0f} ms   max RSS {streamed_rss / 1024:5.1f} MB")
print(f"  ratio {ours / base:.2f}x against the baseline (goal <= 1.2x); {ours / streamed:.2f}x against the pipeline")
PYEOF
