#!/usr/bin/env python3
"""Generated pure-Python wheels for the bench scripts (offline, no build tool).

    wheels.py OUT

Writes into OUT:
- pkg00..pkg19 1.0.0, each depending on the previous two (`Requires-Dist`),
  each with a ~20 KB module;
- leaf0..leaf9 1.0.0: one small module, no dependencies.
"""

import base64
import hashlib
import os
import sys
import zipfile


def wheel(out, name, module, requires=()):
    ver = "1.0.0"
    di = f"{name}-{ver}.dist-info"
    files = {
        f"{name}/__init__.py": module,
        f"{di}/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s\n"
        % (name, ver, "".join(f"Requires-Dist: {d}\n" for d in requires)),
        f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(f"{out}/{name}-{ver}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{di}/RECORD,,")
        z.writestr(f"{di}/RECORD", "\n".join(record) + "\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for i in range(20):
        deps = [f"pkg{j:02d}" for j in (i - 1, i - 2) if j >= 0]
        wheel(out, f"pkg{i:02d}", f"VALUE = {i}\n" + "# padding\n" * 2000, deps)
    for i in range(10):
        wheel(out, f"leaf{i}", f"VALUE = {i}\n")


if __name__ == "__main__":
    main()
