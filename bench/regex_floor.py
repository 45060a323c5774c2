"""The floor for any Python parser of these logs: one regex over every line, nothing else.

It reads the file the way ``pgaudit-parse`` does (UTF-8 text, split on LF only), matches
each line against one regex for the RDS prefix plus severity, and counts the matches. A
real parser must do at least this much work per line, so ``pgaudit-parse`` is measured as
a multiple of this loop's time (issue 4: within 5x).

    python bench/regex_floor.py bench/out/rds-200mb.log
"""

from __future__ import annotations

import re
import sys

__all__ = ["LINE", "count_matches"]

#: The RDS default prefix ``%t:%r:%u@%d:[%p]:``, the severity and the message.
LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+):([^:]*|[^(]*\(\d+\)):([^@]*)@([^:]*):"
    r"\[(\d+)\]:([A-Z0-9]+):  (.*)"
)


def count_matches(path: str) -> tuple[int, int]:
    """(lines, lines the regex matched) of one file.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
    ...     _ = f.write("2026-11-25 16:05:01 UTC::@:[7]:LOG:  hi\\n\\tmore\\n")
    >>> count_matches(f.name)
    (2, 1)
    >>> os.unlink(f.name)
    """
    match = LINE.match
    lines = matched = 0
    with open(path, encoding="utf-8", errors="backslashreplace", newline="\n") as f:
        for line in f:
            lines += 1
            if match(line) is not None:
                matched += 1
    return lines, matched


def main(argv: list[str] | None = None) -> int:
    """Print ``lines matched`` for the file given."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: regex_floor.py FILE", file=sys.stderr)
        return 2
    lines, matched = count_matches(args[0])
    print(lines, matched)
    return 0


if __name__ == "__main__":
    sys.exit(main())
