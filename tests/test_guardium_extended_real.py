"""Extended-protocol executions (and a pipeline with ``pgaudit.log_rows``), checked against a real
PostgreSQL 15 + pgAudit log and its csvlog (read with :mod:`csv` only).

What the real server writes for a SELECT run through Parse/Bind/Execute: the portal starts
at Bind, so pgAudit's line comes *between* the ``parse`` and the ``bind`` duration, and
*before* ``log_statement``'s ``execute <name>:`` line; for an UPDATE it comes after the
``execute`` line (the executor starts at Execute). Either way it is one execution. The
answer key, per session:

* one ``data`` record per (statement id, substatement id) of the AUDIT lines (every
  statement of the workload is audited);
* the records' ``executionTime`` add up to the session's durations, and every execution
  carries one (each has its own parse/bind/execute lines).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import guardium_real
import pytest
from csvlog import CsvLogRow, audit_fields
from guardium_real import stopped_logs
from pgserver import PgServer

pytestmark = pytest.mark.pg

PREFIX = "%t:%r:%u@%d:[%p]:"
BASE = {"shared_preload_libraries": "pgaudit", "pgaudit.log": "all",
        "log_line_prefix": PREFIX}
CONFIGS = {"min_duration": {"log_min_duration_statement": "0"},
           "statement_and_min_duration": {"log_statement": "all",
                                          "log_min_duration_statement": "0"},
           "statement": {"log_statement": "all"},
           # pgAudit writes a SELECT's line when its portal closes: in a pipeline, after
           # the next statement's parse
           "rows_pipeline": {"log_statement": "all", "log_min_duration_statement": "0",
                             "pgaudit.log_rows": "on"}}
SETUP = "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (5, 'a');"
PGBENCH = """
\\set a 5
SELECT v FROM t WHERE id = :a;
UPDATE t SET v = 'b' WHERE id = :a;
SELECT v FROM t WHERE id = :a;
SELECT count(*) FROM t;
"""


@pytest.fixture(scope="module",
                params=[(c, m) for c in sorted(CONFIGS) for m in ("extended", "prepared")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def run(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[CsvLogRow]]]:
    config, mode = request.param
    out = tmp_path_factory.mktemp(f"extended-{config}-{mode}")
    os.chmod(out, 0o755)
    script = out / "script.sql"
    script.write_text(PGBENCH.replace("\\set a 5\n", "\\set a 5\n\\startpipeline\n")
                      + "\\endpipeline\n" if config == "rows_pipeline" else PGBENCH)
    os.chmod(script, 0o644)
    with PgServer(settings=dict(BASE, **CONFIGS[config])) as pg:
        pg.run_sql(SETUP)
        done = pg.run_client(["pgbench", "-n", "-t", "2", "-f", str(script), "-M", mode,
                              "-h", pg.host_arg(None), "-p", str(pg.port), "-U", "postgres",
                              "postgres"])
        assert done.returncode == 0, done.stderr
        log, rows = stopped_logs(pg, out)
    yield log, rows


def records_of(path: Path) -> list[dict[str, Any]]:
    return guardium_real.records_of(path, PREFIX, "--values", "postgres")


def test_an_extended_protocol_execution_is_one_record_with_all_its_time(
        run: tuple[Path, list[CsvLogRow]]) -> None:
    log, rows = run
    executions: dict[int, set[tuple[str, str]]] = {}
    micros: Counter[int] = Counter()
    for row in rows:
        if row.backend_type != "client backend" or row.database_name is None:
            continue
        if row.message.startswith("AUDIT: "):
            fields = audit_fields(row.message)
            executions.setdefault(row.process_id, set()).add((fields[1], fields[2]))
        elif row.message.startswith("duration: "):
            micros[row.process_id] += int(float(row.message.split()[1]) * 1000)
    timed = any(row.message.startswith("duration: ") for row in rows)
    records = [r for r in records_of(log) if r["data"]]
    assert len(executions) == 2  # the setup's psql and pgbench
    for pid, ids in executions.items():
        mine = [r for r in records if r["sessionId"] == str(pid)]
        assert len(mine) == len(ids), [r["data"]["originalSqlCommand"] for r in mine]
        if timed:
            assert all(r["executionTime"] is not None for r in mine)
            # each phase is truncated to whole microseconds on its own, as the key is
            assert sum(r["executionTime"] for r in mine) == micros[pid]
