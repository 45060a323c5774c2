"""Records come in the order of the log: a session's ``data`` and ``exception`` records
follow the order of the lines that start them, checked against a real PostgreSQL 15 +
pgAudit log and its csvlog (read with :mod:`csv` only).

The workload sends query strings of several statements whose last one fails (psql's
``\\;`` sends them as one query): pgAudit logs the statements that ran, then the server
logs the ERROR. No duration line follows a string that failed, so the statements that
ran before the error are complete when the error is logged; their records come before
the error's. It runs with ``log_min_duration_statement`` 0 (durations after every
string that completes) and -1 (none), and with ``log_min_error_statement`` at ``panic``
(an ERROR without its ``STATEMENT:`` line).

The answer key, per session in csvlog order: a ``data`` record at the first AUDIT line of
each (statement id, substatement id) and at a duration line of a string with no AUDIT
line, an ``exception`` record at each ERROR/FATAL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import guardium_real
import pytest
from csvlog import CsvLogRow, audit_fields
from guardium_real import stopped_logs
from pgserver import PgServer

pytestmark = pytest.mark.pg

PREFIX = "%t:%r:%u@%d:[%p]:"
BASE = {"shared_preload_libraries": "pgaudit", "pgaudit.log": "all",
        "log_line_prefix": PREFIX}
CONFIGS = {
    "durations": {"log_min_duration_statement": "0"},
    "no_durations": {"log_min_duration_statement": "-1"},
    "no_error_statement": {"log_min_duration_statement": "0",
                           "log_min_error_statement": "panic"},
}
SCRIPT = """
CREATE TABLE t (id int PRIMARY KEY);
SELECT 1 \\; INSERT INTO t VALUES (1) \\; SELECT 1/0;
SELECT 2;
INSERT INTO t VALUES (2) \\; UPDATE t SET id = 3 WHERE id = 2 \\; SELECT * FROM missing;
SELECT count(*) FROM t;
BEGIN;
INSERT INTO t VALUES (4);
INSERT INTO t VALUES (4);
ROLLBACK;
DO $$BEGIN PERFORM 1; RAISE EXCEPTION 'stop'; END$$;
SELECT 3;
"""


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def run(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[CsvLogRow]]]:
    out = tmp_path_factory.mktemp(f"order-{request.param}")
    with PgServer(settings=dict(BASE, **CONFIGS[request.param])) as pg:
        pg.run_sql(SCRIPT)
        pg.run_sql(SCRIPT.replace("CREATE TABLE t", "CREATE TABLE u").replace(" t ", " u "))
        yield stopped_logs(pg, out)


def _expected(rows: list[CsvLogRow]) -> dict[int, list[str]]:
    """Per pid, the kinds of records in the order of the lines that start them."""
    kinds: dict[int, list[str]] = {}
    seen: dict[int, set[tuple[str, str]]] = {}
    audited: set[int] = set()  # pids with an AUDIT line since their last string ended
    for row in rows:
        if row.backend_type != "client backend":
            continue
        pid = row.process_id
        if row.error_severity in ("ERROR", "FATAL", "PANIC"):
            kinds.setdefault(pid, []).append("exception")
            audited.discard(pid)
        elif row.message.startswith("AUDIT: "):
            fields = audit_fields(row.message)
            ids = (fields[1], fields[2])
            if ids not in seen.setdefault(pid, set()):
                seen[pid].add(ids)
                kinds.setdefault(pid, []).append("data")
            audited.add(pid)
        elif row.message.startswith("duration: "):
            # a string pgAudit did not log (ROLLBACK of an aborted transaction): its
            # duration line alone shows it ran
            if pid not in audited:
                kinds.setdefault(pid, []).append("data")
            audited.discard(pid)
    return kinds


def test_records_follow_the_order_of_the_log(run: tuple[Path, list[CsvLogRow]]) -> None:
    log, rows = run
    expected = _expected(rows)
    assert sum(kinds.count("exception") for kinds in expected.values()) >= 8
    records = guardium_real.records_of(log, PREFIX, "--values", "postgres")
    got: dict[int, list[str]] = {}
    for record in records:
        got.setdefault(int(record["sessionId"]), []).append(
            "data" if record["data"] else "exception")
    assert got == expected
