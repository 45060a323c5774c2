"""Measure what compiling the hot modules with mypyc buys, on a copy of the package.

Issue 12 allows compiled hot modules (with a pure-Python fallback) if they pay. This script
answers "do they?" without touching the checkout: it copies ``pgaudit_parse/`` into a
temporary directory, compiles :data:`MODULES` there with ``mypyc`` (shipped with mypy, in the
``test`` extra; needs a C compiler), then runs ``python -m pgaudit_parse --format F LOG`` in
the pure and the compiled copy, alternately, and prints CPU seconds (user + system of the
child, best of ``--repeat``) and whether both copies wrote the same bytes (SHA-256).

    python bench/try_mypyc.py bench/out/rds-20mb.log
    python bench/try_mypyc.py bench/out/rds-20mb.log --format records --repeat 5

``events.py`` is left out: mypyc drops the class keywords of its ``msgspec.Struct`` classes
(``kw_only=True``), so the module fails at import. One adaptation is made to the copy
(:data:`PATCH`): ``lines.slot_constructor`` builds objects with ``object.__new__``, which a
mypyc-compiled class refuses; the copy falls back to the class's own constructor there.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["MODULES", "PATCH", "patch_lines", "cpu_seconds"]

ROOT = Path(__file__).resolve().parent.parent

#: Every module a records or events run spends more than 1% of its samples in (py-spy),
#: except events.py (see the module text).
MODULES = (
    "prefix.py", "entries.py", "payload.py", "sessions.py", "parser.py", "sinks.py",
    "sources.py", "formats/executions.py", "formats/record_template.py", "sql/stage.py",
    "sql/redact.py", "sql/shape.py",
)

#: (text in lines.py, what the copy gets instead).
PATCH = (
    "def _slot_function(cls: type, construct: bool) -> Callable[..., Any]:\n",
    "def _slot_function(cls: type, construct: bool) -> Callable[..., Any]:\n"
    "    try:\n"
    "        object.__new__(cls)\n"
    "    except TypeError:  # a mypyc native class\n"
    "        if construct:\n"
    "            return cls\n"
    "        def fill(self: Any, *values: Any) -> None:\n"
    "            for f, v in zip(fields(cls), values):\n"
    "                object.__setattr__(self, f.name, v)\n"
    "        return fill\n",
)


def patch_lines(text: str) -> str:
    """``lines.py`` with :data:`PATCH` applied; refuses a text the patch no longer fits.

    >>> patch_lines("x")
    Traceback (most recent call last):
    ...
    ValueError: lines.py changed: bench/try_mypyc.py's PATCH no longer applies
    >>> "a mypyc native class" in patch_lines(PATCH[0])
    True
    """
    old, new = PATCH
    if text.count(old) != 1:
        raise ValueError("lines.py changed: bench/try_mypyc.py's PATCH no longer applies")
    return text.replace(old, new)


def cpu_seconds(command: list[str], cwd: Path) -> float:
    """User + system CPU seconds of one child process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _copy(dest: Path, log: Path) -> None:
    shutil.copytree(ROOT / "pgaudit_parse", dest / "pgaudit_parse",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    # The same relative path in both copies, so ``source`` is the same in the output.
    (dest / "log").symlink_to(log)


def main(argv: list[str] | None = None) -> int:
    """Compile, run both copies, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--format", action="append", dest="formats",
                        help="records, events, ocsf or ecs (repeatable; default records, events)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("mypyc") is None:
        print("try_mypyc: mypyc not found (pip install -e '.[test]')", file=sys.stderr)
        return 2
    log = args.log.resolve()
    formats = args.formats or ["records", "events"]
    with tempfile.TemporaryDirectory(prefix="try-mypyc-") as tmp:
        pure, compiled = Path(tmp, "pure"), Path(tmp, "compiled")
        for copy in (pure, compiled):
            copy.mkdir()
            _copy(copy, log)
        lines_py = compiled / "pgaudit_parse" / "lines.py"
        lines_py.write_text(patch_lines(lines_py.read_text()))
        modules = [f"pgaudit_parse/{m}" for m in MODULES]
        build = subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=compiled,
                               capture_output=True, text=True)
        if build.returncode != 0:
            print(f"try_mypyc: mypyc failed: {build.stdout[-2000:]}{build.stderr[-2000:]}",
                  file=sys.stderr)
            return 1
        env_note = f"{len(MODULES)} modules compiled; best of {args.repeat} CPU s"
        print(f"| format | pure CPU s | mypyc CPU s | change | same bytes |  ({env_note})")
        print("|---|---:|---:|---:|---|")
        for fmt in formats:
            best: dict[Path, float] = {}
            for _ in range(args.repeat):
                for copy in (pure, compiled):
                    command = [sys.executable, "-m", "pgaudit_parse", "--format", fmt, "log",
                               "-o", "out.jsonl", "--errors", "err.jsonl"]
                    seconds = cpu_seconds(command, copy)
                    best[copy] = min(best.get(copy, seconds), seconds)
            same = all(_digest(pure / name) == _digest(compiled / name)
                       for name in ("out.jsonl", "err.jsonl"))
            change = best[compiled] / best[pure] - 1.0
            print(f"| {fmt} | {best[pure]:.2f} | {best[compiled]:.2f} | {change:+.0%} | "
                  f"{'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
