#!/usr/bin/env python3
"""Interleaved wall-clock timing of shell commands, for the bench scripts.

    timing.py RUNS NAME PREPARE COMMAND [NAME PREPARE COMMAND]...

Each round runs every case once, in the order given (so that a machine
whose speed drifts slows all cases alike): PREPARE untimed, then COMMAND
timed with time.perf_counter(). Both go through `bash -c`, so each case
carries the same few milliseconds of shell start-up. A case that fails
stops the script with its output. One round is run first as a warm-up and
not counted.

Prints one line per case: `NAME MEDIAN MIN MAX` in milliseconds.
"""

import statistics
import subprocess
import sys
import time


def run(command, timed):
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        what = "command" if timed else "preparation"
        sys.stderr.write(f"{what} failed ({done.returncode}): {command}\n{done.stdout.decode(errors='replace')}\n")
        sys.exit(1)
    return elapsed


def main():
    runs = int(sys.argv[1])
    rest = sys.argv[2:]
    if runs < 1 or not rest or len(rest) % 3:
        sys.exit(__doc__)
    cases = [rest[i : i + 3] for i in range(0, len(rest), 3)]
    times = {name: [] for name, _, _ in cases}
    for round_ in range(runs + 1):
        for name, prepare, command in cases:
            run(prepare, timed=False)
            elapsed = run(command, timed=True)
            if round_ > 0:
                times[name].append(elapsed)
    for name, _, _ in cases:
        t = times[name]
        print(f"{name} {statistics.median(t):.1f} {min(t):.1f} {max(t):.1f}")


main()
