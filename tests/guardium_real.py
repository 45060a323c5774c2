"""Shared steps of the Guardium tests against a real PostgreSQL 15 + pgAudit: stop the
server and keep its logs (the stderr log to parse, the csvlog rows as the answer key), and
run the CLI on a log to get its records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from csvlog import CsvLogRow, read_csvlog
from pgserver import PgServer

__all__ = ["stopped_logs", "records_of"]


def stopped_logs(pg: PgServer, out: Path) -> tuple[Path, list[CsvLogRow]]:
    """Stop ``pg`` and return its stderr log, copied to ``out/postgresql.log``, and the rows
    of its csvlog."""
    pg.stop()
    log = out / "postgresql.log"
    log.write_bytes(pg.stderr_log_path.read_bytes())
    return log, list(read_csvlog(pg.csv_log_path))


def records_of(path: Path, prefix: str, *options: str) -> list[dict[str, Any]]:
    """The Guardium records ``pgaudit-parse --prefix PREFIX [OPTIONS] PATH`` writes (it must
    exit 0)."""
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--prefix", prefix,
                           *options, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]
