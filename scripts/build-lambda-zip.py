#!/usr/bin/env python3
"""Build the AWS Lambda deployment zip for ``pgaudit_parse.aws_lambda``.

The zip holds the ``pgaudit_parse`` package and its core dependencies (pyparsing,
python-dateutil and six), copied from the Python environment that runs this script, so
it builds offline. boto3 is left out: every Lambda Python runtime provides it.

    python3 scripts/build-lambda-zip.py [dist/pgaudit-parse-lambda.zip]

Then create the function with handler ``pgaudit_parse.aws_lambda.forward_handler`` (the
seed's scheduled forwarder) or ``pgaudit_parse.aws_lambda.subscription_handler`` (a
CloudWatch Logs subscription filter target), runtime Python 3.11 or later (the prefix
regex uses atomic groups).
"""

from __future__ import annotations

import importlib
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Import name -> what to copy: a package directory or a single module file.
DEPENDENCIES = ("pyparsing", "dateutil", "six")
_SKIP_DIRS = {"__pycache__"}


def _source_of(name: str) -> Path:
    module = importlib.import_module(name)
    path = Path(module.__file__ or "")
    return path.parent if path.name == "__init__.py" else path


def _add(archive: zipfile.ZipFile, path: Path, arcname: str) -> int:
    if path.is_file():
        archive.write(path, arcname)
        return 1
    count = 0
    for item in sorted(path.rglob("*")):
        if item.is_dir() or _SKIP_DIRS & set(item.relative_to(path).parts):
            continue
        if item.suffix in (".pyc", ".pyo"):
            continue
        archive.write(item, f"{arcname}/{item.relative_to(path).as_posix()}")
        count += 1
    return count


def build(out: Path) -> Path:
    """Write the zip to ``out``; returns its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, REPO / "pgaudit_parse", "pgaudit_parse")
        for name in DEPENDENCIES:
            source = _source_of(name)
            _add(archive, source, source.name)
    tmp.replace(out)
    return out


def main(argv: list[str]) -> int:
    """Command line: optional output path."""
    out = Path(argv[0]) if argv else REPO / "dist" / "pgaudit-parse-lambda.zip"
    path = build(out)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
