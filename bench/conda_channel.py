#!/usr/bin/env python3
"""Builds a local conda channel of 10 packages for bench/conda.sh.

    bench/conda_channel.py OUT_DIR [--files 120]

- `python 3.11.2` (linux-64): Debian's statically linked /usr/bin/python3.11
  and its standard library, laid out as conda's python is (`bin/python3.11`,
  `bin/python3` and `bin/python` links, `lib/python3.11/`), leaving out what
  python-build-standalone's stripped builds leave out (tests, idlelib,
  tkinter, `__pycache__`, the 25 MB `config-*` folder). Debian's site.py
  reads `lib/python3/dist-packages`, so a `.pth` there names
  `lib/python3.11/site-packages`, where conda packages go.
- `pkg01` ... `pkg09`: each depends on python and on the one before it
  (`pkg09` pulls in all ten); odd ones are `noarch: python`, even ones
  `linux-64`; each holds `--files` small modules (2 KB each) and one text
  file with the build prefix in it, which the installer must rewrite.

Archives are `.tar.bz2` (Python's standard library has no zstd), with
`info/index.json`, `info/paths.json` (sha256 and size of every file),
`info/link.json` for noarch python, then the files; entries are sorted and
times fixed. `OUT_DIR/{noarch,linux-64}/repodata.json` list them with their
sha256, md5 and size. Prints the specs that select the whole channel.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile

PYTHON = "/usr/bin/python3.11"
STDLIB = "/usr/lib/python3.11"
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
MTIME = 1_700_000_000
SKIP_FIRST = {"test", "idlelib", "tkinter", "turtledemo", "EXTERNALLY-MANAGED", "sitecustomize.py"}


def stdlib_files():
    """(archive path, absolute source path or symlink target, is_link)."""
    out = []
    for root, dirs, files in os.walk(STDLIB):
        rel_root = os.path.relpath(root, STDLIB)
        first = rel_root.split(os.sep)[0]
        dirs[:] = sorted(
            d for d in dirs
            if d != "__pycache__" and not (rel_root == "." and (d in SKIP_FIRST or d.startswith("config-")))
        )
        for name in sorted(files):
            if rel_root == "." and name in SKIP_FIRST:
                continue
            if first in SKIP_FIRST or first.startswith("config-"):
                continue
            src = os.path.join(root, name)
            rel = os.path.normpath(os.path.join("lib/python3.11", rel_root, name))
            if os.path.islink(src):
                target = os.readlink(src)
                if os.path.isabs(target):
                    continue
                out.append((rel, target, True))
            else:
                out.append((rel, src, False))
    return out


class Pkg:
    def __init__(self, name, version, subdir, depends, noarch=None):
        self.name, self.version, self.subdir = name, version, subdir
        self.build = "0"
        self.depends = depends
        self.noarch = noarch
        self.files = []  # (path, bytes | None, link target | None, executable, has_prefix)

    def add(self, path, data=None, link=None, executable=False, has_prefix=False):
        self.files.append((path, data, link, executable, has_prefix))

    @property
    def file_name(self):
        return f"{self.name}-{self.version}-{self.build}.tar.bz2"

    def index(self):
        index = {
            "name": self.name, "version": self.version, "build": self.build,
            "build_number": 0, "depends": self.depends, "license": "MIT",
            "subdir": self.subdir, "timestamp": MTIME * 1000,
            "platform": None if self.subdir == "noarch" else "linux",
            "arch": None if self.subdir == "noarch" else "x86_64",
        }
        if self.noarch:
            index["noarch"] = self.noarch
        return index


def tar_add(tar, path, data=None, link=None, executable=False):
    info = tarfile.TarInfo(path)
    info.mtime = MTIME
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        info.mode = 0o777
        tar.addfile(info)
    else:
        info.size = len(data)
        info.mode = 0o755 if executable else 0o644
        tar.addfile(info, io.BytesIO(data))


def build(pkg, out_dir):
    paths = []
    for path, data, link, _, has_prefix in pkg.files:
        if link is not None:
            paths.append({"_path": path, "path_type": "softlink"})
            continue
        entry = {"_path": path, "path_type": "hardlink",
                 "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}
        if has_prefix:
            entry.update({"file_mode": "text", "prefix_placeholder": PLACEHOLDER})
        paths.append(entry)
    info = [
        ("info/index.json", json.dumps(pkg.index(), indent=2).encode()),
        ("info/paths.json", json.dumps({"paths": paths, "paths_version": 1}, indent=2).encode()),
        ("info/files", "".join(p + "\n" for p, *_ in pkg.files).encode()),
    ]
    if pkg.noarch == "python":
        info.append(("info/link.json", json.dumps(
            {"noarch": {"type": "python"}, "package_metadata_version": 1}).encode()))
    target = os.path.join(out_dir, pkg.subdir, pkg.file_name)
    with tarfile.open(target, "w:bz2", compresslevel=1, format=tarfile.GNU_FORMAT) as tar:
        for path, data in info:
            tar_add(tar, path, data)
        for path, data, link, executable, _ in pkg.files:
            tar_add(tar, path, data, link, executable)
    with open(target, "rb") as f:
        raw = f.read()
    record = pkg.index()
    record.update(sha256=hashlib.sha256(raw).hexdigest(), md5=hashlib.md5(raw).hexdigest(), size=len(raw))
    return pkg.subdir, pkg.file_name, record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--files", type=int, default=120)
    args = parser.parse_args()
    for sub in ("noarch", "linux-64"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)

    python = Pkg("python", "3.11.2", "linux-64", [])
    with open(PYTHON, "rb") as f:
        python.add("bin/python3.11", f.read(), executable=True)
    python.add("bin/python3", link="python3.11")
    python.add("bin/python", link="python3.11")
    for rel, src, is_link in stdlib_files():
        if is_link:
            python.add(rel, link=src)
        else:
            with open(src, "rb") as f:
                python.add(rel, f.read())
    python.add("lib/python3/dist-packages/conda-site-packages.pth", b"../../python3.11/site-packages\n")
    python.files.sort()
    packages = [python]
    for i in range(1, 10):
        name = f"pkg{i:02d}"
        depends = ["python 3.11.*"] + ([f"pkg{i - 1:02d}"] if i > 1 else [])
        noarch = i % 2 == 1
        pkg = Pkg(name, "1.0", "noarch" if noarch else "linux-64", depends, "python" if noarch else None)
        base = f"site-packages/{name}" if noarch else f"lib/python3.11/site-packages/{name}"
        pkg.add(f"{base}/__init__.py", f"NAME = {name!r}\n".encode())
        for j in range(args.files):
            pkg.add(f"{base}/mod{j:03d}.py", (f"# {name} module {j}\n" + "X = 1\n" * 340).encode())
        pkg.add(f"share/{name}/prefix.txt", f"built in {PLACEHOLDER}\n".encode(), has_prefix=True)
        packages.append(pkg)

    repodata = {"noarch": {}, "linux-64": {}}
    for pkg in packages:
        subdir, file_name, record = build(pkg, args.out)
        repodata[subdir][file_name] = record
    for subdir, records in repodata.items():
        with open(os.path.join(args.out, subdir, "repodata.json"), "w") as f:
            json.dump({"info": {"subdir": subdir}, "packages": records, "packages.conda": {},
                       "removed": [], "repodata_version": 1}, f, indent=1)
    print("pkg09 python")


if __name__ == "__main__":
    sys.exit(main())
