"""Which record a query string's duration goes on, and records of a string that fails in a
later statement, checked against a real PostgreSQL 15 + pgAudit log and its csvlog.

What the real server writes (PostgreSQL 15, simple query protocol): **one** duration line
per query string, after its last statement ran (not one per statement of a
multi-statement string), and none for a string that failed. pgAudit gives every statement
of a string its own statement id and every statement inside a DO block or a function the
statement id of its top-level statement with a higher substatement id. So the answer key,
read from the csvlog with :mod:`csv` only, is:

* a duration times the **top-level** execution (lowest substatement id) of the latest
  statement id logged before it in its session: a DO block or a function call, not their
  last sub-statement; the last statement of a multi-statement string (each earlier one has
  ended when the next one began, and has no duration of its own);
* every (statement id, substatement id) pgAudit logged is one ``data`` record, also in a
  string that failed in a later statement; every ERROR one ``exception`` record.

A foreign-key check, a cascade and a trigger's statements are sub-statements too (with
``pgaudit.log_rows`` they are logged *before* the statement that ran them). The key knows
the top-level statements from the script itself.

The same workload runs under each way of logging durations (``log_duration``, which writes
them without SQL; ``log_min_duration_statement = 0``, which writes the SQL unless
``log_statement`` did): the rule does not depend on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import guardium_real
import pytest
from csvlog import CsvLogRow, audit_fields, other_parts
from guardium_real import stopped_logs
from pgserver import PgServer

pytestmark = pytest.mark.pg

PREFIX = "%t:%r:%u@%d:[%p]:"
BASE = {"shared_preload_libraries": "pgaudit", "pgaudit.log": "all",
        "log_line_prefix": PREFIX}
CONFIGS = {
    "log_duration": {"log_duration": "on"},
    # with log_rows a SELECT/DML is logged after the statements it ran (checks, triggers)
    "log_duration_rows": {"log_duration": "on", "pgaudit.log_rows": "on"},
    "min_duration": {"log_min_duration_statement": "0"},
    "statement_and_min_duration": {"log_statement": "all", "log_min_duration_statement": "0"},
    "statement_and_duration": {"log_statement": "all", "log_duration": "on",
                               "pgaudit.log_rows": "on", "pgaudit.log_relation": "on"},
}
SETUP = """
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE FUNCTION f(n int) RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO t VALUES (n, 'x'); UPDATE t SET v = 'y' WHERE id = n; RETURN n; END $$;
CREATE TABLE c (id int REFERENCES t (id) ON DELETE CASCADE);
CREATE TABLE note (x text);
CREATE FUNCTION noted() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO note VALUES ('n'); RETURN NEW; END $$;
CREATE TRIGGER noted AFTER INSERT ON c FOR EACH ROW EXECUTE FUNCTION noted();
CREATE PROCEDURE pr() LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO t VALUES (40, 'p'); COMMIT; UPDATE t SET v = 'q' WHERE id = 40; END $$;
"""
#: ``\\;`` makes psql send several statements as one query string (the server shows
#: `` ; `` between them; no statement here holds that text itself).
SCRIPT = """
SELECT f(5);
DO $$ BEGIN PERFORM 1; INSERT INTO t VALUES (20, 'z'); DELETE FROM t WHERE id = 20; END $$;
SELECT 1 \\; UPDATE t SET v = 'q' WHERE id = 5 \\; SELECT 2;
SELECT 3 \\; SELECT f(6);
UPDATE t SET v = 'w' WHERE id = 6 \\; DO $$ BEGIN PERFORM 4; DELETE FROM t WHERE id = 6; END $$;
SELECT 5 \\; UPDATE t SET v = 'r' WHERE id = 5 \\; SELECT 1/0;
INSERT INTO t VALUES (7, 'a') \\; SELECT 6 \\; SELECT 1/0 \\; SELECT 7;
SELECT 8;
INSERT INTO c VALUES (5);
DELETE FROM t WHERE id = 5;
CALL pr();
SELECT 9 \\; INSERT INTO c VALUES (40);
"""
#: The top-level statements of the script (what a record of a query string's time shows)
TOP_LEVEL = {part.strip().rstrip(";").strip() for line in SCRIPT.splitlines()
             for part in line.split("\\;") if part.strip()}
SEPARATOR = " ; "


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def run(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[CsvLogRow]]]:
    out = tmp_path_factory.mktemp(f"strings-{request.param}")
    with PgServer(settings=dict(BASE, **CONFIGS[request.param])) as pg:
        pg.run_sql(SETUP)
        pg.run_sql(SCRIPT)
        log, rows = stopped_logs(pg, out)
    yield log, rows


def records_of(path: Path) -> list[dict[str, Any]]:
    return guardium_real.records_of(path, PREFIX, "--values", "postgres")


def _text(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def _statement_of(fields: list[str], first_id: dict[str, int]) -> str:
    """The statement of an AUDIT line: the string's statement whose turn its id is (every
    statement of these strings is audited, so ids count the string's statements)."""
    whole = fields[7]
    if SEPARATOR not in whole:
        return _text(whole)
    parts = whole.split(SEPARATOR)
    index = int(fields[1]) - first_id.setdefault(whole, int(fields[1]))
    return _text(parts[index])


def _key(rows: list[CsvLogRow]) -> tuple[Counter[tuple[int, str, int]], Counter[int],
                                          Counter[int]]:
    """(session, SQL, micros) of the timed executions; data and exception records per
    session."""
    timed: Counter[tuple[int, str, int]] = Counter()
    data: Counter[int] = Counter()
    errors: Counter[int] = Counter()
    sessions: dict[str, list[CsvLogRow]] = {}
    for row in rows:
        if row.backend_type == "client backend":
            sessions.setdefault(row.session_id, []).append(row)
    for session in sessions.values():
        pid = session[0].process_id
        executions: set[tuple[str, str]] = set()
        first_id: dict[str, int] = {}
        latest: dict[str, str] = {}  # the latest statement id's top-level statement
        latest_id = -1
        for row in session:
            if row.error_severity in ("ERROR", "FATAL", "PANIC"):
                errors[pid] += 1
                first_id.clear()
            elif row.message.startswith("AUDIT: "):
                fields = audit_fields(row.message)
                executions.add((fields[1], fields[2]))
                statement_id = int(fields[1])
                sql = _statement_of(fields, first_id)
                if statement_id != latest_id:
                    latest_id, latest = statement_id, {}
                if sql in TOP_LEVEL and "top" not in latest:  # a DO runs "SELECT 1" too
                    latest["top"] = sql
            elif row.message.startswith("duration: ") and latest:
                ms = row.message.split()[1]
                timed[(pid, latest["top"], int(float(ms) * 1000))] += 1
                latest = {}
                first_id.clear()
            elif row.message.startswith("statement: "):
                first_id.clear()
        executions -= {(sid, sub) for (_, sid, sub) in other_parts(session)}
        data[pid] += len(executions)
    return timed, data, errors


def test_a_duration_times_the_top_level_statement_of_its_query_string(
        run: tuple[Path, list[CsvLogRow]]) -> None:
    log, rows = run
    timed, _, _ = _key(rows)
    expected = Counter({key: n for key, n in timed.items() if "CREATE" not in key[1]})
    got = Counter((int(r["sessionId"]), _text(r["data"]["originalSqlCommand"]),
                   r["executionTime"])
                  for r in records_of(log)
                  if r["data"] and r["executionTime"] is not None
                  and "CREATE" not in r["data"]["originalSqlCommand"])
    assert len(expected) >= 6
    assert got == expected


def test_a_string_that_fails_later_keeps_the_records_of_what_ran(
        run: tuple[Path, list[CsvLogRow]]) -> None:
    log, rows = run
    _, expected_data, expected_errors = _key(rows)
    records = records_of(log)
    data = Counter(int(r["sessionId"]) for r in records if r["data"])
    errors = Counter(int(r["sessionId"]) for r in records if r["exception"])
    assert +data == +expected_data
    # (a FATAL may follow: the server stops while the backend still writes to psql)
    assert +errors == +expected_errors and sum(errors.values()) >= 2
    ran = {_text(r["data"]["originalSqlCommand"]) for r in records if r["data"]}
    assert {"SELECT 5", "UPDATE t SET v = 'r' WHERE id = 5", "INSERT INTO t VALUES (7, 'a')",
            "SELECT 6"} <= ran
    assert "SELECT 7" not in ran  # after the failed statement: never ran
