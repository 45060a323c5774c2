"""Worst-case cost of the fast prefix regex on long lines that do not match (issue 8).

Prints, per line length, the slowest of a set of prefixes x adversarial lines (runs of
non-ASCII letters, spaces, digits, separators...). Linear matching shows as a time that
grows with the length, not with its square. Not a test: figures go in docs/prefix.md.

    python bench/prefix_linear.py
"""

from __future__ import annotations

import time

from pgaudit_parse.prefix import KNOWN_PREFIXES, LinePrefix

SPECS = ("%m [%p] %-10u %d ", "%-10u@%d ", "%u%p ", "%u:%r:", "%-30t %-12u %5a ",
         *KNOWN_PREFIXES)
UNITS = ("é", "a", " ", "1", "a:", "é ", "(", "a(1", "@", "[1]", "é@", "-03:")


def worst(length: int) -> tuple[float, str, str]:
    slowest = (0.0, "", "")
    for spec in SPECS:
        prefix = LinePrefix(spec)
        for unit in UNITS:
            line = (unit * length)[:length]
            start = time.perf_counter()
            prefix.parse(line)
            elapsed = time.perf_counter() - start
            if elapsed > slowest[0]:
                slowest = (elapsed, spec, unit)
    return slowest


if __name__ == "__main__":
    for length in (10_000, 50_000, 200_000):
        elapsed, spec, unit = worst(length)
        print(f"{length:>8} chars: {elapsed * 1000:8.1f} ms  ({spec!r}, runs of {unit!r})")
