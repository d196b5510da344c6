#!/usr/bin/env python3
"""Regenerate data/python-build-standalone.json, beep-python's built-in
download catalog, from uv's list of python-build-standalone releases.

    scripts/refresh-catalog.py SOURCE [--out FILE] [--note TEXT]

SOURCE is uv's `crates/uv-python/download-metadata.json`: a local path, a
`file://` URL or an `https://` URL, for instance
https://raw.githubusercontent.com/astral-sh/uv/<commit>/crates/uv-python/download-metadata.json
(pin a commit, and name it with --note, so that the catalog says where it
came from).

Kept: CPython, the default build (not free-threaded, not debug), the generic
architecture (not x86_64_v2..v4), on the platforms in PLATFORMS, in the
`install_only_stripped` flavour, or `install_only` where a release has no
stripped one. Older releases that only ship full archives (a different
layout) are left out. A maintainer runs this by hand and commits the result;
no test runs it.

Standard library only.
"""

import argparse
import json
import re
import sys
import urllib.request

# Bump only together with the reader in src/provision/catalog.rs.
FORMAT_VERSION = 1

# The platforms beep-python provisions, as (os, arch, libc).
PLATFORMS = {
    ("linux", "x86_64", "gnu"),
    ("linux", "x86_64", "musl"),
    ("linux", "aarch64", "gnu"),
    ("linux", "aarch64", "musl"),
    ("darwin", "x86_64", "none"),
    ("darwin", "aarch64", "none"),
    ("windows", "x86_64", "none"),
    ("windows", "aarch64", "none"),
}

# Best first.
FLAVOURS = ("install_only_stripped", "install_only")


def read(source):
    if source.startswith(("https://", "http://", "file://")):
        with urllib.request.urlopen(source) as response:
            return json.load(response)
    with open(source, encoding="utf-8") as file:
        return json.load(file)


def flavour(url):
    """The rank in FLAVOURS of the asset's flavour (0 is best), or None."""
    name = url.rsplit("/", 1)[-1]
    for rank, wanted in enumerate(FLAVOURS):
        if name.endswith(f"-{wanted}.tar.gz"):
            return rank
    return None


def arch_of(entry):
    """The architecture, or None for a micro-architecture variant."""
    arch = entry["arch"]
    # Older metadata has a plain string; newer {"family", "variant"}.
    if isinstance(arch, dict):
        if arch.get("variant"):
            return None
        return arch["family"]
    return arch


def build_of(entry):
    if entry.get("build"):
        return str(entry["build"])
    found = re.search(r"/download/(\d+)/", entry["url"])
    if not found:
        sys.exit(f"no build date in {entry['url']}")
    return found.group(1)


def convert(metadata):
    """Catalog entries, in the order of the source (newest first there)."""
    chosen = {}
    for entry in metadata.values():
        if entry.get("name") != "cpython":
            continue
        if entry.get("variant") not in (None, "", "default"):
            continue
        arch = arch_of(entry)
        platform = (entry["os"], arch, entry["libc"])
        if arch is None or platform not in PLATFORMS:
            continue
        rank = flavour(entry["url"])
        if rank is None:
            continue
        version = f"{entry['major']}.{entry['minor']}.{entry['patch']}{entry.get('prerelease') or ''}"
        download = {
            "version": version,
            "os": entry["os"],
            "arch": arch,
            "libc": entry["libc"],
            "build": build_of(entry),
            "url": entry["url"],
            "sha256": entry["sha256"],
        }
        key = (version, *platform)
        best = chosen.get(key)
        if best is None or (rank, -int(download["build"])) < best[0]:
            # Dicts keep insertion order: a replacement keeps the first
            # one's place, so the output follows the source's order.
            chosen[key] = ((rank, -int(download["build"])), download)
    return [download for _, download in chosen.values()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="uv's download-metadata.json: a path or a URL")
    parser.add_argument(
        "--out",
        default="data/python-build-standalone.json",
        help="where to write the catalog (default: %(default)s)",
    )
    parser.add_argument(
        "--note",
        help="where SOURCE came from, for the catalog's `source` field "
        "(default: SOURCE itself); name the uv commit",
    )
    args = parser.parse_args()

    downloads = convert(read(args.source))
    if not downloads:
        sys.exit(f"no usable downloads in {args.source}; has uv's format changed?")
    catalog = {
        "version": FORMAT_VERSION,
        "source": "python-build-standalone release assets (install_only_stripped, "
        f"else install_only), as listed in {args.note or args.source}",
        "count": len(downloads),
        "downloads": downloads,
    }
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(catalog, file, indent=1)
        file.write("\n")
    print(f"wrote {len(downloads)} downloads to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
