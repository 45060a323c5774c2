"""SQL-level PREPARE / EXECUTE, checked against a real PostgreSQL 15 + pgAudit log and its
csvlog (read with :mod:`csv` only), with ``pgaudit.log_parameter`` (one parameter of
300,000 characters, one with a comma, quotes and a newline), ``log_statement_once`` and
``log_relation`` (later lines say ``<previously logged>``) and ``log_rows``.

What the real server writes for ``EXECUTE p(...)``: the ``statement:`` line and the
``duration: ... statement:`` line show ``EXECUTE p(...)`` with ``DETAIL: prepare: PREPARE
p ... AS ...``, while pgAudit's lines show the PREPARE statement's text. Both are the same
execution. The answer key:

* one ``data`` record per (session, statement id, substatement id) of the AUDIT lines, plus
  one per query string that only ``log_statement`` or a duration line showed (no AUDIT
  line, no ERROR);
* each query string's duration on the record of the statement it ran.
"""

from __future__ import annotations

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
        "pgaudit.log_parameter": "on", "pgaudit.log_statement_once": "on",
        "pgaudit.log_relation": "on", "pgaudit.log_rows": "on", "log_line_prefix": PREFIX,
        "log_min_duration_statement": "0"}
CONFIGS = {"min_duration": {}, "statement_and_min_duration": {"log_statement": "all"},
           "statement": {"log_statement": "all", "log_min_duration_statement": "-1"}}
SCRIPT = """
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE TABLE u (id int, w text);
INSERT INTO t VALUES (5, 'a');
PREPARE p(int, text) AS INSERT INTO u SELECT $1, $2 FROM t WHERE id = 5;
EXECUTE p(1, repeat('x', 300000));
EXECUTE p(2, 'a,"b"' || chr(10) || 'c');
PREPARE q AS SELECT count(*) FROM u JOIN t ON t.id = 5;
EXECUTE q;
EXECUTE q;
SET work_mem = '8MB';
SELECT 1;
"""


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def run(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[CsvLogRow]]]:
    out = tmp_path_factory.mktemp(f"prepared-{request.param}")
    with PgServer(settings=dict(BASE, **CONFIGS[request.param])) as pg:
        pg.run_sql(SCRIPT)
        log, rows = stopped_logs(pg, out)
    yield log, rows


def records_of(path: Path) -> list[dict[str, Any]]:
    return guardium_real.records_of(path, PREFIX, "--values", "postgres")


def _key(rows: list[CsvLogRow]) -> tuple[Counter[int], Counter[int]]:
    """Data records per session, and how many of them carry a time."""
    data: Counter[int] = Counter()
    timed: Counter[int] = Counter()
    ids: dict[int, set[tuple[str, str]]] = {}
    shown: dict[int, str | None] = {}  # what showed the session's current string
    for row in rows:
        if row.backend_type != "client backend":
            continue
        pid = row.process_id
        if row.message.startswith("AUDIT: "):
            fields = audit_fields(row.message)
            ids.setdefault(pid, set()).add((fields[1], fields[2]))
            shown[pid] = "audit"
        elif row.message.startswith("statement: "):
            if shown.get(pid) == "statement":
                data[pid] += 1  # the previous string: only log_statement showed it
            shown[pid] = "statement"
        elif row.message.startswith("duration: "):
            timed[pid] += 1
            if shown.get(pid) in (None, "statement"):
                data[pid] += 1  # no AUDIT line: the duration (or statement) line's own
            shown[pid] = None
    for pid in ids.keys() | shown.keys():
        data[pid] += len(ids.get(pid, ())) + (shown.get(pid) == "statement")
    return data, timed


def test_an_sql_execute_is_one_record_with_its_time(run: tuple[Path, list[CsvLogRow]]) -> None:
    log, rows = run
    expected_data, expected_timed = _key(rows)
    records = records_of(log)
    data = Counter(int(r["sessionId"]) for r in records if r["data"])
    timed = Counter(int(r["sessionId"]) for r in records
                    if r["data"] and r["executionTime"] is not None)
    assert +data == +expected_data
    assert +timed == +expected_timed
    inserts = [r for r in records if r["data"]
               and "INSERT INTO u" in r["data"]["originalSqlCommand"]]
    assert [r["recordsAffected"] for r in inserts] == [0, 1, 1]  # PREPARE, EXECUTE x2
    if any(row.message.startswith("duration: ") for row in rows):
        assert all(r["executionTime"] is not None for r in inserts)
