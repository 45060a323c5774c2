"""Records of statements that fail, are cancelled or are killed, checked against a real
PostgreSQL 15 + pgAudit log and its csvlog (read with :mod:`csv` only).

The workload: an error inside a transaction block, statements in the aborted transaction
(SQLSTATE 25P02) and its COMMIT (which rolls back), ``statement_timeout`` (57014),
``pg_terminate_backend`` mid-statement (FATAL 57P01), ``idle_session_timeout`` (FATAL
57P05, no statement), object auditing (``pgaudit.role``)
together with session auditing of the same statement. It runs with and without
``log_min_error_statement`` (``panic``: an ERROR has no ``STATEMENT:`` line). The answer key:

* one ``data`` record per (session, statement id, substatement id) of the AUDIT lines
  (SESSION and OBJECT lines of one statement are one record: they share the ids);
* one per ``log_statement`` line that neither an AUDIT line nor an ERROR/FATAL of its
  session followed (it ran without pgAudit logging it: SET, BEGIN, COMMIT...);
* one ``exception`` record per ERROR/FATAL: a statement that failed before pgAudit logged
  it gives no ``data`` record, whether or not the server wrote the ``STATEMENT:`` line.
"""

from __future__ import annotations

import threading
import time
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
BASE = {"shared_preload_libraries": "pgaudit", "pgaudit.log": "all,-misc",
        "pgaudit.role": "auditor", "log_line_prefix": PREFIX, "log_statement": "all",
        "log_min_duration_statement": "0"}
CONFIGS = {"error_statement": {}, "no_error_statement": {"log_min_error_statement": "panic"},
           # no durations: a log_statement line alone shows a statement that pgAudit skips
           "no_error_statement_no_duration": {"log_min_error_statement": "panic",
                                              "log_min_duration_statement": "-1"}}
SETUP = """
CREATE ROLE auditor;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (5, 'a');
GRANT SELECT, UPDATE ON t TO auditor;
"""
SCRIPT = """
BEGIN;
UPDATE t SET v = 'b' WHERE id = 5;
SELECT 1/0;
SELECT v FROM t;
UPDATE t SET v = 'c' WHERE id = 5;
COMMIT;
BEGIN;
SELECT 2/0;
ROLLBACK;
SET statement_timeout = 100;
SELECT pg_sleep(1), v FROM t;
RESET statement_timeout;
SELECT * FROM missing;
SELECT v FROM t WHERE id = 5;
"""
VICTIM = "SELECT pg_sleep(20), v FROM t"


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def run(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[CsvLogRow]]]:
    out = tmp_path_factory.mktemp(f"failures-{request.param}")
    with PgServer(settings=dict(BASE, **CONFIGS[request.param])) as pg:
        pg.run_sql(SETUP)
        pg.run_sql(SCRIPT)
        victim = threading.Thread(target=pg.run_sql, args=(VICTIM + ";",),
                                  kwargs={"check": False})  # psql: connection lost
        victim.start()
        for _ in range(100):
            killed = pg.run_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                f"WHERE query = '{VICTIM};';").stdout
            if " t" in killed:
                break
            time.sleep(0.1)
        victim.join()
        # a FATAL of an idle session (no statement failed): what it ran keeps its records
        pg.run_sql("SET idle_session_timeout = '300ms';\nSET work_mem = '8MB';\n"
                   "\\! sleep 1\n", check=False)
        log, rows = stopped_logs(pg, out)
    yield log, rows


def records_of(path: Path) -> list[dict[str, Any]]:
    return guardium_real.records_of(path, PREFIX, "--values", "postgres")


def test_failed_statements_give_one_exception_and_no_data_record(
        run: tuple[Path, list[CsvLogRow]]) -> None:
    log, rows = run
    expected_data: Counter[int] = Counter()
    expected_errors: Counter[int] = Counter()
    sessions: dict[str, list[CsvLogRow]] = {}
    for row in rows:
        if row.backend_type == "client backend":
            sessions.setdefault(row.session_id, []).append(row)
    for session in sessions.values():
        pid = session[0].process_id
        executions: set[tuple[str, str]] = set()
        query_open = False
        for row in session:
            if row.error_severity in ("ERROR", "FATAL", "PANIC"):
                expected_errors[pid] += 1
                # an ERROR ends the statement running; a FATAL the one it shows (if idle,
                # none: the statement before it completed)
                query_open = query_open and row.error_severity == "FATAL" and not row.query
            elif row.message.startswith("AUDIT: "):
                fields = audit_fields(row.message)
                executions.add((fields[1], fields[2]))
                query_open = False
            elif row.message.startswith("statement: "):
                expected_data[pid] += query_open
                query_open = True
        expected_data[pid] += len(executions) + query_open
    records = records_of(log)
    data = Counter(int(r["sessionId"]) for r in records if r["data"])
    errors = Counter(int(r["sessionId"]) for r in records if r["exception"])
    codes = Counter(row.sql_state_code for row in rows if row.error_severity != "LOG")
    assert {"22012", "25P02", "57014", "57P01", "42P01", "57P05"} <= set(codes)
    assert +errors == +expected_errors
    assert +data == +expected_data
    failed = {"SELECT 1/0;", "SELECT 2/0;", "SELECT v FROM t;", "SELECT * FROM missing;",
              "UPDATE t SET v = 'c' WHERE id = 5;"}
    assert not failed & {r["data"]["originalSqlCommand"] for r in records if r["data"]}
