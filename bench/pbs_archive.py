#!/usr/bin/env python3
"""Builds a python-build-standalone-like `install_only` tar.gz from Debian's
python3.11, for bench/provision.sh, and prints its sha256 on stdout.

    bench/pbs_archive.py OUT.tar.gz [--size-mb 30]

Layout, as python-build-standalone ships it: everything under `python/`;
`bin/python3.11` and a `bin/python3` symlink (no `bin/python`); the standard
library in `lib/python3.11` with `lib-dynload` and `__pycache__` (the
non-stripped archives are about this size); an empty `site-packages`; the
pip and setuptools wheels in `ensurepip/_bundled`. Debian's absolute
symlinks (`sitecustomize.py -> /etc/...`) and `EXTERNALLY-MANAGED` are left
out, as are the 25 MB `config-*` folder and `test/`.

`lib/libpython3.11.so.1.0` comes from Debian's libpython3.11 when present.
If that is smaller than --size-mb compressed, it is padded with packages from
`/usr/lib/python3/dist-packages` (into `site-packages`), then with the
`config-*` folder, until it is not, so that the download and the extraction
have a realistic amount of work.

Entries are sorted and times and owners fixed, so the same machine always
builds the same bytes.
"""

import argparse
import glob
import gzip
import hashlib
import io
import os
import sys
import tarfile

PYTHON = "/usr/bin/python3.11"
STDLIB = "/usr/lib/python3.11"
WHEELS = "/usr/share/python-wheels"
PADDING = "/usr/lib/python3/dist-packages"
# In the multiarch folder: /usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu.
LIBPYTHON = next(iter(sorted(glob.glob("/usr/lib/*/libpython3.11.so.1.0"))), "")
MTIME = 1_700_000_000
SKIP_TOP = {"test", "idlelib", "tkinter", "turtledemo", "EXTERNALLY-MANAGED", "sitecustomize.py"}


class Counting(io.RawIOBase):
    """A file wrapper that counts the compressed bytes written."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def writable(self):
        return True

    def write(self, b):
        self.count += len(b)
        return self.raw.write(b)


def info(name, path=None, kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = kind, MTIME, 0, 0, "", ""
    ti.linkname = link
    if kind == tarfile.DIRTYPE:
        ti.mode = 0o755
    elif kind == tarfile.SYMTYPE:
        ti.mode = 0o777
    else:
        st = os.stat(path)
        ti.size = st.st_size
        ti.mode = 0o755 if st.st_mode & 0o111 else 0o644
    return ti


def add(tar, name, path=None, kind=tarfile.REGTYPE, link=""):
    ti = info(name, path, kind, link)
    if kind == tarfile.REGTYPE:
        with open(path, "rb") as f:
            tar.addfile(ti, f)
    else:
        tar.addfile(ti)


def inside(src, folder, target):
    """Whether a symlink in `folder` to `target` stays inside `src`: links
    out of the copied tree (absolute ones, or Debian's `config-*/libpython3.11.so
    -> ../../x86_64-linux-gnu/...`) would dangle in the archive, so they are
    left out."""
    if os.path.isabs(target):
        return False
    resolved = os.path.normpath(os.path.join(folder, target))
    return os.path.commonpath([resolved, src]) == src


def add_tree(tar, src, dest, skip_top=(), full=lambda: False):
    """Adds src's content as dest/..., sorted, folders first, until full()."""
    for root, dirs, files in os.walk(src):
        if full():
            return
        rel = os.path.relpath(root, src)
        if rel == ".":
            dirs[:] = [d for d in dirs if d not in skip_top and not d.startswith("config-")]
            files = [f for f in files if f not in skip_top]
        dirs.sort()
        base = dest if rel == "." else f"{dest}/{rel}"
        for d in list(dirs):
            path = os.path.join(root, d)
            if os.path.islink(path):
                dirs.remove(d)
                target = os.readlink(path)
                if inside(src, root, target):
                    add(tar, f"{base}/{d}", kind=tarfile.SYMTYPE, link=target)
            else:
                add(tar, f"{base}/{d}", kind=tarfile.DIRTYPE)
        for f in sorted(files):
            if full():
                return
            path = os.path.join(root, f)
            if os.path.islink(path):
                target = os.readlink(path)
                if inside(src, root, target):
                    add(tar, f"{base}/{f}", kind=tarfile.SYMTYPE, link=target)
            elif os.path.isfile(path):
                add(tar, f"{base}/{f}", path)


def padding(lib):
    """Folders to add, in order, until the archive is big enough: the
    packages of Debian's dist-packages, then the `config-*` folder (which the
    non-stripped python-build-standalone archives do ship)."""
    if os.path.isdir(PADDING):
        for package in sorted(os.listdir(PADDING)):
            path = os.path.join(PADDING, package)
            if os.path.isdir(path) and not os.path.islink(path):
                yield path, f"{lib}/site-packages/{package}"
    for name in sorted(os.listdir(STDLIB)):
        if name.startswith("config-"):
            yield os.path.join(STDLIB, name), f"{lib}/{name}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--size-mb", type=float, default=30.0)
    parser.add_argument("--level", type=int, default=6, help="gzip level (python-build-standalone uses 9)")
    args = parser.parse_args()
    for needed in (PYTHON, STDLIB):
        if not os.path.exists(needed):
            sys.exit(f"pbs_archive.py: `{needed}` is missing (the archive is built from Debian's python3.11)")
    want = int(args.size_mb * 1e6)
    lib = "python/lib/python3.11"

    with open(args.out, "wb") as raw:
        counting = Counting(raw)
        # mtime=0: no timestamp in the gzip header, for reproducible bytes.
        gz = gzip.GzipFile(fileobj=counting, mode="wb", compresslevel=args.level, mtime=0, filename="")
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for d in ("python", "python/bin"):
                add(tar, d, kind=tarfile.DIRTYPE)
            add(tar, "python/bin/python3.11", PYTHON)
            add(tar, "python/bin/python3", kind=tarfile.SYMTYPE, link="python3.11")
            add(tar, "python/lib", kind=tarfile.DIRTYPE)
            add(tar, lib, kind=tarfile.DIRTYPE)
            add_tree(tar, STDLIB, lib, SKIP_TOP)
            add(tar, f"{lib}/ensurepip/_bundled", kind=tarfile.DIRTYPE)
            for wheel in sorted(os.listdir(WHEELS)) if os.path.isdir(WHEELS) else []:
                if wheel.endswith(".whl") and wheel.startswith(("pip-", "setuptools-")):
                    add(tar, f"{lib}/ensurepip/_bundled/{wheel}", os.path.join(WHEELS, wheel))
            add(tar, f"{lib}/site-packages", kind=tarfile.DIRTYPE)
            if LIBPYTHON:
                add(tar, "python/lib/libpython3.11.so.1.0", LIBPYTHON)
                add(tar, "python/lib/libpython3.11.so", kind=tarfile.SYMTYPE, link="libpython3.11.so.1.0")
            # The count lags the input by what the compressor holds (well
            # under a megabyte): close enough to stop at.
            full = lambda: counting.count >= want
            for source, dest in padding(lib):
                if full():
                    break
                add(tar, dest, kind=tarfile.DIRTYPE)
                add_tree(tar, source, dest, full=full)
        gz.close()

    digest = hashlib.sha256()
    with open(args.out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    size = os.path.getsize(args.out)
    print(f"pbs_archive.py: {args.out}: {size / 1e6:.1f} MB", file=sys.stderr)
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
