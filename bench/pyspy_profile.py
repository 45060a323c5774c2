"""Sample ``pgaudit-parse`` with py-spy and summarize where the time goes.

    pip install py-spy
    python bench/pyspy_profile.py bench/out/rds-50mb.log            # --format records
    python bench/pyspy_profile.py bench/out/rds-50mb.log --format events

Prints the share of samples per pipeline stage (inclusive) and the functions with the most
samples of their own. ``--raw FILE`` keeps py-spy's collapsed stacks (flamegraph input).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ["STAGES", "summarize", "frame_name"]

#: Pipeline stages by the function(s) that run each (inclusive time).
STAGES = (
    ("read lines (sources)", ("_read_plain (sources.py)",)),
    ("assemble entries (entries, prefix)", ("EntryAssembler.feed (entries.py)",)),
    ("  of which prefix regex split (prefix)", ("LinePrefix.parse (prefix.py)",)),
    ("build events (events, payload)", ("EventBuilder.build (events.py)",)),
    ("  of which pgAudit payload (payload)", ("parse_audit_payload (payload.py)",)),
    ("Guardium records (guardium)", ("RecordBuilder.add (guardium.py)",)),
    ("JSON output (sinks)", ("_dumps (sinks.py)", "_make_dumps.<locals>.dumps (sinks.py)")),
)

_LOCATION = re.compile(r" \((?:[^()]*/)?([^/()]+\.py|<string>):\d+\)")


def frame_name(frame: str) -> str:
    """``func (path/file.py:12)`` -> ``func (file.py)`` (dataclass inits merged).

    >>> frame_name("LinePrefix.parse (/x/pgaudit_parse/prefix.py:290)")
    'LinePrefix.parse (prefix.py)'
    """
    name = _LOCATION.sub(r" (\1)", frame)
    return re.sub(r"^__create_fn__\.<locals>\.", "dataclass ", name)


def summarize(raw: str, top: int = 20) -> str:
    """A text summary of py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for row in raw.splitlines():
        stack, _, count = row.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for name in set(frames):
            inclusive[name] += samples
    if not total:
        return "no samples"
    rows = [f"{total} samples", "", "| stage | share of samples (inclusive) |", "|---|---:|"]
    for label, functions in STAGES:
        samples = max(inclusive[function] for function in functions)
        rows.append(f"| {label} | {100 * samples / total:.1f}% |")
    rows += ["", "| function | own | inclusive |", "|---|---:|---:|"]
    for name, samples in own.most_common(top):
        rows.append(f"| `{name}` | {100 * samples / total:.1f}% "
                    f"| {100 * inclusive[name] / total:.1f}% |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--format", default="records", choices=("records", "events"))
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw or Path(tmp) / "raw.txt"
        command = ["py-spy", "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw),
                   "--", sys.executable, "-m", "pgaudit_parse", str(args.log), "--format",
                   args.format, "--output", os.devnull, "--quiet"]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        print(summarize(raw.read_text(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
