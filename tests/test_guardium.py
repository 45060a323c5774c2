"""Guardium records: the universal connector's values, one record per statement execution,
execution times in integer microseconds, and no password (issue 10).

Each test names the defect it pins down; the inputs are log lines as PostgreSQL writes
them (the RDS prefix unless a test says otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pgaudit_parse as pp
from pgaudit_parse.formats.guardium import RecordBuilder, duration_micros

RDS = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:"
ACCOUNT, INSTANCE = "123456789012", "db1"


def records_of(lines: list[str], prefix: str = pp.RDS_PREFIX, account_id: str = ACCOUNT,
               instance: str = INSTANCE, **options: Any) -> list[dict[str, Any]]:
    """Records of log lines through the one record builder (as every producer uses it)."""
    builder = RecordBuilder(account_id, instance, **options)
    out = [r for e in pp.parse_lines(lines, prefix=prefix) for r in builder.add(e)]
    return out + builder.flush()


def sql_of(records: list[dict[str, Any]]) -> list[str]:
    return [r["data"]["originalSqlCommand"] if r["data"] else r["exception"]["sqlString"]
            for r in records]


# -- 1. executionTime: Integer microseconds, converted as the connector converts ------------

@pytest.mark.parametrize(("text", "micros"), [
    ("0.919", 919), ("125.456", 125456), ("0.001", 1), ("2.000", 2000),
    # The connector computes (int) (Double.parseDouble(ms) * 1000): truncation of the
    # IEEE product, so 1.005 ms (1004.9999999999999) is 1004, as Java gives.
    ("1.005", 1004),
    # Integer.MAX_VALUE: Java's (int) cast saturates; so do we (35 minutes 47 seconds).
    ("3600000.000", 2147483647),
])
def test_execution_time_is_integer_microseconds(text: str, micros: int) -> None:
    assert duration_micros(float(text)) == micros
    [record] = records_of([RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
                           RDS + f"LOG:  duration: {text} ms  statement: select 1"])
    assert record["executionTime"] == micros and type(record["executionTime"]) is int


def test_execution_time_is_null_when_no_duration_is_logged() -> None:
    [record] = records_of([RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>"])
    assert record["executionTime"] is None


# -- 2. the connector's field values -------------------------------------------------------

def test_accessor_and_record_fields_are_the_connectors() -> None:
    [record] = records_of([RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>"])
    assert record["dbName"] == "123456789012:db1:shop"
    assert record["accessor"]["serviceName"] == record["dbName"]
    assert record["accessor"]["serverHostName"] == "123456789012_db1"
    assert record["appUserName"] == "AWSService"
    assert record["accessor"]["commProtocol"] == "AwsApiCall"
    assert record["sessionId"] == "4242"
    assert record["sessionLocator"] == {
        "clientIp": "10.0.0.5", "clientPort": 50012, "serverIp": "0.0.0.0", "serverPort": -1,
        "isIpv6": False, "clientIpv6": None, "serverIpv6": None}
    assert record["accessor"]["dbProtocol"] == "POSTGRESQL"
    assert record["accessor"]["dataType"] == "TEXT"


def test_error_without_statement_has_sql_string_na_and_unquoted_description() -> None:
    [record] = records_of([RDS + 'ERROR:  relation "nosuch" does not exist'])
    assert record["exception"] == {"exceptionTypeId": "SQL_ERROR",
                                   "description": "relation nosuch does not exist",
                                   "sqlString": "NA"}
    assert record["data"] is None


def test_unknown_user_and_database_are_na_like_the_connector() -> None:
    line = "2026-11-25 16:05:01 UTC:[local]:@:[77]:ERROR:  out of shared memory"
    [record] = records_of([line])
    assert record["accessor"]["dbUser"] == "NA"
    assert record["dbName"] == record["accessor"]["serviceName"] == "123456789012:db1:NA"
    assert (record["sessionLocator"]["clientIp"], record["sessionLocator"]["clientPort"]) == (
        "0.0.0.0", -1)


def test_postgres_values_option_keeps_what_the_log_says() -> None:
    prefix = "%m [%p] %a %c "
    line = ("2026-11-25 16:05:01.250 UTC [7] psql 6b0d9468.7 LOG:  AUDIT: SESSION,1,1,READ,"
            "SELECT,,,select 1,<none>")
    [connector] = records_of([line], prefix=prefix)
    [native] = records_of([line], prefix=prefix, values="postgres")
    assert (connector["appUserName"], connector["sessionId"]) == ("AWSService", "7")
    assert (native["appUserName"], native["sessionId"]) == ("psql", "6b0d9468.7")
    assert native["accessor"]["sourceProgram"] == "psql"
    with pytest.raises(ValueError, match="values"):
        RecordBuilder(values="nonsense")


# -- 3. one record per statement execution -----------------------------------------------

def test_session_and_object_lines_of_one_statement_make_one_record() -> None:
    records = records_of([
        RDS + "LOG:  AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.t,select * from t,<none>",
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select * from t,<none>",
        RDS + "LOG:  AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.t,select * from t,<none>",
    ])
    assert sql_of(records) == ["select * from t", "select * from t"]


def test_log_relation_lines_of_one_statement_make_one_record() -> None:
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,9,1,READ,SELECT,VIEW,public.v,select * from v,<none>,1",
        RDS + "LOG:  AUDIT: SESSION,9,1,MISC,???,VIEW,public.v,<previously logged>,"
              "<previously logged>,1",
        RDS + "LOG:  AUDIT: OBJECT,9,1,READ,SELECT,TABLE,public.a,<previously logged>,"
              "<previously logged>,1",
        RDS + "LOG:  AUDIT: SESSION,9,1,READ,SELECT,TABLE,public.b,<previously logged>,"
              "<previously logged>,1",
        RDS + "LOG:  duration: 0.481 ms  statement: select * from v",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"], r["recordsAffected"])
            for r in records] == [("select * from v", 481, 1)]


def test_extended_protocol_phases_make_one_record_with_their_sum() -> None:
    sql = "SELECT id FROM customers WHERE id = $1;"
    records = records_of([
        RDS + f"LOG:  duration: 0.467 ms  parse <unnamed>: {sql}",
        RDS + f"LOG:  duration: 0.352 ms  bind <unnamed>: {sql}",
        RDS + f"LOG:  duration: 0.025 ms  execute <unnamed>: {sql}",
        RDS + f'LOG:  AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.customers,"{sql}",2,1',
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,"
              "<previously logged>,<previously logged>,1",
        # the next execution of the same prepared statement: bind and execute only (with
        # pgaudit.log_rows a SELECT's AUDIT line follows its execute duration, as above:
        # it is written when the portal closes)
        RDS + f"LOG:  duration: 0.300 ms  bind P_0: {sql}",
        RDS + f"LOG:  duration: 0.020 ms  execute P_0: {sql}",
        RDS + f'LOG:  AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.customers,"{sql}",3,1',
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        (sql, 467 + 352 + 25), (sql, 320)]


def test_a_multi_statement_query_times_its_last_statement_once() -> None:
    text = "SELECT 1 AS first ; SELECT 2 AS second;"
    records = records_of([
        RDS + f"LOG:  AUDIT: SESSION,18,1,READ,SELECT,,,{text},<none>,1",
        RDS + f"LOG:  AUDIT: SESSION,19,1,READ,SELECT,,,{text},<none>,1",
        RDS + f"LOG:  duration: 0.044 ms  statement: {text}",
    ])
    assert [r["executionTime"] for r in records] == [None, 44]


def test_sub_statements_are_their_own_records_and_the_duration_finds_its_statement() -> None:
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,7,1,WRITE,INSERT,TABLE,public.o,insert into o values (1),"
              "<none>,1",
        RDS + "LOG:  AUDIT: SESSION,7,2,READ,SELECT,,,select add_order(2),<none>,1",
        RDS + "LOG:  WARNING:  something inside",
        RDS + "LOG:  duration: 0.246 ms  statement: select add_order(2)",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("insert into o values (1)", None), ("select add_order(2)", 246)]


# The parts of one execution (seen on a real server: tests/test_guardium_statements_real.py)

@pytest.mark.parametrize("second", [
    "SESSION,3,2,DDL,CREATE TABLE AS,,,create table t2 as select * from t,<none>",
    "SESSION,3,2,DDL,SELECT INTO,,,create table t2 as select * from t,<none>",
    "SESSION,3,2,READ,COPY,,,create table t2 as select * from t,<none>",
    "SESSION,3,2,FUNCTION,EXECUTE,FUNCTION,public.f,create table t2 as select * from t,<none>",
])
def test_the_parts_pgaudit_logs_of_one_statement_make_one_record(second: str) -> None:
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,3,1,READ,SELECT,,,create table t2 as select * from t,<none>",
        RDS + "LOG:  AUDIT: " + second,
        RDS + "LOG:  duration: 0.500 ms  statement: create table t2 as select * from t",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("create table t2 as select * from t", 500)]


def test_a_function_call_with_log_rows_is_one_record_with_its_body_apart() -> None:
    # pgaudit.log_rows logs at executor end: the call first, the calling SELECT last
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,4,1,FUNCTION,EXECUTE,FUNCTION,public.fw,select fw(5),"
              "<none>,0",
        RDS + "LOG:  AUDIT: OBJECT,4,2,WRITE,INSERT,TABLE,public.t,insert into t values (n),"
              "<none>,1",
        RDS + "LOG:  AUDIT: SESSION,4,2,WRITE,INSERT,TABLE,public.t,insert into t values (n),"
              "<none>,1",
        RDS + "LOG:  AUDIT: SESSION,4,3,READ,SELECT,,,select fw(5),<none>,1",
        RDS + "LOG:  duration: 1.000 ms",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"], r["recordsAffected"])
            for r in records] == [("select fw(5)", 1000, 1), ("insert into t values (n)", None, 1)]


def test_a_loop_running_one_statement_again_is_one_record_per_iteration() -> None:
    do = "do $$ begin for i in 1..2 loop perform fw(i); end loop; end $$"
    records = records_of([
        RDS + f"LOG:  AUDIT: SESSION,5,1,FUNCTION,DO,,,\"{do}\",<none>",
        RDS + "LOG:  AUDIT: SESSION,5,2,READ,SELECT,,,select fw(i),<none>",
        RDS + "LOG:  AUDIT: SESSION,5,3,FUNCTION,EXECUTE,FUNCTION,public.fw,select fw(i),<none>",
        RDS + "LOG:  AUDIT: SESSION,5,4,WRITE,INSERT,,,insert into t values (n),<none>",
        RDS + "LOG:  AUDIT: SESSION,5,5,READ,SELECT,,,select fw(i),<none>",
        RDS + "LOG:  AUDIT: SESSION,5,6,FUNCTION,EXECUTE,FUNCTION,public.fw,select fw(i),<none>",
        RDS + "LOG:  AUDIT: SESSION,5,7,WRITE,INSERT,,,insert into t values (n),<none>",
    ])
    assert sql_of(records) == [do] + ["select fw(i)", "insert into t values (n)"] * 2


def test_a_rules_action_is_part_of_the_statement_log_statement_showed() -> None:
    # CREATE RULE r AS ON INSERT TO rr DO ALSO ...: the action runs as a query of its own
    # (a new statement id, the client's text); the client ran one statement
    records = records_of([
        RDS + "LOG:  statement: insert into rr values (1);",
        RDS + "LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,,,insert into rr values (1);,<none>",
        RDS + "LOG:  AUDIT: SESSION,2,1,WRITE,INSERT,,,insert into rr values (1);,<none>",
        RDS + "LOG:  duration: 0.300 ms",
        RDS + "LOG:  statement: insert into rr values (1);",
        RDS + "LOG:  AUDIT: SESSION,3,1,WRITE,INSERT,,,insert into rr values (1);,<none>",
        RDS + "LOG:  AUDIT: SESSION,4,1,WRITE,INSERT,,,insert into rr values (1);,<none>",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("insert into rr values (1);", 300), ("insert into rr values (1);", None)]


def test_an_sql_level_execute_and_its_misc_line_are_one_record() -> None:
    # pgaudit.log = 'all': the prepared query's line shows the PREPARE, the MISC line the
    # EXECUTE (substatement 2); the duration shows the EXECUTE, with DETAIL: prepare:
    prepare = "PREPARE q(int) AS SELECT * FROM t WHERE id = $1;"
    records = records_of([
        RDS + f"LOG:  AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.t,{prepare},<none>,1",
        RDS + "LOG:  AUDIT: SESSION,2,2,MISC,EXECUTE,,,EXECUTE q(1);,<none>,0",
        RDS + "LOG:  duration: 0.199 ms  statement: EXECUTE q(1);",
        RDS + f"DETAIL:  prepare: {prepare}",
        RDS + f"LOG:  AUDIT: SESSION,3,1,READ,SELECT,TABLE,public.t,{prepare},<none>,1",
        RDS + "LOG:  AUDIT: SESSION,3,2,MISC,EXECUTE,,,EXECUTE other(1);,<none>,0",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"], r["recordsAffected"])
            for r in records] == [(prepare, 199, 1), (prepare, None, 1),
                                  ("EXECUTE other(1);", None, 0)]


@pytest.mark.parametrize("statement_line", [True, False])
def test_a_block_running_more_statements_than_are_held_keeps_its_own_time(
        statement_line: bool) -> None:
    # log_duration: one textless duration per query string, after everything the block ran
    do = "do $$ begin for i in 1..100 loop insert into t values (i); end loop; end $$"
    records = records_of(
        ([RDS + f"LOG:  statement: {do}"] if statement_line else [])
        + [RDS + f"LOG:  AUDIT: SESSION,1,1,FUNCTION,DO,,,\"{do}\",<none>"]
        + [RDS + f"LOG:  AUDIT: SESSION,1,{n},WRITE,INSERT,,,insert into t values (i),<none>"
           for n in range(2, 102)]
        + [RDS + "LOG:  duration: 4.339 ms"])
    assert len(records) == 101
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records
            if r["executionTime"] is not None or "insert" not in r["data"]["originalSqlCommand"]
            ] == [(do, 4339)]


def test_the_same_statement_on_a_reused_pid_is_no_rule_action() -> None:
    # (no connection lines logged, the socket: no port) a new backend numbers from 1 again
    local = "2026-11-25 16:05:01 UTC:[local]:alice@shop:[4242]:"
    records = records_of([
        local + "LOG:  statement: insert into rr values (1);",
        local + "LOG:  AUDIT: SESSION,5,1,WRITE,INSERT,,,insert into rr values (1);,<none>",
        local + "LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,,,insert into rr values (1);,<none>",
    ])
    assert len(records) == 2


def test_an_auto_explain_plan_is_no_record_and_no_time() -> None:
    records = records_of([
        RDS + "LOG:  statement: select * from t;",
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select * from t;,<none>",
        RDS + "LOG:  duration: 0.010 ms  plan:",
        "\tQuery Text: select * from t;",
        "\tSeq Scan on t  (cost=0.00..22.70 rows=1270 width=36) (actual time=0.003..0.004 "
        "rows=2 loops=1)",
        RDS + "LOG:  duration: 0.200 ms",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("select * from t;", 200)]


# -- 4. statements seen only through log_statement or a duration line ---------------------

def test_log_statement_only_statements_give_one_record_each() -> None:
    records = records_of([
        RDS + "LOG:  statement: vacuum t",
        RDS + "LOG:  execute S_1: select * from t where id = $1",
        RDS + "DETAIL:  parameters: $1 = '1'",
    ])
    assert sql_of(records) == ["vacuum t", "select * from t where id = $1"]
    assert all(r["data"]["construct"] is None and r["exception"] is None for r in records)


def test_a_statement_logged_by_pgaudit_and_log_statement_gives_one_record() -> None:
    records = records_of([
        RDS + "LOG:  statement: select 1",
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        RDS + "LOG:  duration: 0.100 ms",  # log_duration: no text
        RDS + "LOG:  statement: select 2",
        RDS + "LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,select 2,<none>",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("select 1", 100), ("select 2", None)]


def test_duration_only_statements_give_one_record_with_the_password_redacted() -> None:
    records = records_of([
        RDS + "LOG:  duration: 2.000 ms  statement: vacuum",
        RDS + "LOG:  duration: 1.000 ms  statement: create role x password 'pw' login",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("vacuum", 2000), ("create role x password <REDACTED> login", 1000)]
    assert "'pw'" not in json.dumps(records)


def test_log_statement_text_with_a_password_is_redacted() -> None:
    records = records_of([RDS + "LOG:  statement: alter role x password 'secret-1'"])
    assert "secret-1" not in json.dumps(records)


def test_error_statement_line_never_carries_a_password() -> None:
    records = records_of([
        RDS + 'ERROR:  role "x" does not exist',
        RDS + "STATEMENT:  alter role x password 'secret-2'",
    ])
    assert records[0]["exception"]["sqlString"] == "alter role x password <REDACTED>"
    assert "secret-2" not in json.dumps(records)


# -- 5. durations join their statement by session, not by pid -----------------------------

def test_durations_join_by_session_id_without_pid() -> None:
    prefix = "%m %c %u@%d "
    a = "2026-11-25 16:05:01.000 UTC 6b0d9468.1 alice@shop "
    b = "2026-11-25 16:05:01.000 UTC 6b0d9468.2 bob@shop "
    records = records_of([
        a + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 'a',<none>",
        b + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 'b',<none>",
        a + "LOG:  duration: 1.000 ms  statement: select 'a'",
        b + "LOG:  duration: 2.000 ms  statement: select 'b'",
    ], prefix=prefix)
    assert sorted((r["accessor"]["dbUser"], r["data"]["originalSqlCommand"],
                   r["executionTime"]) for r in records) == [
        ("alice", "select 'a'", 1000), ("bob", "select 'b'", 2000)]


def test_a_reused_pid_is_another_session() -> None:
    records = records_of([
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        RDS + "LOG:  disconnection: session time: 0:00:01.000 user=alice database=shop "
              "host=10.0.0.5 port=50012",
        RDS + "LOG:  duration: 3.000 ms  statement: select 1",
    ])
    assert [r["executionTime"] for r in records] == [None, 3000]


# -- bounded memory -------------------------------------------------------------------------

def test_held_records_are_bounded_in_count_and_time() -> None:
    builder = RecordBuilder(max_held=50)
    written = 0
    for pid in range(1000):
        line = (f"2026-11-25 16:05:01 UTC:[local]:u@d:[{pid}]:LOG:  AUDIT: SESSION,1,1,READ,"
                "SELECT,,,select 1,<none>")
        for event in pp.parse_lines([line]):
            written += len(builder.add(event))
        assert builder.held() <= 50
    assert written + len(builder.flush()) == 1000
    # long statements: the held text is bounded too
    builder = RecordBuilder(max_held_bytes=100_000)
    written = 0
    for pid in range(100):
        line = (f"2026-11-25 16:05:01 UTC:[local]:u@d:[{pid}]:LOG:  AUDIT: SESSION,1,1,READ,"
                f"SELECT,,,select '{'x' * 10_000}',<none>")
        for event in pp.parse_lines([line]):
            written += len(builder.add(event))
        assert builder.held() <= 10
    assert written + len(builder.flush()) == 100
    # a session left alone: a later line of any session, max_wait seconds on, releases it
    builder = RecordBuilder(max_wait=5.0)
    [audit] = pp.parse_lines(["2026-11-25 16:05:01 UTC:[local]:u@d:[1]:LOG:  AUDIT: SESSION,1,"
                              "1,READ,SELECT,,,select 1,<none>"])
    [later] = pp.parse_lines(["2026-11-25 16:05:07 UTC:[local]:u@d:[2]:LOG:  hello"])
    assert builder.add(audit) == [] and len(builder.add(later)) == 1


@pytest.mark.parametrize("duration", [
    "duration: 400012.500 ms  statement: select pg_sleep(400)",  # log_min_duration_statement
    "duration: 400012.500 ms",  # log_duration, log_statement showed it
])
def test_a_statement_running_longer_than_an_execution_waits_is_still_one_record(
        duration: str) -> None:
    # Session 1's statement runs 400 s while session 2 works: its record is written when
    # the wait (300 s of log time) is over, and its duration line, 400 s later, must not
    # make a second record of it (it made one with the time: two for one execution).
    def at(clock: str, pid: int, text: str) -> str:
        return f"2026-11-25 16:{clock} UTC:10.0.0.{pid}(5000{pid}):u@d:[{pid}]:LOG:  {text}"
    builder = RecordBuilder()
    lines = [at("00:00", 1, "statement: select pg_sleep(400)"),
             at("00:00", 1, "AUDIT: SESSION,1,1,READ,SELECT,,,select pg_sleep(400),<none>"),
             *(at(f"0{m}:00", 2, f"AUDIT: SESSION,{m},1,READ,SELECT,,,select {m},<none>")
               for m in range(1, 7)),
             at("06:40", 1, duration),
             at("06:41", 1, "statement: select pg_sleep(400)"),
             at("06:41", 1, "AUDIT: SESSION,2,1,READ,SELECT,,,select pg_sleep(400),<none>"),
             at("06:41", 1, "duration: 1.000 ms  statement: select pg_sleep(400)"
                if "statement" in duration else "duration: 1.000 ms")]
    records = [r for e in pp.parse_lines(lines) for r in builder.add(e)] + builder.flush()
    mine = [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records
            if r["sessionId"] == "1"]
    assert mine == [("select pg_sleep(400)", None), ("select pg_sleep(400)", 1000)]
    assert builder.released_early == 1  # (the CLI warns: written before its duration)


def test_a_long_statement_of_the_only_active_session_keeps_its_time() -> None:
    # nothing else was logged while it ran: its own duration line ends the wait
    p = "2026-11-25 16:{} UTC:10.0.0.1(50001):u@d:[1]:LOG:  "
    records = records_of([
        p.format("00:00") + "AUDIT: SESSION,1,1,READ,SELECT,,,select pg_sleep(400),<none>",
        p.format("06:40") + "duration: 400012.500 ms  statement: select pg_sleep(400)",
    ])
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("select pg_sleep(400)", 400012500)]


# -- the conformance cases taken from the connector's own tests ---------------------------

CONFORMANCE = Path(__file__).resolve().parent.parent / "fixtures" / "guardium-connector"


def _dig(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value[part]
    return value


@pytest.mark.parametrize("path", sorted(CONFORMANCE.glob("*.json")), ids=lambda p: p.stem)
def test_connector_conformance_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    records = records_of(case["lines"], prefix=case.get("prefix", pp.RDS_PREFIX),
                         account_id=case["account_id"], instance=case["instance"])
    assert len(records) == case.get("records", 1)
    record = records[case.get("index", 0)]
    docs = (Path(__file__).resolve().parent.parent / "docs" / "guardium.md").read_text()
    for field, want in case["expected"].items():
        assert _dig(record, field) == want, field
    for field, connector in case.get("differences", {}).items():
        # a deliberate difference: the connector's value is not ours, and docs say why
        assert _dig(record, field) != connector, field
        assert f"`{field}`" in docs, f"docs/guardium.md does not explain {field}"


def test_there_are_conformance_cases() -> None:
    assert len(list(CONFORMANCE.glob("*.json"))) >= 6


def test_the_same_instant_in_two_zones_keeps_each_offset() -> None:
    # A defect found on the way: the time fields were cached by datetime, and two
    # datetimes of one instant compare equal whatever their zones, so the second zone's
    # record took the first one's minOffsetFromGMT.
    utc, cet = records_of([
        "2026-11-25 16:05:01 UTC:[local]:u@d:[1]:ERROR:  a",
        "2026-11-25 17:05:01 CET:[local]:u@d:[2]:ERROR:  b",
    ])
    assert utc["time"]["timstamp"] == cet["time"]["timstamp"]
    assert (utc["time"]["minOffsetFromGMT"], cet["time"]["minOffsetFromGMT"]) == (0, 60)


def test_a_parse_phase_never_joins_an_earlier_execution() -> None:
    # log_min_duration_statement above zero: the first execution's own duration was too
    # short to be logged; the next execution's slow parse is not its time.
    sql = "select * from t where id = $1"
    records = records_of([
        RDS + f"LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,{sql},<none>",
        RDS + f"LOG:  duration: 150.000 ms  parse S_1: {sql}",
        RDS + f"LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,{sql},<none>",
    ])
    assert [r["executionTime"] for r in records] == [None, 150000]


def test_held_sources_name_every_input_a_pending_record_needs() -> None:
    builder = RecordBuilder()
    lines = [pp.Line(RDS + "LOG:  AUDIT: OBJECT,1,1,READ,SELECT,TABLE,t,select 1,<none>",
                     "q#m1", 1),
             pp.Line(RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,t,select 1,<none>",
                     "q#m2", 1)]
    for event in pp.parse_lines(lines):
        assert builder.add(event) == []
    assert builder.held_sources() == {"q#m1", "q#m2"}
    assert len(builder.flush()) == 1 and builder.held_sources() == set()


def test_cli_values_option(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "a.log"
    log.write_text("2026-11-25 16:05:01.000 UTC [7] psql 6b0d9468.7 LOG:  AUDIT: SESSION,1,1,"
                   "READ,SELECT,,,select 1,<none>\n")
    command = [sys.executable, "-m", "pgaudit_parse", "--prefix", "%m [%p] %a %c ", str(log)]
    default = subprocess.run(command, capture_output=True, text=True, timeout=60)
    native = subprocess.run([*command, "--values", "postgres"], capture_output=True,
                            text=True, timeout=60)
    assert json.loads(default.stdout)["appUserName"] == "AWSService"
    assert json.loads(native.stdout)["appUserName"] == "psql"
    wrong = subprocess.run([*command, "--values", "guardium"], capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 2 and "--values" in wrong.stderr and "Traceback" not in wrong.stderr
