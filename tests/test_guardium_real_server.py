"""Guardium records of a real PostgreSQL 15 + pgAudit log, checked record by record against
the csvlog of the same run (read with :mod:`csv` only) and against the Record schema.

For each configuration (``rds``, ``rich``: durations of every statement, simple and
extended protocol, log_relation; ``verbose``) the CLI's ``--format records`` must hold:

* one ``data`` record per statement execution: per (session, statement id, substatement
  id) of the csvlog's AUDIT lines, plus one per statement that only a duration line shows;
* ``executionTime`` in integer microseconds where durations are logged: a ``statement:``
  duration's own value, the sum of the parse/bind/execute phases of an extended-protocol
  execution; null where none is logged;
* one ``exception`` record per ERROR/FATAL/PANIC, LOGIN_FAILED for failed logins;
* the universal connector's field values, no password, and a valid record by the JSON
  Schema shipped in the package (derived from Guardium's Java classes).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pglast
import pytest
from csvlog import CsvLogRow, audit_fields, other_parts
from workload import ALICE_PASSWORD, BOB_PASSWORD, ServerRun

from pgaudit_parse.formats.guardium import record_schema

jsonschema = pytest.importorskip("jsonschema")

ACCOUNT, INSTANCE = "123456789012", "db1"
PREVIOUSLY_LOGGED = "<previously logged>"
DURATION = re.compile(r"duration: (\d+\.\d+) ms  (statement|parse|bind|execute)(?: [^:]*)?: "
                      r"(.*)\Z", re.DOTALL)
PASSWORD = re.compile(r"(password\s+)'(?:[^']|'')*'", re.IGNORECASE)


def micros(ms: str) -> int:
    """Guardium's executionTime of a logged duration, as the connector computes it."""
    return int(float(ms) * 1000)


def redacted(sql: str) -> str:
    return PASSWORD.sub(r"\1<REDACTED>", sql)


def statements_of(sql: str) -> list[str]:
    """The statements of a multi-statement string, by PostgreSQL's parser (pglast)."""
    try:
        return list(pglast.split(sql))
    except pglast.parser.ParseError:
        return [sql]


def shows_same_sql(audit_text: str, other: str) -> bool:
    """pgAudit cuts a password (and what follows) to <REDACTED>; other lines do not. A
    record of a multi-statement string has one statement; durations show the string."""
    if audit_text == other:
        return True
    if audit_text.endswith("<REDACTED>") and other.startswith(audit_text[:-10]):
        return True
    parts = statements_of(other) if ";" in other.rstrip().rstrip(";") else []
    return len(parts) > 1 and audit_text in parts


def record_text(sql: str) -> str:
    """What a record shows of a duration's SQL: the last statement of a multi-statement
    string (its pgAudit execution is the one still open when the duration comes)."""
    parts = statements_of(sql) if ";" in sql.rstrip().rstrip(";") else []
    return parts[-1] if len(parts) > 1 else sql


@pytest.fixture(scope="module")
def records(server_run: ServerRun, tmp_path_factory: pytest.TempPathFactory
            ) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("records") / "records.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", "--prefix", server_run.prefix,
         "--account-id", ACCOUNT, "--instance", INSTANCE, "--output", str(out),
         str(server_run.stderr_log)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


class AnswerKey:
    """What the records must be, from the csvlog alone."""

    def __init__(self, rows: list[CsvLogRow]) -> None:
        self.rows = rows
        # (session, statement id, substatement id) -> [pid, statement text or None]
        self.executions: dict[tuple[str, str, str], list[Any]] = {}
        self.durations: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self.pid_of: dict[str, int] = {}
        for row in rows:
            self.pid_of[row.session_id] = row.process_id
            if row.is_audit and row.error_severity == "LOG":
                fields = audit_fields(row.message)
                key = (row.session_id, fields[1], fields[2])
                entry = self.executions.setdefault(key, [row.process_id, None])
                if fields[7] != PREVIOUSLY_LOGGED and entry[1] is None:
                    entry[1] = fields[7]
            elif row.error_severity == "LOG":
                found = DURATION.match(row.message)
                if found:
                    ms, phase, sql = found.groups()
                    if row.detail is not None and row.detail.startswith("prepare: "):
                        # an SQL-level EXECUTE ran the prepared query, whose pgAudit line
                        # shows the PREPARE (its own MISC line is part of that execution)
                        sql = row.detail[len("prepare: "):]
                    self.durations[row.session_id].append((ms, phase, sql))
        # The parts of one execution (CREATE TABLE AS and its SELECT, a function call)
        # are one record
        for key in other_parts(rows):
            del self.executions[key]
        # Each audit line of a multi-statement string gets its own statement (docs/sql.md):
        # the k-th statement id of a string in a session is its k-th statement (every
        # statement of the workload's multi-statement strings has an audit line).
        seen: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (session, statement_id, _), entry in self.executions.items():
            text = entry[1]
            if text is None or ";" not in text.rstrip().rstrip(";"):
                continue
            parts = statements_of(text)
            if len(parts) < 2:
                continue
            ids = seen[(session, text)]
            if statement_id not in ids:
                ids.append(statement_id)
            entry[1] = parts[ids.index(statement_id)]

    def audit_texts(self, session: str) -> list[str]:
        return [text for (s, _, _), (_, text) in self.executions.items()
                if s == session and text is not None]

    def duration_only(self) -> list[tuple[int, str, int]]:
        """(pid, sql, µs) of statements that only a duration line shows."""
        out = []
        for session, items in self.durations.items():
            texts = self.audit_texts(session)
            for ms, phase, sql in items:
                if phase == "statement" and not any(shows_same_sql(t, sql) for t in texts):
                    out.append((self.pid_of[session], redacted(sql), micros(ms)))
        return out

    def timed(self) -> Counter[tuple[int, str, int]]:
        """(pid, sql, µs) of every audited execution whose time the log gives."""
        out: Counter[tuple[int, str, int]] = Counter()
        for session, items in self.durations.items():
            texts = self.audit_texts(session)
            phases: dict[str, int] = defaultdict(int)
            for ms, phase, sql in items:
                if not any(shows_same_sql(t, sql) for t in texts):
                    continue
                if phase == "statement":
                    out[(self.pid_of[session], redacted(record_text(sql)), micros(ms))] += 1
                    continue
                phases[sql] += micros(ms)
                if phase == "execute":
                    out[(self.pid_of[session], redacted(sql), phases.pop(sql))] += 1
        return out

    def errors(self) -> list[CsvLogRow]:
        return [r for r in self.rows if r.error_severity in ("ERROR", "FATAL", "PANIC")]


def test_every_record_is_valid_by_the_record_schema(records: list[dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(record_schema())
    problems = [f"record {i}: {error.message} at {list(error.absolute_path)}"
                for i, record in enumerate(records)
                for error in validator.iter_errors(record)]
    assert not problems, "\n".join(problems[:20])
    assert records


def test_one_data_record_per_statement_execution(server_run: ServerRun,
                                                 records: list[dict[str, Any]]) -> None:
    key = AnswerKey(server_run.csv_rows())
    data = [r for r in records if r["data"] is not None]
    assert len(data) == len(key.executions) + len(key.duration_only()), (
        len(data), len(key.executions), len(key.duration_only()))
    # each execution's statement is there, in its session (sessionId is the pid)
    written = Counter((int(r["sessionId"]), r["data"]["originalSqlCommand"]) for r in data)
    wanted = Counter((pid, redacted(text)) for pid, text in key.executions.values()
                     if text is not None)
    assert not wanted - written, wanted - written


def test_execution_time_is_integer_microseconds_where_durations_are_logged(
        server_run: ServerRun, records: list[dict[str, Any]]) -> None:
    key = AnswerKey(server_run.csv_rows())
    data = [r for r in records if r["data"] is not None]
    times = [r["executionTime"] for r in data]
    assert all(t is None or type(t) is int for t in times)
    if server_run.settings.get("log_min_duration_statement") != "0":
        assert all(t is None for t in times)
        return
    written = Counter((int(r["sessionId"]), r["data"]["originalSqlCommand"], r["executionTime"])
                      for r in data)
    timed = key.timed()
    assert timed and not timed - written, timed - written
    only = Counter(key.duration_only())
    assert not only - written, only - written
    # the extended protocol's phases were summed into one record
    pgbench = {(pid, sql) for (pid, sql, _) in timed if "$1" in sql}
    assert pgbench, "the workload runs pgbench -M extended/prepared"


def test_one_exception_record_per_error(server_run: ServerRun,
                                        records: list[dict[str, Any]]) -> None:
    key = AnswerKey(server_run.csv_rows())
    exceptions = [r for r in records if r["exception"] is not None]
    errors = key.errors()
    assert len(exceptions) == len(errors) > 0
    wanted = Counter((r.process_id, r.message.replace('"', ""),
                      redacted(r.query) if r.query else "NA") for r in errors)
    written = Counter((int(r["sessionId"]), r["exception"]["description"],
                       r["exception"]["sqlString"]) for r in exceptions)
    assert written == wanted
    logins = Counter(r["exception"]["exceptionTypeId"] for r in exceptions)
    assert logins["LOGIN_FAILED"] == sum(1 for r in errors if r.sql_state_code.startswith("28")
                                         and r.error_severity == "FATAL") >= 2


def test_records_carry_the_connectors_values(server_run: ServerRun,
                                             records: list[dict[str, Any]]) -> None:
    pids = {r.process_id: r for r in server_run.csv_rows()}
    for record in records:
        accessor = record["accessor"]
        row = pids[int(record["sessionId"])]
        database = row.database_name or "NA"
        if "%d" not in server_run.prefix and record["dbName"].endswith(":NA"):
            # without %d the database comes from the session's connection lines, which a
            # refused login does not have
            assert record["exception"]["exceptionTypeId"] == "LOGIN_FAILED"
        else:
            assert record["dbName"] == f"{ACCOUNT}:{INSTANCE}:{database}"
        assert accessor["serviceName"] == record["dbName"]
        assert accessor["serverHostName"] == f"{ACCOUNT}_{INSTANCE}"
        assert record["appUserName"] == "AWSService"
        assert accessor["commProtocol"] == "AwsApiCall"
        assert accessor["dbProtocol"] == accessor["serverType"] == "POSTGRESQL"
        assert (accessor["language"], accessor["dataType"]) == ("PGRS", "TEXT")
        assert record["sessionLocator"]["serverIp"] == "0.0.0.0"
        assert record["sessionLocator"]["serverPort"] == -1


def test_no_password_reaches_a_record(records: list[dict[str, Any]]) -> None:
    text = json.dumps(records)
    assert ALICE_PASSWORD not in text and BOB_PASSWORD not in text


def test_the_checked_in_real_logs_give_valid_records(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    validator = jsonschema.Draft202012Validator(record_schema())
    for name, prefix in (("real-rds.log", "%t:%r:%u@%d:[%p]:"),
                         ("real-rich.log", "%m [%p] %q%u@%d %r %e %l %c ")):
        proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--prefix", prefix,
                               str(fixtures / name)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        objects = [json.loads(line) for line in proc.stdout.splitlines()]
        assert objects
        for record in objects:
            validator.validate(record)


def test_the_schema_rejects_what_guardium_would_not_take() -> None:
    validator = jsonschema.Draft202012Validator(record_schema())
    good = json.loads(subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", "-"], capture_output=True, text=True,
        input="2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:LOG:  "
              "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>\n", timeout=60,
    ).stdout)
    validator.validate(good)
    bad = [
        {**good, "executionTime": 0.25},                        # not an Integer
        {**good, "executionTime": 2**31},                       # beyond a Java Integer
        {k: v for k, v in good.items() if k != "sessionId"},     # a mandatory field
        {**good, "exception": {"exceptionTypeId": "SQL_ERROR", "description": "x",
                               "sqlString": "NA"}},              # data and exception
        {**good, "time": {**good["time"], "timestamp": 1}},     # Guardium spells timstamp
        {**good, "sessionLocator": {**good["sessionLocator"], "clientPort": "5"}},
    ]
    for record in bad:
        assert not validator.is_valid(record), record
