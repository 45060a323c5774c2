"""Guardium records, OCSF and ECS on hard input: every output object stays inside its
contract (the Record's Java types and ranges, the bundled schemas) whatever the log says,
and one execution stays one record. Each test names the defect it pins down.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ocsf_schema import FIXTURES as OCSF_FIXTURES
from ocsf_schema import OcsfSchema

import pgaudit_parse as pp
from pgaudit_parse.formats import schema
from pgaudit_parse.formats.guardium import RecordBuilder, record_schema
from pgaudit_parse.formats.record_template import RecordWriter
from pgaudit_parse.structured import jsonlog_entries

RDS = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:"
RECORD = jsonschema.Draft202012Validator(record_schema())


def records_of(lines: list[str], prefix: str = pp.RDS_PREFIX,
               **options: Any) -> list[dict[str, Any]]:
    """The records of log lines, as dicts (library) and as the CLI's JSON lines: the two
    must agree, and each must be valid by the Record schema."""
    builder = RecordBuilder("123456789012", "db1", **options)
    writer = RecordWriter("123456789012", "db1", **options)
    dicts: list[dict[str, Any]] = []
    texts: list[str] = []
    for event in pp.parse_lines(lines, prefix=prefix):
        dicts += builder.add(event)
        texts += writer.add_lines(event)
    dicts += builder.flush()
    texts += writer.flush_lines()
    assert [json.loads(t) for t in texts] == dicts
    for record in dicts:
        assert [e.message for e in RECORD.iter_errors(record)] == []
    return dicts


@pytest.mark.parametrize(("rows", "expected"), [
    ("3", 3), ("2147483647", 2147483647),
    # pgAudit writes a uint64 count; the Record's field is a Java int
    ("2147483648", 2147483647), ("99999999999", 2147483647), (str(2**64 - 1), 2147483647),
    # not a count: what "not logged" says
    ("-5", -1),
])
def test_records_affected_fits_a_java_int(rows: str, expected: int) -> None:
    [record] = records_of([RDS + f"LOG:  AUDIT: SESSION,1,1,WRITE,UPDATE,,,update t set a=1,"
                                 f"<none>,{rows}"])
    assert record["recordsAffected"] == expected


def summary(records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(r["data"]["originalSqlCommand"], r["executionTime"]) if r["data"]
            else ("ERROR: " + r["exception"]["sqlString"], r["executionTime"])
            for r in records]


# -- durations without text (log_statement = all + log_min_duration_statement, or
# log_duration) time the query string the log_statement line showed, not its last
# sub-statement (as a real PostgreSQL 15 + pgAudit writes them; see the real-server test)

def test_a_textless_duration_times_the_do_block_not_its_last_sub_statement() -> None:
    do = "DO $$ BEGIN PERFORM 1; INSERT INTO t VALUES (20,'z'); DELETE FROM t WHERE id=20; END $$;"
    records = records_of([
        RDS + f"LOG:  statement: {do}",
        RDS + f'LOG:  AUDIT: SESSION,4,1,FUNCTION,DO,,,"{do}",<none>,0',
        RDS + "LOG:  AUDIT: SESSION,4,2,READ,SELECT,,,SELECT 1,<none>,1",
        RDS + "LOG:  AUDIT: SESSION,4,3,WRITE,INSERT,TABLE,public.t,"
              "\"INSERT INTO t VALUES (20,'z')\",<none>,1",
        RDS + "LOG:  AUDIT: SESSION,4,4,WRITE,DELETE,TABLE,public.t,DELETE FROM t WHERE id=20,"
              "<none>,1",
        RDS + "LOG:  duration: 0.547 ms",
    ])
    assert summary(records) == [(do, 547), ("SELECT 1", None),
                                ("INSERT INTO t VALUES (20,'z')", None),
                                ("DELETE FROM t WHERE id=20", None)]


def test_a_textless_duration_times_the_statement_not_its_foreign_key_check() -> None:
    # with pgaudit.log_rows the foreign-key check (substatement 1) is logged first
    check = 'SELECT 1 FROM ONLY ""public"".""t"" x WHERE ""id"" OPERATOR(pg_catalog.=) $1'
    records = records_of([
        RDS + "LOG:  statement: INSERT INTO c VALUES (1);",
        RDS + f'LOG:  AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.t,"{check}",1,1',
        RDS + "LOG:  AUDIT: SESSION,2,2,WRITE,INSERT,TABLE,public.c,INSERT INTO c VALUES (1);,"
              "<none>,1",
        RDS + "LOG:  duration: 0.832 ms",
    ])
    assert summary(records) == [("INSERT INTO c VALUES (1);", 832),
                                (check.replace('""', '"'), None)]


# -- a statement that failed is its exception record, not also a data record -------------

def test_a_failed_statement_shown_by_log_statement_is_one_exception_record() -> None:
    records = records_of([
        RDS + "LOG:  statement: SELECT * FROM nope;",
        RDS + 'ERROR:  relation "nope" does not exist at character 15',
        RDS + "STATEMENT:  SELECT * FROM nope;",
        RDS + "LOG:  statement: SELECT 1;",
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1;,<none>",
    ])
    assert summary(records) == [("ERROR: SELECT * FROM nope;", None), ("SELECT 1;", None)]


def test_a_failed_extended_protocol_execution_is_one_exception_record() -> None:
    # parse and bind were timed; the execution failed (no execute duration, no AUDIT)
    sql = "INSERT INTO t VALUES ($1)"
    records = records_of([
        RDS + f"LOG:  duration: 0.100 ms  parse <unnamed>: {sql}",
        RDS + f"LOG:  duration: 0.050 ms  bind <unnamed>: {sql}",
        RDS + "DETAIL:  parameters: $1 = '1'",
        RDS + 'ERROR:  duplicate key value violates unique constraint "t_pkey"',
        RDS + "DETAIL:  Key (id)=(1) already exists.",
        RDS + f"STATEMENT:  {sql}",
    ])
    assert summary(records) == [(f"ERROR: {sql}", None)]


def test_a_session_with_only_errors_gives_only_exception_records() -> None:
    lines = []
    for name in ("nope1", "nope2"):
        lines += [RDS + f"LOG:  statement: SELECT * FROM {name};",
                  RDS + f'ERROR:  relation "{name}" does not exist at character 15',
                  RDS + f"STATEMENT:  SELECT * FROM {name};"]
    assert summary(records_of(lines)) == [("ERROR: SELECT * FROM nope1;", None),
                                          ("ERROR: SELECT * FROM nope2;", None)]


# -- a reused pid without a connection or disconnection line ------------------------------

OTHER = "2026-11-25 16:05:09 UTC:10.0.0.6(50099):bob@shop:[4242]:"


def test_a_reused_pid_with_the_same_statement_ids_is_another_execution() -> None:
    # log_connections/log_disconnections off, no %c: the next backend on pid 4242 starts
    # its statement ids at 1 again, like the last one's single statement
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        OTHER + "LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,t,insert into t values (1),<none>",
        OTHER + "LOG:  AUDIT: OBJECT,1,1,WRITE,INSERT,TABLE,t,insert into t values (1),<none>",
    ])
    assert [(r["accessor"]["dbUser"], r["data"]["originalSqlCommand"]) for r in records] == [
        ("alice", "select 1"), ("bob", "insert into t values (1)")]


def test_a_reused_pid_running_the_same_statement_is_another_execution() -> None:
    # the same SQL, but another client port: another backend
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        OTHER + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
    ])
    assert [r["sessionLocator"]["clientPort"] for r in records] == [50012, 50099]


def test_log_relation_lines_of_one_execution_still_make_one_record() -> None:
    # statement_once: the later lines of one execution say <previously logged>
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.a,select * from a join b "
              "using (id),<none>",
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.b,<previously logged>,"
              "<previously logged>",
    ])
    assert len(records) == 1


def test_an_unresolved_previously_logged_line_joins_its_execution() -> None:
    # the first line of the execution was read by another run (or evicted): the second
    # keeps <previously logged>, and so may the first one seen
    for first, second in (("select 1", "<previously logged>"),
                          ("<previously logged>", "select 1")):
        records = records_of([
            RDS + f"LOG:  AUDIT: OBJECT,7,1,READ,SELECT,TABLE,public.a,{first},<none>",
            RDS + f"LOG:  AUDIT: SESSION,7,1,READ,SELECT,TABLE,public.b,{second},<none>",
        ])
        assert len(records) == 1


# -- every output format stays valid on hard input (CLI, as users run it) -----------------

OCSF = OcsfSchema.load(OCSF_FIXTURES / "1.1.0")
AUDIT = "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"
JSONLOG_BASE = {
    "timestamp": "2026-11-25 16:05:01.123 UTC", "user": "alice", "dbname": "shop", "pid": 42,
    "remote_host": "10.0.0.5", "remote_port": 50012, "session_id": "6565f1a2.2a",
    "line_num": 3, "error_severity": "LOG",
    "message": "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"}


def _jsonlog(**changes: Any) -> str:
    return json.dumps({**JSONLOG_BASE, **changes})


def _hard_plain() -> str:
    return "".join(line + "\n" for line in [
        # ports no TCP connection has
        "2026-11-25 16:05:01 UTC:10.0.0.5(70000):alice@shop:[42]:" + AUDIT,
        "2026-11-25 16:05:01 UTC:10.0.0.5(99999):alice@shop:[43]:" + AUDIT,
        # an instant past datetime's range once in UTC (a reject, not a traceback)
        "9999-12-31 23:59:59 -12:[local]:bob@db:[44]:" + AUDIT,
        "0001-01-01 00:00:00 +14:[local]:bob@db:[45]:" + AUDIT,
        "2026-11-25 16:05:01 +1345:fe80::1%eth0(5432):[unknown]@[unknown]:[46]:" + AUDIT,
        "2026-11-25 16:05:01 UTC:[local]:bob@db:[47]:LOG:  connection received: host=10.0.0.9 "
        "port=123456",
    ])


def _hard_jsonlog() -> str:
    return "".join(line + "\n" for line in [
        _jsonlog(remote_port=70000), _jsonlog(remote_port=-1), _jsonlog(remote_port="x"),
        _jsonlog(message="AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select '\ud800',"
                         "<none>"),
        _jsonlog(user="al\udcffice", dbname="\ud83d"),
        _jsonlog(timestamp="9999-12-31 23:59:59.999 -12"),
        _jsonlog(error_severity="ERROR", state_code="XX", message="boom",
                 statement="select \udc80"),
        _jsonlog(error_severity="ERROR", state_code=12345, message="boom"),
    ])


def _hard_cloudwatch() -> str:
    message = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:" + AUDIT.replace(
        "select 1", "select '\ud800'")
    return json.dumps({"events": [{"timestamp": 1, "message": message,
                                   "logStreamName": "s", "eventId": "1"}]})


HARD_INPUTS = {"plain": ("hard.log", _hard_plain), "jsonlog": ("hard.json", _hard_jsonlog),
               "cloudwatch": ("hard-cw.json", _hard_cloudwatch)}


def _validator(fmt: str) -> jsonschema.Draft202012Validator:
    loaded = record_schema() if fmt == "records" else schema(fmt)
    return jsonschema.Draft202012Validator(
        loaded, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("kind", sorted(HARD_INPUTS))
@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_hard_input_gives_valid_output_and_dead_letters(tmp_path: Path, kind: str,
                                                         fmt: str) -> None:
    name, make = HARD_INPUTS[kind]
    path = tmp_path / name
    path.write_text(make(), encoding="utf-8", errors="surrogatepass")
    errors = tmp_path / "errors.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", fmt,
                           "--errors", str(errors), str(path)],
                          capture_output=True, timeout=120)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    out = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert out
    check = _validator(fmt)
    for obj in out:
        assert [e.message for e in check.iter_errors(obj)] == []
        if fmt == "ocsf":
            assert OCSF.validate(obj) == []
    text = json.dumps(out, ensure_ascii=False)
    if kind != "plain":  # a lone surrogate is written as its escape, like an invalid byte
        assert "\\\\ud800" in text or "\\\\udcff" in text
    rejects = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()] \
        if errors.exists() else []
    if kind != "cloudwatch":
        assert any("out of range" in r["reason"] for r in rejects)


def test_a_jsonlog_state_code_that_is_not_a_sqlstate_is_null_not_success() -> None:
    text = _jsonlog(error_severity="ERROR", state_code="XX", message="boom") + "\n" + \
        _jsonlog(error_severity="ERROR", message="boom") + "\n"
    entries = list(jsonlog_entries(io.StringIO(text), "x.json"))
    assert [e.fields.get("e") for e in entries] == [None, "00000"]


@pytest.mark.parametrize("kind", ["plain", "jsonlog"])
def test_a_pid_that_is_not_a_c_int_is_null_and_ocsf_parquet_is_written(tmp_path: Path,
                                                                        kind: str) -> None:
    if kind == "plain":
        text = "2026-11-25 16:05:01 UTC:[local]:bob@db:[9999999999]:" + AUDIT + "\n"
        path = tmp_path / "pid.log"
    else:
        text = _jsonlog(pid=10**20, leader_pid=2**40) + "\n"
        path = tmp_path / "pid.json"
    path.write_text(text, encoding="utf-8")
    [event] = pp.parse_file(str(path))
    assert event.pid is None and event.leader_pid is None
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "ocsf-parquet",
                           "--account-id", "123456789012", "--lake-region", "eu-west-1",
                           "--output", str(tmp_path / "lake"), str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert list((tmp_path / "lake").rglob("*.parquet"))


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_a_file_name_that_is_not_utf8_is_written_as_escapes(tmp_path: Path, fmt: str) -> None:
    # Python hands undecodable bytes of a path over as lone surrogates: the outputs (which
    # name the file) and the dead letters crashed with UnicodeEncodeError, or wrote the
    # raw byte (not UTF-8) to stdout
    name = tmp_path / "pg\udcff.log"
    name.write_text("2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:" + AUDIT
                    + "\nnot a log line\n", encoding="utf-8")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    for target in (["--output", str(out)], []):
        proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", fmt,
                               "--errors", str(errors), *target, str(name)],
                              capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
        written = out.read_bytes() if target else proc.stdout
        assert written and [json.loads(line) for line in written.decode("utf-8").splitlines()]
        [reject] = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
        assert reject["file"].endswith("pg\\xff.log")


def test_a_cloudwatch_stream_name_with_a_lone_surrogate_is_written_as_an_escape(
        tmp_path: Path) -> None:
    path = tmp_path / "cw.json"
    path.write_text(json.dumps({"events": [{
        "timestamp": 1, "eventId": "1", "logStreamName": "db-1\ud800",
        "message": "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:" + AUDIT}]}),
        encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "events",
                           str(path)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    [event] = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert event["stream"] == "db-1\\ud800"


def test_a_slow_extended_select_is_timed_not_the_fast_one_before_it() -> None:
    # log_min_duration_statement = 100, pgaudit.log_rows: an extended-protocol SELECT's
    # AUDIT line is written when its portal closes, after its execute duration (as a real
    # PostgreSQL 15 + pgAudit writes it): the 152 ms are execution 2's, not execution 1's
    sql = "SELECT pg_sleep($1);"
    records = records_of([
        RDS + f"LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,{sql},<not logged>,1",
        RDS + f"LOG:  duration: 152.860 ms  execute <unnamed>: {sql}",
        RDS + "DETAIL:  parameters: $1 = '0.15'",
        RDS + f"LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,{sql},<not logged>,1",
        RDS + f"LOG:  AUDIT: SESSION,3,1,READ,SELECT,,,{sql},<not logged>,1",
    ])
    assert [r["executionTime"] for r in records] == [None, 152860, None]


def test_an_extended_insert_keeps_its_own_execute_duration() -> None:
    # a DML statement's portal runs to its end in Execute: its AUDIT line comes first
    sql = "INSERT INTO t VALUES ($1);"
    records = records_of([
        RDS + f"LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,public.t,{sql},<not logged>,1",
        RDS + f"LOG:  duration: 150.000 ms  execute <unnamed>: {sql}",
        RDS + f"LOG:  AUDIT: SESSION,2,1,WRITE,INSERT,TABLE,public.t,{sql},<not logged>,1",
    ])
    assert [r["executionTime"] for r in records] == [150000, None]


@pytest.mark.parametrize(("text", "millis"), [
    # float seconds times 1000, truncated, lost a millisecond for some instants
    ("2038-08-12 16:44:16.114 UTC", 2165244256114),
    ("1967-11-05 05:20:51.768 UTC", -68063948232),
    ("2026-11-25 16:05:01.123 UTC", 1795622701123),
])
def test_the_record_time_is_the_exact_epoch_millisecond(text: str, millis: int) -> None:
    [record] = records_of([f"{text} [7] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,"
                           "<none>"], prefix="%m [%p] ")
    assert record["time"]["timstamp"] == millis
