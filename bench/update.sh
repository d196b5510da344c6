#!/usr/bin/env bash
# In-place updates (issue 12), against uv and pip measured in the same run:
#
#   - adding one small package to an environment of about 30 real packages
#     (numpy, pandas, requests, rich, httpx and their dependencies), whole
#     `beep-python apply`, installer uv and pip, against `uv pip install` /
#     `pip install` of that one package into an identical environment, and
#     against a rebuild of the environment (`apply --replace`, what every
#     update cost before in-place updates);
#   - the same with the lock in use (`apply --locked`: the native installer,
#     no pip or uv involved), against `uv pip install` of the pinned package
#     (offline, no dependencies: installing only), and what a user runs
#     after adding the line, `lock` (uv resolves) then `apply --locked`,
#     against `uv pip install` of the package (which resolves too);
#   - rebuilds (`apply --replace`, what every update cost before), with
#     each installer, against adding with it;
#   - a no-op `plan` over 50 environments whose inventories are checked
#     (existence, size, mtime of every installed file), and how many
#     processes it started.
#
#   bench/update.sh                     # RUNS=5 by default
#   RUNS=9 PY=/usr/bin/python3.11 bench/update.sh
#   SKIP_PIP=1 bench/update.sh          # without the (slow) pip cases
#
# Needs the network (the package index pip and uv are configured for; none
# is named here). The 50 environments of the plan case use wheels built here.
#
# Goals: add one package <= 1.5x `uv pip install`, >= 20x faster than the
# rebuild; installer pip <= 1.2x `pip install`; no-op plan over 50
# environments <= 100 ms with 0 processes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
PY="${PY:-$(python3 -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')}"
PACKAGES="${PACKAGES:-numpy pandas requests rich httpx click jinja2 pyyaml attrs packaging}"
EXTRA="${EXTRA:-tomli-w}"

cargo build --release --quiet
BIN="$PWD/target/release/beep-python"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

UV="$(command -v uv || true)"
if [[ -z "$UV" ]]; then
    echo "uv is not on PATH; installing it into a temporary venv" >&2
    "$PY" -m venv "$TMP/uv-venv" >&2
    "$TMP/uv-venv/bin/python" -m pip install --quiet uv >&2
    UV="$TMP/uv-venv/bin/uv"
fi
export PATH="$(dirname "$UV"):$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print("%.2fx" % (a/b) if b else "n/a")' "$1" "$2"; }
quoted() { local out="" p; for p in "$@"; do out+="\"$p\", "; done; echo "[${out%, }]"; }

manifest() { # installer, packages...
    local installer="$1"; shift
    cat <<TOML
version = 1
[settings]
installer = "$installer"
[runtimes.py]
source = "system"
path = "$PY"
default = true
[environments.ds]
path = "envs/ds"
packages = $(quoted "$@")
TOML
}

# One project per installer: base.toml (the packages), add.toml (+ EXTRA).
# `prep` puts the environment back to base (untimed) and the manifest to add.
for installer in uv pip native; do
    [[ "$installer" == pip && -n "${SKIP_PIP:-}" ]] && continue
    d="$TMP/p-$installer"; mkdir -p "$d"
    # shellcheck disable=SC2086
    manifest "${installer/native/uv}" $PACKAGES > "$d/base.toml"
    # shellcheck disable=SC2086
    manifest "${installer/native/uv}" $PACKAGES $EXTRA > "$d/add.toml"
    cp "$d/base.toml" "$d/beep-python.toml"
    if [[ "$installer" == native ]]; then
        # Two locks, written once: the native installer installs them.
        (cd "$d" && $BIN --home "$TMP/h-$installer" lock >/dev/null 2>&1 && cp beep-python.lock base.lock)
        cp "$d/add.toml" "$d/beep-python.toml"
        (cd "$d" && $BIN --home "$TMP/h-$installer" lock >/dev/null 2>&1 && cp beep-python.lock add.lock)
        cp "$d/base.toml" "$d/beep-python.toml"; cp "$d/base.lock" "$d/beep-python.lock"
        (cd "$d" && $BIN --home "$TMP/h-$installer" apply --locked --auto-approve >/dev/null)
    else
        (cd "$d" && $BIN --home "$TMP/h-$installer" apply --auto-approve >/dev/null)
    fi
done
count=$("$TMP/p-uv/envs/ds/bin/python" -c 'import importlib.metadata as m; print(len(list(m.distributions())))')

prep() { # installer -> the untimed preparation
    local d="$TMP/p-$1" h="$TMP/h-$1"
    if [[ "$1" == native-lock ]]; then
        # As a user would: the manifest gains the line, the lock is old.
        d="$TMP/p-native"; h="$TMP/h-native"
        echo "cd $d && cp base.toml beep-python.toml && cp base.lock beep-python.lock && $BIN --home $h apply --locked --auto-approve >/dev/null && cp add.toml beep-python.toml"
    elif [[ "$1" == native ]]; then
        echo "cd $d && cp base.toml beep-python.toml && cp base.lock beep-python.lock && $BIN --home $h apply --locked --auto-approve >/dev/null && cp add.toml beep-python.toml && cp add.lock beep-python.lock"
    else
        echo "cd $d && cp base.toml beep-python.toml && $BIN --home $h apply --auto-approve >/dev/null && cp add.toml beep-python.toml"
    fi
}

# The raw environments: the same packages, by uv and by pip.
# shellcheck disable=SC2086
"$UV" venv -q --python "$PY" "$TMP/raw-uv" && "$UV" pip install -q --python "$TMP/raw-uv/bin/python" $PACKAGES
if [[ -z "${SKIP_PIP:-}" ]]; then
    # shellcheck disable=SC2086
    "$PY" -m venv "$TMP/raw-pip" && "$TMP/raw-pip/bin/python" -m pip install -q $PACKAGES
fi
extra_pin=$(python3 -c 'import sys, tomllib; lock = tomllib.load(open(sys.argv[1], "rb")); print(next(p["version"] for p in lock["environments"]["ds"]["packages"] if p["name"] == sys.argv[2]))' "$TMP/p-native/add.lock" "$EXTRA")

cases=(
    uv-add "$(prep uv)" "cd $TMP/p-uv && $BIN --home $TMP/h-uv apply --auto-approve"
    uv-raw "$UV pip uninstall -q --python $TMP/raw-uv/bin/python $EXTRA || true" "$UV pip install -q --python $TMP/raw-uv/bin/python $EXTRA"
    native-add "$(prep native)" "cd $TMP/p-native && $BIN --home $TMP/h-native apply --locked --auto-approve"
    uv-raw-pin "$UV pip uninstall -q --python $TMP/raw-uv/bin/python $EXTRA || true" "$UV pip install -q --offline --no-deps --python $TMP/raw-uv/bin/python $EXTRA==$extra_pin"
    native-lock-add "$(prep native-lock)" "cd $TMP/p-native && $BIN --home $TMP/h-native lock >/dev/null && $BIN --home $TMP/h-native apply --locked --auto-approve"
    rebuild "true" "cd $TMP/p-uv && $BIN --home $TMP/h-uv apply --auto-approve --replace env.ds"
    native-rebuild "cd $TMP/p-native && cp add.toml beep-python.toml && cp add.lock beep-python.lock" "cd $TMP/p-native && $BIN --home $TMP/h-native apply --locked --auto-approve --replace env.ds"
)
if [[ -z "${SKIP_PIP:-}" ]]; then
    cases+=(
        pip-add "$(prep pip)" "cd $TMP/p-pip && $BIN --home $TMP/h-pip apply --auto-approve"
        pip-raw "$TMP/raw-pip/bin/python -m pip uninstall -q -y $EXTRA || true" "$TMP/raw-pip/bin/python -m pip install -q $EXTRA"
        pip-rebuild "true" "cd $TMP/p-pip && $BIN --home $TMP/h-pip apply --auto-approve --replace env.ds"
    )
fi
python3 bench/timing.py "$RUNS" "${cases[@]}" > "$TMP/times"
median() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/times"; }

# A no-op plan over 50 environments with inventories, from wheels built here.
"$PY" - "$TMP/wheels" <<'PYEOF'
import base64, hashlib, os, sys, zipfile
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
for i in range(50):
    name, ver = f"leaf{i:02d}", "1.0.0"
    di = f"{name}-{ver}.dist-info"
    files = {f"{name}/m{j}.py": f"VALUE = {j}\n" for j in range(20)}
    files[f"{di}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n"
    files[f"{di}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    with zipfile.ZipFile(f"{out}/{name}-{ver}-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            data = text.encode(); z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{di}/RECORD,,")
        z.writestr(f"{di}/RECORD", "\n".join(record) + "\n")
PYEOF
mkdir -p "$TMP/p50"
{
    printf 'version = 1\n[settings]\ninstaller = "uv"\nfind-links = ["%s"]\noffline = true\n' "$TMP/wheels"
    printf '[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n' "$PY"
    for i in $(seq -w 0 49); do printf '[environments.e%s]\npath = "envs/e%s"\npackages = ["leaf%s"]\n' "$i" "$i" "$i"; done
} > "$TMP/p50/beep-python.toml"
(cd "$TMP/p50" && $BIN --home "$TMP/h50" apply --auto-approve >/dev/null 2>&1)
files=$(find "$TMP/p50/envs" -type f | wc -l)
probes=$(cd "$TMP/p50" && $BIN --home "$TMP/h50" -v plan --detailed-exitcode 2>&1 >/dev/null | grep -o 'observation started [0-9]* Python[a-z ]*' || echo "?")
python3 bench/timing.py "$((RUNS * 4))" \
    plan50 "true" "cd $TMP/p50 && $BIN --home $TMP/h50 plan --detailed-exitcode" > "$TMP/times50"
plan50=$(awk '$1 == "plan50" { print $2 }' "$TMP/times50")

echo
echo "environment: $count distributions from: $PACKAGES; added: $EXTRA ($extra_pin); medians of $RUNS interleaved runs, ms"
printf 'add one package, installer uv:      %8.1f   uv pip install:           %8.1f   ratio %s (goal <= 1.5x)\n' \
    "$(median uv-add)" "$(median uv-raw)" "$(ratio "$(median uv-add)" "$(median uv-raw)")"
printf 'add one package, locked (native):   %8.1f   uv pip install --offline --no-deps PIN: %8.1f   ratio %s (goal <= 1.5x)\n' \
    "$(median native-add)" "$(median uv-raw-pin)" "$(ratio "$(median native-add)" "$(median uv-raw-pin)")"
printf 'lock + apply --locked (native):     %8.1f   uv pip install:           %8.1f   ratio %s (goal <= 1.5x)\n' \
    "$(median native-lock-add)" "$(median uv-raw)" "$(ratio "$(median native-lock-add)" "$(median uv-raw)")"
if [[ -z "${SKIP_PIP:-}" ]]; then
    printf 'add one package, installer pip:     %8.1f   pip install:              %8.1f   ratio %s (goal <= 1.2x)\n' \
        "$(median pip-add)" "$(median pip-raw)" "$(ratio "$(median pip-add)" "$(median pip-raw)")"
fi
printf 'rebuild (apply --replace), uv:      %8.1f   rebuild / add (uv):       %s (goal >= 20x)\n' \
    "$(median rebuild)" "$(ratio "$(median rebuild)" "$(median uv-add)")"
printf 'rebuild, native (--locked):         %8.1f   rebuild / add (native):   %s; uv rebuild / native add: %s\n' \
    "$(median native-rebuild)" "$(ratio "$(median native-rebuild)" "$(median native-add)")" "$(ratio "$(median rebuild)" "$(median native-add)")"
if [[ -z "${SKIP_PIP:-}" ]]; then
    printf 'rebuild, pip:                       %8.1f   rebuild / add (pip):      %s; pip rebuild / native add: %s\n' \
        "$(median pip-rebuild)" "$(ratio "$(median pip-rebuild)" "$(median pip-add)")" "$(ratio "$(median pip-rebuild)" "$(median native-add)")"
fi
printf 'no-op plan, 50 environments, %s files in them: %.1f ms (goal <= 100 ms); %s\n' "$files" "$plan50" "$probes"
