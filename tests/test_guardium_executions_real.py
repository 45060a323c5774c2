"""One record per execution, checked against a real PostgreSQL 15 + pgAudit log written
with ``log_statement = all`` and ``log_min_duration_statement = 0`` (PostgreSQL then writes
durations *without* their SQL), ``pgaudit.log_rows``/``log_relation``/``log_statement_once``,
the RDS prefix (no ``%c``: sessions are told apart by pid) and two sessions running at the
same time. The answer key is the csvlog of the same run, read with :mod:`csv` only:

* a query string's time is its textless duration (plus the parse/bind durations of its
  extended-protocol execution), on the record of the SQL its ``statement:``/``execute``
  line showed (a DO block, a function call: not one of their sub-statements);
* one ``data`` record per (session, statement id, substatement id) of the AUDIT lines
  (but one for the parts of one execution: :func:`csvlog.other_parts`), plus one per
  ``log_statement`` line that neither pgAudit nor an ERROR followed;
* one ``exception`` record per ERROR (a failed statement gives no ``data`` record).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from csvlog import CsvLogRow, audit_fields, other_parts, read_csvlog
from pgserver import PgServer

pytestmark = pytest.mark.pg

PREFIX = "%t:%r:%u@%d:[%p]:"
SETTINGS = {
    "shared_preload_libraries": "pgaudit",
    "pgaudit.log": "all",
    "pgaudit.log_relation": "on",
    "pgaudit.log_statement_once": "on",
    "pgaudit.log_parameter": "on",
    "pgaudit.log_rows": "on",
    "log_statement": "all",
    "log_min_duration_statement": "0",
    "log_line_prefix": PREFIX,
    "log_connections": "on",
    "log_disconnections": "on",
}
SETUP = """
CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE TABLE c (id int REFERENCES t (id) ON DELETE CASCADE);
CREATE FUNCTION f(n int) RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO t VALUES (n, 'x'); UPDATE t SET v = 'y' WHERE id = n; RETURN n; END $$;
"""


def session_sql(n: int) -> str:
    """A session's script; pg_sleep makes two of them interleave in the log."""
    base = 1000 * n
    return f"""
INSERT INTO t VALUES ({base + 1}, 'a'), ({base + 2}, 'b');
SELECT pg_sleep(0.05);
INSERT INTO c VALUES ({base + 1});
SELECT f({base + 10});
DO $$ BEGIN PERFORM 1; INSERT INTO t VALUES ({base + 20}, 'z');
             DELETE FROM t WHERE id = {base + 20}; END $$;
SELECT pg_sleep(0.05);
DELETE FROM t WHERE id = {base + 1};
SELECT * FROM missing_{n};
BEGIN; SELECT 1 / 0; ROLLBACK;
SELECT pg_sleep(0.05);
SELECT 1; SELECT 2;
"""


PGBENCH = """
\\set id random(100, 200)
INSERT INTO t VALUES (:id, 'p') ON CONFLICT (id) DO UPDATE SET v = 'q';
SELECT v FROM t WHERE id = :id;
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("executions")
    with PgServer(settings=SETTINGS) as pg:
        pg.run_sql(SETUP)
        threads = [threading.Thread(target=pg.run_sql, args=(session_sql(n),))
                   for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(PGBENCH)
        os.chmod(script.name, 0o644)
        try:
            for mode in ("extended", "prepared"):
                done = pg.run_client(["pgbench", "-n", "-t", "3", "-f", script.name, "-M", mode,
                                      "-h", pg.host_arg(None), "-p", str(pg.port), "-U",
                                      "postgres", "postgres"])
                assert done.returncode == 0, done.stderr
        finally:
            Path(script.name).unlink()
        pg.stop()
        log, csv_log = out / "postgresql.log", out / "postgresql.csv"
        log.write_bytes(pg.stderr_log_path.read_bytes())
        csv_log.write_bytes(pg.csv_log_path.read_bytes())
        (out / "postgresql.json").write_bytes(pg.json_log_path.read_bytes())
    yield log, csv_log


def records_of(path: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--prefix", PREFIX,
                           str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture(scope="module")
def records(run: tuple[Path, Path]) -> list[dict[str, Any]]:
    return records_of(run[0])


QUERY = re.compile(r"(?:statement|execute [^:]*): (.*)\Z", re.DOTALL)
TIMED_PHASE = re.compile(r"duration: (\d+\.\d+) ms  (?:parse|bind) [^:]*: (.*)\Z", re.DOTALL)
TEXTLESS = re.compile(r"duration: (\d+\.\d+) ms\Z")


def micros(ms: str) -> int:
    return int(float(ms) * 1000)


def sessions_of(rows: list[CsvLogRow]) -> dict[str, list[CsvLogRow]]:
    out: dict[str, list[CsvLogRow]] = {}
    for row in rows:
        if row.backend_type == "client backend":
            out.setdefault(row.session_id, []).append(row)
    return out


def test_the_sessions_interleave_in_the_log(run: tuple[Path, Path]) -> None:
    pids = [row.process_id for row in read_csvlog(run[1]) if row.message.startswith("AUDIT")]
    changes = sum(1 for a, b in zip(pids, pids[1:], strict=False) if a != b)
    assert changes > 4  # the scenario this test is about, not just one session after another


def test_each_query_string_carries_its_own_duration(run: tuple[Path, Path],
                                                      records: list[dict[str, Any]]) -> None:
    expected: Counter[tuple[str, str, int]] = Counter()
    for rows in sessions_of(list(read_csvlog(run[1]))).values():
        query: str | None = None
        phases: dict[str, int] = {}
        for row in rows:
            if row.error_severity != "LOG":
                continue
            if (found := TIMED_PHASE.match(row.message)):
                phases[found.group(2)] = phases.get(found.group(2), 0) + micros(found.group(1))
            elif (found := QUERY.match(row.message)):
                query = found.group(1)
            elif (found := TEXTLESS.match(row.message)) and query is not None:
                total = micros(found.group(1)) + phases.pop(query, 0)
                expected[(str(row.process_id), query, total)] += 1
                query = None
    got = Counter((r["sessionId"], r["data"]["originalSqlCommand"], r["executionTime"])
                  for r in records if r["data"] and r["executionTime"] is not None)
    assert expected and got == expected


def test_one_record_per_execution_and_none_for_a_failed_statement(
        run: tuple[Path, Path], records: list[dict[str, Any]]) -> None:
    expected_data: Counter[str] = Counter()
    expected_errors: Counter[str] = Counter()
    for rows in sessions_of(list(read_csvlog(run[1]))).values():
        pid = str(rows[0].process_id)
        executions: set[tuple[str, str]] = set()
        query_open = False  # a log_statement line that no AUDIT line or ERROR followed yet
        for row in rows:
            if row.error_severity in ("ERROR", "FATAL", "PANIC"):
                expected_errors[pid] += 1
                query_open = False
            elif row.error_severity == "LOG" and row.message.startswith("AUDIT: "):
                fields = audit_fields(row.message)
                executions.add((fields[1], fields[2]))
                query_open = False
            elif row.error_severity == "LOG" and QUERY.match(row.message):
                expected_data[pid] += query_open
                query_open = True
        executions -= {(sid, sub) for (_, sid, sub) in other_parts(rows)}
        expected_data[pid] += len(executions) + query_open
    data = Counter(r["sessionId"] for r in records if r["data"])
    errors = Counter(r["sessionId"] for r in records if r["exception"])
    assert +data == +expected_data
    assert +errors == +expected_errors and sum(errors.values()) >= 4


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_csvlog_and_jsonlog_of_the_run_give_the_same_records(
        run: tuple[Path, Path], records: list[dict[str, Any]], suffix: str) -> None:
    # The stderr prefix's %t has whole seconds; csvlog and jsonlog have milliseconds. And
    # PostgreSQL reads %t's clock apart (time(NULL), a coarse clock that may still be in
    # the second before): %t is the structured time's second, or the one before it.
    def split(record: dict[str, Any]) -> tuple[str, int]:
        rest = {k: v for k, v in record.items() if k != "time"}
        time = {k: v for k, v in record["time"].items() if k != "timstamp"}
        return json.dumps(dict(rest, time=time), sort_keys=True), record["time"]["timstamp"]

    structured = sorted(split(r) for r in records_of(run[0].with_suffix(suffix)))
    stderr = sorted(split(r) for r in records)
    assert [key for key, _ in structured] == [key for key, _ in stderr]
    for (key, millis), (_, whole) in zip(structured, stderr, strict=True):
        assert whole % 1000 == 0, key
        assert millis // 1000 * 1000 - whole in (0, 1000), (key, millis, whole)


SLOW_SETTINGS = {
    "shared_preload_libraries": "pgaudit", "pgaudit.log": "all", "pgaudit.log_rows": "on",
    "log_min_duration_statement": "100", "log_line_prefix": PREFIX,
}
#: The same SQL, fast and slow, through the extended protocol: only the slow executions
#: are timed, and pgAudit writes each SELECT's line when its portal closes (after the
#: execute duration).
SLEEPS = (0, 0.15, 0, 0.15, 0.15, 0)


def test_only_the_slow_executions_of_one_extended_select_carry_their_time(
        tmp_path: Path) -> None:
    script = tmp_path / "sleeps.sql"
    script.write_text("".join(f"\\set d {d}\nSELECT pg_sleep(:d);\n" for d in SLEEPS))
    os.chmod(tmp_path, 0o755)
    os.chmod(script, 0o644)
    with PgServer(settings=SLOW_SETTINGS) as pg:
        done = pg.run_client(["pgbench", "-n", "-t", "1", "-f", str(script), "-M", "extended",
                              "-h", pg.host_arg(None), "-p", str(pg.port), "-U", "postgres",
                              "postgres"])
        assert done.returncode == 0, done.stderr
        pg.stop()
        log = tmp_path / "postgresql.log"
        log.write_bytes(pg.stderr_log_path.read_bytes())
        rows = list(read_csvlog(pg.csv_log_path))
    # the answer key: the execute duration that precedes an AUDIT line is its execution's
    expected: list[int | None] = []
    waiting: int | None = None
    for row in rows:
        if row.message.startswith("duration: ") and " execute " in row.message:
            waiting = micros(row.message.split()[1])
        elif row.message.startswith("AUDIT: ") and "pg_sleep" in row.message:
            expected.append(waiting)
            waiting = None
    assert len(expected) == len(SLEEPS) and expected.count(None) == SLEEPS.count(0)
    got = [r["executionTime"] for r in records_of(log)
           if r["data"] and "pg_sleep" in r["data"]["originalSqlCommand"]]
    assert got == expected
