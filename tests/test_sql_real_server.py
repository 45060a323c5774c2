"""A real PostgreSQL 15 + pgAudit: multi-statement strings, redaction, on the server's log.

The csvlog of the same run is the answer key (read with plain ``csv``): for each audit
line of a multi-statement string it gives the statement id and command, from which the
statement each line is about follows (see EXPECTED).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pglast.parser
import pytest
from csvlog import audit_fields, read_csvlog
from pgserver import PgServer
from workload import RDS_SETTINGS, ServerRun

from pgaudit_parse.cli import main

# One simple query (psql -c sends it as one string). With pgaudit.log = 'all,-misc' and
# log_catalog off, the catalog read and SET have no audit line; the others have one each.
SCRIPT = ("select count(*) from pg_class; insert into t values (4217093358); select 'Mk5521'; "
          "set work_mem = '4MB'; update t set a = 7390264817 where a = 4217093358; "
          "select * from t where a > 6128405973; delete from t where a = 7390264817")
EXPECTED = ["insert into t values (4217093358)", "select 'Mk5521'",
            "update t set a = 7390264817 where a = 4217093358",
            "select * from t where a > 6128405973", "delete from t where a = 7390264817"]
# Both selects fit the one audit line; the catalog read may be the one log_catalog skipped.
AMBIGUOUS = "select 1 from pg_class limit 1; select 'Mk8080'"
# Statements that run a query: pgAudit logs the query's SELECT (substatement 1) before
# the statement's own command (substatement 2).
QUERY_RUNNERS = ("create table t5 as select 'Mk3101' as x; copy (select 'Mk3102' from t) to "
                 "stdout; create materialized view mv as select 'Mk3103' as y; "
                 "select 'Mk3104' from t")
# Run twice on one connection: the catalog read never has a line (log_catalog off).
RUN_TWICE = "select 'Mk3201' from t; select count(*) from pg_class"
# A SQL function whose body holds two statements: pgAudit logs them (substatements 3 and
# 4) with the body's text, between the lines of the string that calls it.
BODY = "insert into t values (3301); select 3302"
CALLS_BODY = "select f2(); select 'Mk3303' from t; select f2(); insert into t values (3304)"
# SQL-standard bodies: ';' inside one statement, and END as a column label (select x end)
# that does not end the body (hunt-sql2).
ATOMIC = ("create function fa(x int) returns int language sql begin atomic select x end; end; "
          "insert into t values (3401); comment on table t is 'Mk3402'; "
          "create procedure pa() language sql begin atomic insert into t values (3403); "
          "select case when true then 1 end end; end; select 'Mk3404' from t")
ATOMIC_EXPECTED = [
    "create function fa(x int) returns int language sql begin atomic select x end; end",
    "insert into t values (3401)", "comment on table t is 'Mk3402'",
    "create procedure pa() language sql begin atomic insert into t values (3403); "
    "select case when true then 1 end end; end", "select 'Mk3404' from t"]
SECRETS = ["Pw0rdAlpha", "Pw0rdBravo", "Pw0rdCharlie"]
# Numbers long enough that no pid, session id, port or line number can hold them.
CONSTANTS = ["4217093358", "Mk5521", "7390264817", "6128405973", "Mk8080", "Mk6464", *SECRETS]


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("sql-server")
    with PgServer(settings=RDS_SETTINGS) as pg:
        pg.run_sql(f"CREATE ROLE {RDS_SETTINGS['pgaudit.role']}; CREATE TABLE t (a bigint); "
                   f"CREATE FUNCTION f2() RETURNS int LANGUAGE sql AS '{BODY}';")
        for script in (SCRIPT, AMBIGUOUS, ATOMIC):
            result = pg.run_client(["psql", "-X", "-h", pg.host_arg(None), "-p", str(pg.port),
                                    "-U", "postgres", "-d", "postgres", "-c", script])
            assert result.returncode == 0, result.stderr
        for scripts in ([QUERY_RUNNERS], [RUN_TWICE, RUN_TWICE], [CALLS_BODY]):
            argv = ["psql", "-X", "-h", pg.host_arg(None), "-p", str(pg.port), "-U",
                    "postgres", "-d", "postgres"]
            for script in scripts:
                argv += ["-c", script]  # (one connection, one simple query each)
            result = pg.run_client(argv)
            assert result.returncode == 0, result.stderr
        # credentials in the forms pgAudit does not hide: an ERROR's STATEMENT line,
        # a DO body, an E'' string
        pg.run_sql("ALTER ROLE nosuch PASSWORD E'Pw0rdAlpha';\n"
                   "DO $$ BEGIN EXECUTE 'ALTER ROLE nosuch PASSWORD ''Pw0rdBravo'''; END $$;\n"
                   "SELECT 'host=h password=Pw0rdCharlie' AS conninfo, 'Mk6464';\n")
        pg.stop()
        stderr_log = out / "postgresql.log"
        csv_log = out / "postgresql.csv"
        stderr_log.write_bytes(pg.stderr_log_path.read_bytes())
        csv_log.write_bytes(pg.csv_log_path.read_bytes())
    yield stderr_log, csv_log


def _run(log: Path, tmp_path: Path, *args: str) -> list[dict[str, object]]:
    out = tmp_path / "out.jsonl"
    assert main([str(log), "--quiet", "--output", str(out), *args]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def _csv_groups(csv_log: Path, script: str) -> list[tuple[int, str]]:
    """(statement id, command) of each statement's audit line(s), from the csvlog."""
    groups: list[tuple[int, str]] = []
    for row in read_csvlog(csv_log):
        if not row.message.startswith("AUDIT: "):
            continue
        fields = audit_fields(row.message)
        if fields[7] == script and (not groups or groups[-1][0] != int(fields[1])):
            groups.append((int(fields[1]), fields[4]))
    return groups


def test_each_audit_line_gets_its_own_statement(server_log: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    stderr_log, csv_log = server_log
    groups = _csv_groups(csv_log, SCRIPT)
    # the answer key: one group per expected statement, commands as pgAudit names them
    assert [command for _, command in groups] == [s.split()[0].upper() for s in EXPECTED]
    expected = dict(zip([sid for sid, _ in groups], EXPECTED, strict=True))
    events = [e for e in _run(stderr_log, tmp_path, "--format", "events")
              if e["kind"] == "audit" and e["audit"]["statement_full"] == SCRIPT]  # type: ignore[index]
    assert {e["audit"]["statement_id"] for e in events} == set(expected)  # type: ignore[index]
    for event in events:
        audit = event["audit"]
        assert audit["statement"] == expected[audit["statement_id"]]  # type: ignore[index]
        assert audit["split_certain"] is True  # type: ignore[index]
        assert event["fingerprint"]


def test_uncertain_match_keeps_the_whole_string(server_log: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    stderr_log, csv_log = server_log
    assert [command for _, command in _csv_groups(csv_log, AMBIGUOUS)] == ["SELECT"]
    [event] = [e for e in _run(stderr_log, tmp_path, "--format", "events")
               if e["kind"] == "audit" and e["audit"]["statement_full"] == AMBIGUOUS]  # type: ignore[index]
    assert event["audit"]["statement"] == AMBIGUOUS  # type: ignore[index]
    assert event["audit"]["split_certain"] is False  # type: ignore[index]


def test_records_carry_single_statements_and_no_password(server_log: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    stderr_log, _ = server_log
    assert any(s in stderr_log.read_text() for s in SECRETS)  # the server logged them
    records = _run(stderr_log, tmp_path)  # records, --redact passwords by default
    text = json.dumps(records)
    assert not any(s in text for s in SECRETS)
    commands = [r["data"]["originalSqlCommand"] for r in records if r["data"]]  # type: ignore[index]
    assert all(s in commands for s in EXPECTED)


def test_redact_literals_leaves_no_constant(server_log: tuple[Path, Path],
                                            tmp_path: Path) -> None:
    stderr_log, _ = server_log
    for fmt in ("records", "events"):
        text = json.dumps(_run(stderr_log, tmp_path, "--format", fmt, "--redact", "literals"))
        assert not [c for c in CONSTANTS if c in text], fmt
    records = _run(stderr_log, tmp_path, "--redact", "literals")
    commands = [r["data"]["originalSqlCommand"] for r in records if r["data"]]  # type: ignore[index]
    assert "update t set a = $1 where a = $2" in commands


def _workload_string_constants(csv_log: Path) -> set[str]:
    """Every string constant, as written, in the SQL the csvlog holds (found by
    PostgreSQL's own scanner, pglast; statements it cannot scan are left out)."""
    found: set[str] = set()
    for row in read_csvlog(csv_log):
        texts = [row.query or ""]
        if row.message.startswith("AUDIT: "):
            texts.append(audit_fields(row.message)[7])
        for text in texts:
            try:
                tokens = pglast.parser.scan(text)
            except pglast.parser.ParseError:
                continue
            found.update(text[t.start:t.end + 1] for t in tokens
                         if t.name in ("SCONST", "USCONST", "BCONST", "XCONST")
                         and t.end - t.start >= 3)
    return found


def test_redact_literals_on_the_workload(server_run: ServerRun, tmp_path: Path) -> None:
    """No string constant of the whole workload survives in a field that carries SQL."""
    constants = _workload_string_constants(server_run.csv_log)
    assert len(constants) >= 10  # the workload has them: the check cannot pass vacuously
    prefix = ["--prefix", server_run.prefix]
    events = _run(server_run.stderr_log, tmp_path, "--format", "events", "--redact",
                  "literals", *prefix)
    records = _run(server_run.stderr_log, tmp_path, "--redact", "literals", *prefix)
    sql_fields: list[str] = []
    for event in events:
        audit = event.get("audit") or {}
        sql_fields += [str(event.get(k) or "") for k in ("statement", "query", "message",
                                                         "detail", "context")]
        sql_fields += [str(audit.get(k) or "") for k in ("statement", "statement_full",  # type: ignore[union-attr]
                                                         "parameter")]
    for record in records:
        sql_fields.append(str((record.get("data") or {}).get("originalSqlCommand") or ""))  # type: ignore[union-attr]
        sql_fields.append(str((record.get("exception") or {}).get("sqlString") or ""))  # type: ignore[union-attr]
    text = "\n".join(sql_fields)
    assert not sorted(c for c in constants if c in text)


def test_a_statement_that_runs_a_query_owns_its_select_line(server_log: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    stderr_log, csv_log = server_log
    statements = pglast.split(QUERY_RUNNERS)
    groups = _csv_groups(csv_log, QUERY_RUNNERS)  # the answer key: one id per statement
    assert len(groups) == len(statements)
    expected = {sid: statement for (sid, _), statement in zip(groups, statements, strict=True)}
    events = [e for e in _run(stderr_log, tmp_path, "--format", "events")
              if e["kind"] == "audit" and e["audit"]["statement_full"] == QUERY_RUNNERS]  # type: ignore[index]
    assert len(events) == 7  # SELECT + own command for the first three, SELECT for the last
    for event in events:
        audit = event["audit"]
        assert (audit["statement"], audit["split_certain"]) == (  # type: ignore[index]
            expected[audit["statement_id"]], True)  # type: ignore[index]


def test_a_string_run_again_is_not_the_catalog_read(server_log: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    stderr_log, csv_log = server_log
    assert [command for _, command in _csv_groups(csv_log, RUN_TWICE)] == ["SELECT"] * 2
    events = [e for e in _run(stderr_log, tmp_path, "--format", "events")
              if e["kind"] == "audit" and e["audit"]["statement_full"] == RUN_TWICE]  # type: ignore[index]
    assert len(events) == 2
    first, second = (e["audit"] for e in events)
    assert (first["statement"], first["split_certain"]) == ("select 'Mk3201' from t", True)  # type: ignore[index]
    # (it is the first statement again; with log_catalog on it could be the catalog read)
    assert (second["statement"], second["split_certain"]) == (RUN_TWICE, False)  # type: ignore[index]


def test_a_function_body_is_matched_apart_from_its_caller(server_log: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    stderr_log, csv_log = server_log
    statements = pglast.split(CALLS_BODY)
    groups = _csv_groups(csv_log, CALLS_BODY)
    assert [command for _, command in groups] == ["SELECT", "SELECT", "SELECT", "INSERT"]
    expected = {sid: statement for (sid, _), statement in zip(groups, statements, strict=True)}
    body = dict(zip(("INSERT", "SELECT"), pglast.split(BODY), strict=True))
    events = [e["audit"] for e in _run(stderr_log, tmp_path, "--format", "events")
              if e["kind"] == "audit" and e["audit"]["statement_full"] in (CALLS_BODY, BODY)]  # type: ignore[index]
    assert sum(a["statement_full"] == BODY for a in events) == 4  # type: ignore[index]
    for audit in events:
        want = body[audit["command"]] if audit["statement_full"] == BODY else expected[  # type: ignore[index]
            audit["statement_id"]]  # type: ignore[index]
        assert (audit["statement"], audit["split_certain"]) == (want, True), audit  # type: ignore[index]


def test_begin_atomic_bodies_split_as_the_server_runs_them(server_log: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    """Each audit line of a string with BEGIN ATOMIC bodies gets the statement its
    statement id names in the csvlog; ``literals`` output of each still parses."""
    stderr_log, csv_log = server_log
    groups = _csv_groups(csv_log, ATOMIC)
    assert [command for _, command in groups] == [
        "CREATE FUNCTION", "INSERT", "COMMENT", "CREATE PROCEDURE", "SELECT"]
    expected = dict(zip([sid for sid, _ in groups], ATOMIC_EXPECTED, strict=True))
    events = [e for e in _run(stderr_log, tmp_path, "--format", "events")
              if e["kind"] == "audit" and e["audit"]["statement_full"] == ATOMIC]  # type: ignore[index]
    assert {e["audit"]["statement_id"] for e in events} == set(expected)  # type: ignore[index]
    for event in events:
        audit = event["audit"]
        assert audit["statement"] == expected[audit["statement_id"]]  # type: ignore[index]
    records = _run(stderr_log, tmp_path, "--format", "records", "--redact", "literals")
    mine = [r["data"]["originalSqlCommand"] for r in records  # type: ignore[index]
            if r.get("data") and "fa(x int)" in str(r["data"]["originalSqlCommand"])  # type: ignore[index]
            or r.get("data") and "Mk3404" in ATOMIC and "pa()" in str(
                r["data"]["originalSqlCommand"])]  # type: ignore[index]
    assert mine
    for sql in mine:
        pglast.parser.parse_sql(str(sql))
        assert "340" not in str(sql)
