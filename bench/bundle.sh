#!/usr/bin/env bash
# Making and applying a bundle: `beep-python bundle create` of a locked project (a ~30 MB
# python-build-standalone-like archive and WHEELS_MB of wheels), against
# the same bytes packed by `tar | zstd -1` and `tar | zstd -3` (the C zstd),
# measured in the same run. What a bundle holds is already compressed (a
# tar.gz and zips), so compressing it again gains about 1 %: bundles are
# written as a zstd frame of stored blocks (src/bundle/mod.rs,
# "Compression", has the figures).
#
#   bench/bundle.sh                 # RUNS=5, WHEELS_MB=100 by default
#   RUNS=9 WHEELS_MB=300 bench/bundle.sh
#
# Needs python3, Debian's /usr/bin/python3.11, tar and zstd.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
WHEELS_MB="${WHEELS_MB:-100}"

for needed in tar zstd python3 /usr/bin/python3.11; do
    command -v "$needed" >/dev/null || { echo "bundle.sh needs \`$needed\`" >&2; exit 2; }
done

cargo build --release --quiet
BIN="$PWD/target/release/beep-python"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

case "$(uname -m)" in
    x86_64 | amd64) ARCH=x86_64 ;;
    aarch64 | arm64) ARCH=aarch64 ;;
    *) echo "bundle.sh: no python-build-standalone archives for $(uname -m)" >&2; exit 2 ;;
esac
VERSION="$(/usr/bin/python3.11 -c 'import platform; print(platform.python_version())')"
NAME="cpython-$VERSION+20990101-$ARCH-unknown-linux-gnu-install_only.tar.gz"
P="$TMP/project"
mkdir -p "$P/wheels"
SHA="$(python3 bench/pbs_archive.py "$TMP/$NAME" --size-mb 30)"

# Wheels of random (incompressible, as real wheels are) payload, 10 MB each.
python3 - "$P/wheels" "$WHEELS_MB" <<'PYEOF'
import base64, hashlib, os, sys, zipfile
folder, total = sys.argv[1], int(sys.argv[2])
for i in range(max(1, total // 10)):
    name, version = f"bench_{i}", "1.0"
    files = {f"{name}/__init__.py": b"", f"{name}/blob.bin": os.urandom(10 * 1024 * 1024)}
    info = f"{name}-{version}.dist-info"
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()},{len(b)}\n"
        for n, b in files.items()
    ) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    with zipfile.ZipFile(f"{folder}/{name}-{version}-py3-none-any.whl", "w", zipfile.ZIP_STORED) as z:
        for n, b in files.items():
            z.writestr(n, b)
PYEOF
PACKAGES="$(cd "$P/wheels" && ls | sed 's/-1.0-py3-none-any.whl//' | sed 's/.*/"&"/' | paste -sd, -)"
cat > "$P/catalog.json" <<JSON
{"source": "bench", "count": 1, "downloads": [{"version": "$VERSION", "os": "linux", "arch": "$ARCH",
 "libc": "gnu", "build": "20990101", "url": "file://$TMP/$NAME", "sha256": "$SHA"}]}
JSON
cat > "$P/beep-python.toml" <<TOML
version = 1
[settings]
installer = "pip"
find-links = ["wheels"]
offline = true
python-downloads = "catalog.json"
[runtimes.py]
version = "$VERSION"
default = true
[environments.bench]
packages = [$PACKAGES]
TOML
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null
"$BIN" --home "$TMP/home" --manifest "$P/beep-python.toml" lock >/dev/null 2>&1

ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
: > "$TMP/ours"; : > "$TMP/z1"; : > "$TMP/z3"
for ((i = 0; i < RUNS; i++)); do
    start=$(ms)
    "$BIN" --home "$TMP/home" --manifest "$P/beep-python.toml" -q bundle create --force --out "$TMP/b.tar.zst"
    echo $(( $(ms) - start )) >> "$TMP/ours"
    # The same files, packed by tar and the C zstd.
    rm -rf "$TMP/x" && mkdir "$TMP/x" && tar --zstd -xf "$TMP/b.tar.zst" -C "$TMP/x"
    for level in 1 3; do
        start=$(ms)
        tar cf - -C "$TMP/x" . | zstd -q -T1 "-$level" -o "$TMP/c$level.tar.zst" -f
        echo $(( $(ms) - start )) >> "$TMP/z$level"
    done
done
# Applying it where nothing is: a new folder and home, the wheels folder
# and the archive's server gone (file:// URL moved away), no network.
mv "$TMP/$NAME" "$TMP/$NAME.gone"
: > "$TMP/apply"
for ((i = 0; i < RUNS; i++)); do
    rm -rf "$TMP/restore" && mkdir "$TMP/restore"
    start=$(ms)
    (cd "$TMP/restore" && "$BIN" --home "$TMP/restore/home" -q apply --bundle "$TMP/b.tar.zst" --auto-approve >/dev/null)
    echo $(( $(ms) - start )) >> "$TMP/apply"
done
mv "$TMP/$NAME.gone" "$TMP/$NAME"
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
RAW=$(du -sb "$TMP/x" | cut -f1)
printf 'payload: %s MB (interpreter archive + %s MB of wheels), %s runs\n' "$((RAW / 1000000))" "$WHEELS_MB" "$RUNS"
printf '%-34s %8s ms %8s MB\n' "beep-python bundle create" "$(median "$TMP/ours")" "$(( $(stat -c %s "$TMP/b.tar.zst") / 1000000 ))"
printf '%-34s %8s ms %8s MB\n' "tar | zstd -1 (C, one thread)" "$(median "$TMP/z1")" "$(( $(stat -c %s "$TMP/c1.tar.zst") / 1000000 ))"
printf '%-34s %8s ms %8s MB\n' "tar | zstd -3 (C, one thread)" "$(median "$TMP/z3")" "$(( $(stat -c %s "$TMP/c3.tar.zst") / 1000000 ))"
printf '%-34s %8s ms\n' "beep-python apply --bundle (new home)" "$(median "$TMP/apply")"
