#!/usr/bin/env bash
# Scale (issue 10, item 10), each figure next to its goal:
#
#   - `validate` of manifests of 1,000, 4,000 and 10,000 environments
#     (goal: 10,000 in <= 1 s; the others their share of it);
#   - `validate` of an `extends` chain 5,000 templates deep (goal <= 1 s) and
#     50,000 deep (goal: linear, so about 10x the 5,000 figure; <= 15x allows
#     for the log factor of the sorted name tables, a quadratic walk is 100x);
#   - a no-op `plan --detailed-exitcode` over 10,000 applied environments
#     (goal <= 3 s).
#
#   bench/scale.sh               # RUNS=5 by default
#   RUNS=9 PY=/usr/bin/python3.11 bench/scale.sh
#   KEEP=/tmp/scale bench/scale.sh     # keep the manifests and homes
#
# The 10,000 applied environments: two are applied for real (a system
# runtime, no packages: pip seeded from the interpreter's bundled wheel), and
# the others are made from the first as apply leaves them, keeping exactly
# what `plan` reads: `pyvenv.cfg` (its prompt renamed), the marker (its name
# changed), `bin/python*` links to the base interpreter, `lib64`, and every
# `*.dist-info` of site-packages, hard-linked. Left out is what no plan
# reads: pip's code, its scripts and the activation scripts. The registry
# gets one record per environment, copied from the real one with its id,
# name and path changed. The script checks that the plan has nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
# The real interpreter, not a shim (beep-python refuses pyenv shims).
PY="${PY:-$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')}"

cargo build --release --quiet
BIN="$PWD/target/release/beep-python"
# KEEP=DIR builds everything in DIR (which must not exist) and leaves it
# there, to profile a command by hand afterwards.
if [[ -n "${KEEP:-}" ]]; then
    mkdir "$KEEP"
    TMP="$(cd "$KEEP" && pwd)"
else
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
fi
HOME_DIR="$TMP/home"

# median_ms EXPECTED-EXIT COMMAND...: the median wall time of RUNS runs, in
# ms, after one warm-up run; stops if the command exits otherwise.
median_ms() {
    local expected="$1" i start end code
    shift
    local times=()
    for ((i = 0; i <= RUNS; i++)); do
        start=$(date +%s%N)
        code=0
        "$@" >/dev/null 2>"$TMP/stderr" || code=$?
        end=$(date +%s%N)
        if [[ "$code" != "$expected" ]]; then
            echo "exit $code (expected $expected): $*" >&2
            head -c 4000 "$TMP/stderr" >&2
            exit 1
        fi
        ((i == 0)) || times+=($(((end - start) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'
}

# Manifests: N environments (explicit paths, a template, a profile, env vars,
# two requirements each), and extends chains.
python3 - "$TMP" <<'PYEOF'
import os, sys
tmp = sys.argv[1]
head = ('version = 1\n\n[runtimes.host]\nsource = "system"\nversion = ">=3.8"\ndefault = true\n\n'
        '[profiles.lint]\npackages = ["ruff>=0.5"]\n\n'
        '[templates.app]\nprofiles = ["lint"]\npackages = ["requests>=2.31"]\n\n')
def write(name, body):
    os.makedirs(f"{tmp}/{name}", exist_ok=True)
    with open(f"{tmp}/{name}/beep-python.toml", "w") as f:
        f.write(head + body)
for n in (1000, 4000, 10000):
    write(f"envs-{n}", "".join(
        f'[environments.e{i:05d}]\ntemplate = "app"\npath = "envs/e{i:05d}"\n'
        f'packages = ["rich>=13", "pkg{i}==1.0"]\nenv = {{ APP_ID = "{i}" }}\n\n'
        for i in range(n)))
for n in (5000, 50000):
    write(f"chain-{n}", "".join(
        f'[templates.t{i:05d}]\nextends = "{f"t{i - 1:05d}" if i else "app"}"\npackages = ["pkg{i}>=1"]\n\n'
        for i in range(n)) + f'[environments.deep]\ntemplate = "t{n - 1:05d}"\n')
PYEOF

validate() { "$BIN" --home "$HOME_DIR" --manifest "$TMP/$1/beep-python.toml" validate; }
v1000=$(median_ms 0 validate envs-1000)
v4000=$(median_ms 0 validate envs-4000)
v10000=$(median_ms 0 validate envs-10000)
c5000=$(median_ms 0 validate chain-5000)
c50000=$(median_ms 0 validate chain-50000)

# 10,000 applied environments.
P="$TMP/plan"
mkdir -p "$P"
manifest() { # N
    printf 'version = 1\n\n[runtimes.py]\nsource = "system"\npath = "%s"\ndefault = true\n\n' "$PY"
    for ((i = 0; i < $1; i++)); do printf '[environments.e%05d]\npath = "envs/e%05d"\n\n' "$i" "$i"; done
}
manifest 2 > "$P/beep-python.toml"
(cd "$P" && "$BIN" --home "$HOME_DIR" apply --auto-approve >/dev/null 2>"$TMP/apply.log") || { cat "$TMP/apply.log" >&2; exit 1; }
manifest 10000 > "$P/beep-python.toml"
python3 - "$P" "$HOME_DIR" 10000 <<'PYEOF'
import json, os, shutil, sys, uuid
project, home, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = os.path.join(project, "envs", "e00000")
registry_path = os.path.join(home, "registry.json")
registry = json.load(open(registry_path))
record = next(e for e in registry["environments"] if e["name"] == "e00000")
site = next(os.path.join(root, d) for root, dirs, _ in os.walk(os.path.join(src, "lib"))
            for d in dirs if d == "site-packages")
site_rel = os.path.relpath(site, src)
marker = json.load(open(os.path.join(src, ".beep-python.json")))
cfg = open(os.path.join(src, "pyvenv.cfg")).read()
records = []
for i in range(n):
    name = f"e{i:05d}"
    dst = os.path.join(project, "envs", name)
    if i >= 2:
        os.makedirs(os.path.join(dst, site_rel))
        os.makedirs(os.path.join(dst, "bin"))
        for entry in os.listdir(os.path.join(src, "bin")):
            link = os.path.join(src, "bin", entry)
            if os.path.islink(link):
                os.symlink(os.readlink(link), os.path.join(dst, "bin", entry))
        os.symlink(os.readlink(os.path.join(src, "lib64")), os.path.join(dst, "lib64"))
        for entry in os.listdir(site):
            if entry.endswith(".dist-info"):
                shutil.copytree(os.path.join(site, entry), os.path.join(dst, site_rel, entry),
                                copy_function=os.link)
        with open(os.path.join(dst, "pyvenv.cfg"), "w") as f:
            f.write(cfg.replace("prompt = e00000", f"prompt = {name}"))
        with open(os.path.join(dst, ".beep-python.json"), "w") as f:
            json.dump(dict(marker, name=name), f, indent=2)
        shutil.copy(os.path.join(src, ".gitignore"), os.path.join(dst, ".gitignore"))
    records.append(dict(record, id=str(uuid.uuid4()), name=name, path=dst))
registry["environments"] = records
with open(registry_path + ".tmp", "w") as f:
    json.dump(registry, f, indent=2)
os.replace(registry_path + ".tmp", registry_path)
PYEOF
plan() { (cd "$P" && "$BIN" --home "$HOME_DIR" plan --detailed-exitcode); }
noop=$(median_ms 0 plan)

ratio() { python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print("%.1fx" % (a / b) if b else "n/a")' "$1" "$2"; }
echo
echo "validate, 1,000 environments:                 ${v1000} ms   (goal <= 100 ms)"
echo "validate, 4,000 environments:                 ${v4000} ms   (goal <= 400 ms)"
echo "validate, 10,000 environments:                ${v10000} ms   (goal <= 1000 ms)"
echo "validate, extends chain 5,000 deep:           ${c5000} ms   (goal <= 1000 ms)"
echo "validate, extends chain 50,000 deep:          ${c50000} ms   ($(ratio "$c50000" "$c5000") the 5,000 figure; goal <= 15x: linear)"
echo "no-op plan over 10,000 applied environments:  ${noop} ms   (goal <= 3000 ms)"
