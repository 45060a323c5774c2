"""One record per execution, for statements pgAudit logs in several lines, against a real
PostgreSQL 15 + pgAudit.

pgAudit writes one statement's execution as several lines with the statement's own text:
``CREATE TABLE ... AS SELECT`` (its query's ``SELECT`` and the ``CREATE TABLE AS``), ``SELECT
... INTO``, ``CREATE``/``REFRESH MATERIALIZED VIEW``, ``COPY (query)``, ``DECLARE CURSOR``,
and every function a statement calls (a ``FUNCTION,EXECUTE`` line showing the calling
statement); a rule's ``DO ALSO`` action runs under a statement id of its own, with the
client's text. Each of these is one execution of one statement: one record, as Guardium
counts activity. What a function, DO block or trigger runs (its body's statements, with their
own text) are executions of their own, one record each (a loop: one per iteration).

The answer key is the csvlog of the same run, read with :mod:`csv` only, per session (its
``application_name``):

* every client statement (``log_statement``'s ``statement:`` or ``execute <name>:`` line, or
  without it the ``duration:`` line of a statement or an execute) that did not fail, or
  that pgAudit logged before it failed, is one ``data`` record with its text;
* every pgAudit (statement id, substatement id) whose text is no client statement of the
  session is one ``data`` record with that text (a body statement's execution), except a
  ``FUNCTION,EXECUTE`` line (part of the statement that calls the function);
* every ERROR is one ``exception`` record.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from csvlog import CsvLogRow, audit_fields, read_csvlog
from pgserver import PgServer

import pgaudit_parse as pp
from pgaudit_parse.formats.guardium import RecordBuilder

pytestmark = pytest.mark.pg

PREFIX = "%m:%r:%u@%d:[%p]:%a:"
BASE = {
    "shared_preload_libraries": "pgaudit",
    "pgaudit.log": "all,-misc",
    "pgaudit.log_catalog": "off",
    "log_statement": "all",
    "log_line_prefix": PREFIX,
}
#: The configurations: what changes how pgAudit writes a statement's lines (log_rows logs
#: a query when its executor ends, so its parts come in another order; the MISC class adds
#: an SQL-level EXECUTE's own line), object auditing with session auditing, durations and
#: auto_explain besides.
CONFIGS: dict[str, dict[str, str]] = {
    "plain": {},
    "misc": {"pgaudit.log": "all"},
    "rows-relation-object": {
        "pgaudit.log": "all", "pgaudit.log_rows": "on", "pgaudit.log_relation": "on",
        "pgaudit.log_statement_once": "on", "pgaudit.log_parameter": "on",
        "pgaudit.role": "auditor", "log_min_duration_statement": "0",
    },
    "durations-no-log-statement": {
        "log_statement": "none", "log_min_duration_statement": "0", "pgaudit.log_rows": "on",
        "pgaudit.log_relation": "on",
    },
    "catalog-duration-explain": {
        "pgaudit.log_catalog": "on", "log_duration": "on",
        "session_preload_libraries": "auto_explain", "auto_explain.log_min_duration": "0",
        "auto_explain.log_analyze": "on", "auto_explain.log_nested_statements": "on",
    },
}
SETUP = """
CREATE TABLE t (id int, v text);
CREATE TABLE lg (x text);
CREATE FUNCTION fw(n int) RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO t VALUES (n, 'f'); RETURN n; END $$;
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO lg VALUES ('t'); RETURN NEW; END $$;
CREATE TABLE tt (id int);
CREATE TRIGGER tr AFTER INSERT ON tt FOR EACH ROW EXECUTE FUNCTION trg();
CREATE TABLE rr (id int);
CREATE RULE r1 AS ON INSERT TO rr DO ALSO INSERT INTO lg VALUES ('r');
CREATE PROCEDURE p(n int) LANGUAGE plpgsql AS $$ BEGIN INSERT INTO t VALUES (n, 'p'); END $$;
CREATE ROLE auditor;
GRANT SELECT, INSERT ON t, lg TO auditor;
CREATE ROLE bob LOGIN;
GRANT ALL ON t TO bob;
INSERT INTO t VALUES (1, 'a'), (2, 'b');
"""
#: application_name -> the session's script (psql sends each statement alone)
CASES: dict[str, str] = {
    "ctas": "CREATE TABLE t2 AS SELECT * FROM t;\nCREATE TABLE t4 AS SELECT fw(40);",
    "select-into": "SELECT * INTO t3 FROM t;",
    "matview": "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t;\nREFRESH MATERIALIZED VIEW mv;",
    "copy": "COPY (SELECT * FROM t) TO STDOUT;\nCOPY t TO STDOUT;\n"
            "COPY lg FROM STDIN;\ncopied\n\\.\n",
    "cursor": "BEGIN;\nDECLARE c CURSOR FOR SELECT * FROM t;\nFETCH 1 FROM c;\nFETCH 1 FROM c;\n"
              "CLOSE c;\nCOMMIT;",
    "select-f": "SELECT fw(5);\nSELECT fw(6), fw(7);\nSELECT * FROM t WHERE id = fw(8);",
    "do-loop": "DO $$ BEGIN FOR i IN 1..3 LOOP INSERT INTO t VALUES (i, 'd'); END LOOP; END $$;\n"
               "DO $$ BEGIN FOR i IN 11..12 LOOP PERFORM fw(i); END LOOP; END $$;",
    "trigger": "INSERT INTO tt VALUES (1), (2);",
    "rule": "INSERT INTO rr VALUES (1);\nINSERT INTO rr VALUES (1);",
    "call": "CALL p(7);",
    "prepare": "PREPARE q(int) AS SELECT * FROM t WHERE id = $1;\nEXECUTE q(1);\nEXECUTE q(2);\n"
               "DEALLOCATE q;",
    "savepoint": "BEGIN;\nINSERT INTO t VALUES (20, 's');\nSAVEPOINT s1;\n"
                 "INSERT INTO t VALUES (21, 's');\nROLLBACK TO s1;\nSELECT 1 / 0;\nROLLBACK;",
    "set-role": "SET ROLE bob;\nSELECT * FROM t;\nRESET ROLE;\nSET SESSION AUTHORIZATION bob;\n"
                "SELECT 1 FROM t;\nRESET SESSION AUTHORIZATION;",
    "explain": "EXPLAIN ANALYZE SELECT * FROM t;\n"
               "EXPLAIN ANALYZE CREATE TABLE t5 AS SELECT * FROM t;",
    "insert-select": "INSERT INTO t SELECT * FROM t WHERE id = 5;",
    # more statements than an execution waits for per session (64): the block and the call
    # keep their own time, none of their statements takes it
    "big-loop": "DO $$ BEGIN FOR i IN 1..100 LOOP INSERT INTO lg VALUES ('l'); END LOOP; END $$;\n"
                "SELECT count(fw(g)) FROM generate_series(1000, 1099) g;",
    "catalog": "\\d t\n\\dt\nSELECT count(*) FROM pg_class;",
    "slow": "SELECT pg_sleep(0.01);\nCREATE TABLE t6 AS SELECT pg_sleep(0.01);\n"
            "CREATE TABLE t7 AS SELECT 1 AS a, pg_sleep(0.01)::text AS b;\nSELECT fw(50);",
}
#: sessions over TCP (the others use the unix socket: ``[local]``)
HOSTS = {"set-role": "127.0.0.1", "select-f": "::1", "ctas": "127.0.0.1"}
#: the csvlog rows, the records of the stderr log, and where the run's logs are
Run = tuple[list[CsvLogRow], list[dict[str, Any]], Path]
PGBENCH = ("INSERT INTO t VALUES (1, 'b');\nSELECT * FROM t WHERE id = 2;\nSELECT fw(3);\n"
           "INSERT INTO rr VALUES (3);\n")


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Run]:
    out = tmp_path_factory.mktemp(f"statements-{request.param}")
    with PgServer(settings={**BASE, **CONFIGS[request.param]}) as pg:
        pg.run_sql(SETUP, application_name="setup")
        for name, sql in CASES.items():
            host = HOSTS.get(name)
            pg.run_sql(sql, application_name=name, host=host,
                       password=pg.superuser_password if host else None)
        script = out / "bench.sql"
        script.write_text(PGBENCH)
        os.chmod(out, 0o755)
        os.chmod(script, 0o644)
        for mode in ("extended", "prepared"):
            done = pg.run_client(["pgbench", "-n", "-t", "2", "-f", str(script), "-M", mode,
                                  "-h", pg.host_arg(None), "-p", str(pg.port), "-U",
                                  "postgres", "postgres"])
            assert done.returncode == 0, done.stderr
        pg.stop()
        log = out / "postgresql.log"
        log.write_bytes(pg.stderr_log_path.read_bytes())
        rows = list(read_csvlog(pg.csv_log_path))
        for path, name in ((pg.csv_log_path, "postgresql.csv"),
                           (pg.json_log_path, "postgresql.json")):
            (out / name).write_bytes(path.read_bytes())
    yield rows, records_of(log), out


def records_of(path: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--prefix", PREFIX,
                           "--values", "postgres", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


#: a client statement: log_statement's line, or (without it) the duration line of a
#: simple query or of an extended-protocol execution
CLIENT_STATEMENT = re.compile(
    r"(?:duration: [0-9.]+ ms  )?(?:statement|execute [^:]*): (.*)\Z", re.DOTALL)


def _client_statement(row: CsvLogRow) -> str | None:
    """The SQL a client statement ran: an SQL-level ``EXECUTE`` runs its ``DETAIL:
    prepare:`` statement (what pgAudit's lines and the record show)."""
    if row.error_severity != "LOG":
        return None
    if row.detail is not None and row.detail.startswith("prepare: "):
        return row.detail[len("prepare: "):]
    found = CLIENT_STATEMENT.match(row.message)
    return found.group(1) if found else None


def expected(rows: list[CsvLogRow], app: str) -> tuple[Counter[str], int]:
    """The data records (their SQL, counted) and the number of exception records the
    csvlog says the session ``app`` must give."""
    mine = [r for r in rows if r.application_name == app and r.backend_type == "client backend"]
    failed = {r.query for r in mine if r.error_severity == "ERROR"}
    client = [s for r in mine if (s := _client_statement(r)) is not None]
    texts: dict[tuple[int, int, int], str] = {}
    calls: set[tuple[int, int, int]] = set()
    for r in mine:
        if not r.is_audit:
            continue
        fields = audit_fields(r.message)
        key = (r.process_id, int(fields[1]), int(fields[2]))
        if fields[7] != "<previously logged>":
            texts.setdefault(key, fields[7])
        if (fields[3], fields[4]) == ("FUNCTION", "EXECUTE"):
            calls.add(key)
    # a failed statement that pgAudit logged ran (a CREATE TABLE AS whose SELECT ran, then
    # failed): it keeps its record besides the error's
    data: Counter[str] = Counter(s for s in client if s not in failed or s in texts.values())
    # (an SQL-level EXECUTE's own text: pgAudit's MISC line of it is part of its execution)
    said = set(client) | {found.group(1) for r in mine if r.error_severity == "LOG"
                          and (found := CLIENT_STATEMENT.match(r.message))}
    bodies = {key: text for key, text in texts.items()
              if text not in said and key not in calls}
    data.update(bodies.values())
    return data, sum(r.error_severity == "ERROR" for r in mine)


def got(records: list[dict[str, Any]], app: str) -> tuple[Counter[str], int]:
    mine = [r for r in records if r["appUserName"] == app]
    return (Counter(r["data"]["originalSqlCommand"] for r in mine if r.get("data")),
            sum(r.get("exception") is not None for r in mine))


@pytest.mark.parametrize("app", sorted(CASES))
def test_one_record_per_statement_execution(
        request: pytest.FixtureRequest, run: Run,
        app: str) -> None:
    rows, records, _ = run
    want = expected(rows, app)
    assert sum(want[0].values()) > 0
    if app == "rule" and CONFIGS[request.node.callspec.params["run"]].get(
            "log_statement") == "none":
        # Known limit (docs/guardium.md): without log_statement's line a rule's action
        # (a statement id of its own, the client's text) cannot be told from the client
        # running the statement again: one record more per action.
        want = (want[0] + want[0], want[1])
    assert got(records, app) == want


def test_one_record_per_extended_protocol_execution(
        request: pytest.FixtureRequest, run: Run
        ) -> None:
    rows, records, _ = run
    want = expected(rows, "pgbench")
    # 2 modes x 2 transactions x 4 statements, and fw's INSERT once per call
    assert want == (Counter({s: 4 for s in PGBENCH.splitlines()}
                            | {"INSERT INTO t VALUES (n, 'f')": 4}), 0)
    if CONFIGS[request.node.callspec.params["run"]].get("log_statement") == "none":
        # the known limit: without log_statement's execute line, rr's rule action is a
        # record of its own
        want[0]["INSERT INTO rr VALUES (3);"] *= 2
    assert got(records, "pgbench") == want



def timed_key(rows: list[CsvLogRow], app: str) -> Counter[tuple[str, int, int]]:
    """(SQL, executionTime, recordsAffected) of the session's client statements that
    pgAudit logged: the time is the textless ``duration:`` line after the statement (with
    ``log_statement``, ``log_min_duration_statement`` writes no text), the rows the most
    any of the statement's pgAudit lines counted (a CREATE TABLE AS: its query's)."""
    mine = [r for r in rows if r.application_name == app and r.backend_type == "client backend"]
    out: Counter[tuple[str, int, int]] = Counter()
    current: str | None = None
    rows_of: int | None = None
    ids: set[tuple[str, str]] = set()
    for r in mine:
        if r.error_severity != "LOG":
            current = None
        elif r.message.startswith("statement: "):
            current, rows_of, ids = _client_statement(r), None, set()
        elif r.is_audit and current is not None:
            fields = audit_fields(r.message)
            if fields[7] == current or (fields[1], fields[2]) in ids:
                ids.add((fields[1], fields[2]))
                rows_of = max(int(fields[9]), rows_of or 0)
        elif r.message.startswith("duration: ") and current is not None:
            if rows_of is not None:
                ms = r.message.split()[1]
                out[(current, int(float(ms) * 1000), rows_of)] += 1
            current = None
    return out


@pytest.mark.parametrize("app", sorted(set(CASES) - {"prepare", "catalog"}))
def test_the_record_has_the_time_and_rows_of_the_whole_execution(
        request: pytest.FixtureRequest, run: Run,
        app: str) -> None:
    config = CONFIGS[request.node.callspec.params["run"]]
    if "log_min_duration_statement" not in config or config.get("log_statement") == "none":
        return  # (this configuration logs no durations and rows, or no statement lines)
    rows, records, _ = run
    want = timed_key(rows, app)
    client = {s for r in rows if r.application_name == app
              and (s := _client_statement(r)) is not None}
    mine = [r for r in records if r["appUserName"] == app and r.get("data")]
    got = Counter((r["data"]["originalSqlCommand"], r["executionTime"], r["recordsAffected"])
                  for r in mine if r["data"]["originalSqlCommand"] in client
                  and r["recordsAffected"] != -1)
    assert want and got == want
    # what a body ran has no time of its own: the block, call or statement has it
    assert all(r["executionTime"] is None for r in mine
               if r["data"]["originalSqlCommand"] not in client)


@pytest.mark.parametrize("app", sorted(CASES))
def test_every_record_has_its_sessions_client_user_and_program(
        run: Run, app: str) -> None:
    """The client address and port, the user (the one who logged in: ``SET ROLE`` and
    ``SET SESSION AUTHORIZATION`` change neither ``%u`` nor the csvlog's user), the
    program and the session of every record are its session's, as the csvlog says."""
    rows, records, _ = run
    sessions = {(str(r.process_id), r.user_name, r.client_host, r.client_port)
                for r in rows if r.application_name == app
                and r.backend_type == "client backend"}
    assert len(sessions) == 1
    [(pid, user, host, port)] = sessions
    ipv6 = host is not None and ":" in host
    want = (pid, user, app, "0.0.0.0" if host in (None, "[local]") or ipv6 else host,
            -1 if port is None else port, host if ipv6 else None)
    got = {(r["sessionId"], r["accessor"]["dbUser"], r["accessor"]["sourceProgram"],
            r["sessionLocator"]["clientIp"], r["sessionLocator"]["clientPort"],
            r["sessionLocator"]["clientIpv6"]) for r in records if r["appUserName"] == app}
    assert got == {want}


def _executions(records: list[dict[str, Any]]) -> Counter[tuple[str, str, int, int]]:
    return Counter((r["appUserName"], r["data"]["originalSqlCommand"], r["recordsAffected"],
                    r["executionTime"] is None) for r in records if r.get("data"))


@pytest.mark.parametrize("name", ["postgresql.csv", "postgresql.json"])
def test_the_csvlog_and_jsonlog_of_the_run_give_the_same_executions(
        run: Run, name: str) -> None:
    _, records, out = run
    assert _executions(records_of(out / name)) == _executions(records)


@pytest.mark.parametrize("log_statement", ["none", "all"])
def test_a_statement_longer_than_the_wait_is_one_record(
        tmp_path: Path, log_statement: str) -> None:
    """A statement that runs longer than an execution waits for its lines (``max_wait``,
    here 1 s of log time) while another session works: its duration line, written when
    it ends, makes no second record of it."""
    with PgServer(settings={**BASE, "log_statement": log_statement,
                            "log_min_duration_statement": "0"}) as pg:
        slow = threading.Thread(target=pg.run_sql, args=("SELECT pg_sleep(2.5);",),
                                kwargs={"application_name": "slow"})
        slow.start()
        pg.run_sql("".join(f"SELECT {n}, pg_sleep(0.3);\n" for n in range(10)),
                   application_name="busy")
        slow.join()
        pg.stop()
        log = tmp_path / "postgresql.log"
        log.write_bytes(pg.stderr_log_path.read_bytes())
    builder = RecordBuilder(max_wait=1.0, values="postgres")
    records = [r for e in pp.parse_file(log, prefix=PREFIX) for r in builder.add(e)]
    records += builder.flush()
    assert [r["data"]["originalSqlCommand"] for r in records
            if r["appUserName"] == "slow"] == ["SELECT pg_sleep(2.5);"]
    assert builder.released_early == 1
