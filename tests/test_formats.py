"""OCSF, ECS and events outputs: valid against their schemas, and right value by value.

Every object the CLI writes for a real server's log (the small logs in fixtures/ and the
full workload of ``server_run``) is validated against the JSON Schema the package ships
(``pgaudit_parse/formats/schemas``) and, for OCSF, against the OCSF 1.1.0 schema files in
fixtures/ocsf (:mod:`ocsf_schema`). Values are then checked against the csvlog of the same
run, read with nothing but :mod:`csv` (the answer key of test_real_server).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pglast
import pytest
from csvlog import CsvLogRow, audit_fields, parse_csv_time
from ocsf_schema import FIXTURES as OCSF_FIXTURES
from ocsf_schema import OcsfSchema
from test_real_server import Observed, compare
from workload import SERVER_CONFIGS, ServerRun

import pgaudit_parse as pp
from pgaudit_parse.formats import schema
from pgaudit_parse.formats.ecs import to_ecs
from pgaudit_parse.formats.guardium import redact_passwords
from pgaudit_parse.formats.ocsf import datastore_activity, to_ocsf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OCSF = OcsfSchema.load(OCSF_FIXTURES / "1.1.0")
FORMATS = ("events", "ocsf", "ecs")


def validator(name: str) -> jsonschema.Draft202012Validator:
    loaded = schema(name)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return jsonschema.Draft202012Validator(
        loaded, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def run_cli(path: Path, prefix: str, fmt: str, *extra: str) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", fmt,
                           "--prefix", prefix, *extra, str(path)],
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.decode("utf-8").split("\n") if line]


def schema_problems(fmt: str, objects: list[dict[str, Any]]) -> list[str]:
    check = validator(fmt)
    problems = []
    for number, obj in enumerate(objects, start=1):
        for error in check.iter_errors(obj):
            problems.append(f"object {number}: {error.json_path}: {error.message[:200]}")
        if fmt == "ocsf":
            problems += [f"object {number}: OCSF: {p}" for p in OCSF.validate(obj)]
    return problems


# -- mapping rules -----------------------------------------------------------------------

@pytest.mark.parametrize(("audit_class", "command", "activity"), [
    ("READ", "SELECT", 4), ("READ", "COPY", 1), ("WRITE", "INSERT", 5), ("WRITE", "COPY", 5),
    ("WRITE", "UPDATE", 2), ("WRITE", "DELETE", 7), ("WRITE", "TRUNCATE TABLE", 7),
    ("DDL", "CREATE TABLE", 6), ("DDL", "DROP VIEW", 7), ("DDL", "ALTER TABLE", 2),
    ("ROLE", "CREATE ROLE", 6), ("ROLE", "GRANT", 2), ("ROLE", "ALTER ROLE", 2),
    ("FUNCTION", "EXECUTE", 99), ("MISC", "SET", 99), ("MISC", "BEGIN", 99),
    ("READ", "PREPARE", 4), ("WRITE", "EXECUTE", 5), ("DDL", "SECURITY LABEL", 2),
])
def test_datastore_activity_from_class_and_command(audit_class: str, command: str,
                                                   activity: int) -> None:
    assert datastore_activity(audit_class, command) == activity


def test_ocsf_classes_per_event_kind() -> None:
    lines = [
        "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
        "connection authorized: user=alice database=shop",
        "2026-11-25 16:05:02 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
        "AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,create table t (a int),<none>",
        "2026-11-25 16:05:03 UTC:10.0.0.5(50012):alice@shop:[42]:ERROR:  "
        'relation "nope" does not exist at character 15',
        "2026-11-25 16:05:03 UTC:10.0.0.5(50012):alice@shop:[42]:STATEMENT:  select * from nope",
        "2026-11-25 16:05:04 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  disconnection: "
        "session time: 0:00:03.010 user=alice database=shop host=10.0.0.5 port=50012",
        "2026-11-25 16:05:05 UTC:[local]:bob@shop:[43]:FATAL:  "
        'password authentication failed for user "bob"',
        "2026-11-25 16:05:06 UTC::@:[7]:LOG:  checkpoint starting: time",
    ]
    out = [to_ocsf(e, account_id="123456789012", instance="db1") for e in pp.parse_lines(lines)]
    assert [(o["class_uid"], o["activity_id"], o["status_id"]) if o else None for o in out] == [
        (3002, 1, 1), (6005, 6, 0), (6005, 4, 2), (3002, 2, 1), (3002, 1, 2), None]
    error = out[2]
    assert error is not None
    assert error["status_detail"] == 'relation "nope" does not exist'
    assert error["query_info"]["query_string"] == "select * from nope"
    audit = out[1]
    assert audit is not None
    assert audit["table"] == {"name": "public.t"}
    assert audit["database"] == {"type_id": 1, "type": "Relational", "name": "shop",
                                 "uid": "123456789012:db1:shop"}
    assert audit["unmapped"]["pgaudit"]["statement_id"] == 1
    failed = out[4]
    assert failed is not None
    assert failed["user"] == {"name": "bob"} and failed["src_endpoint"] == {"name": "[local]"}
    for obj in out:
        if obj is not None:
            assert OCSF.validate(obj) == []
            assert list(validator("ocsf").iter_errors(obj)) == []


def test_passwords_are_redacted_in_query_strings() -> None:
    lines = ["2026-11-25 16:05:03 UTC:10.0.0.5(1):alice@shop:[42]:ERROR:  syntax error",
             "2026-11-25 16:05:03 UTC:10.0.0.5(1):alice@shop:[42]:STATEMENT:  "
             "create role x password 'hunter2' logn"]
    [event] = pp.parse_lines(lines)
    ocsf = to_ocsf(event)
    assert ocsf is not None
    assert "hunter2" not in json.dumps(ocsf) and "hunter2" not in json.dumps(to_ecs(event))


# -- the validators themselves can fail --------------------------------------------------

def _one_audit_ocsf() -> dict[str, Any]:
    [event] = pp.parse_lines([
        "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  "
        "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"])
    obj = to_ocsf(event)
    assert obj is not None and OCSF.validate(obj) == []
    return obj


@pytest.mark.parametrize(("mutate", "complaint"), [
    (lambda o: o.pop("time"), "missing required attribute time"),
    (lambda o: o["metadata"].pop("version"), "missing required attribute metadata.version"),
    (lambda o: o["metadata"]["product"].pop("vendor_name"), "product.vendor_name"),
    (lambda o: o["actor"].clear(), "at least one of"),
    (lambda o: o.update(activity_id=8), "is not one of"),
    (lambda o: o.update(type_uid=600501), "type_uid"),
    (lambda o: o["src_endpoint"].update(port="50012"), "is not a port"),
    (lambda o: o["src_endpoint"].update(ip="10.0.0.500"), "is not an IP address"),
    (lambda o: o.update(app_name="psql"), "app_name is not an attribute here"),
    (lambda o: o["database"].update(type_id=9), "database.type_id"),
    (lambda o: o.update(severity_id="1"), "is not integer_t"),
])
def test_ocsf_validator_catches(mutate: Any, complaint: str) -> None:
    obj = copy.deepcopy(_one_audit_ocsf())
    mutate(obj)
    problems = OCSF.validate(obj)
    assert any(complaint in p for p in problems), problems


def test_events_schema_catches_a_renamed_key() -> None:
    [event] = pp.parse_lines(["2026-11-25 16:05:01 UTC::@:[77]:LOG:  hi"])
    obj = pp.event_to_json(event)
    assert list(validator("events").iter_errors(obj)) == []
    obj["username"] = obj.pop("user")
    assert list(validator("events").iter_errors(obj))


# -- real server logs: schemas and the csvlog answer key ---------------------------------

def _check_values(run: ServerRun, fmt: str, objects: list[dict[str, Any]]) -> list[str]:
    """Pair each event with its csvlog record; the format's fields must say what the
    record says."""
    events = list(pp.parse_file(str(run.stderr_log), prefix=run.prefix,
                                timezone=run.log_timezone))
    pairs, problems = compare(run, [Observed.from_event(e) for e in events])
    assert problems == []
    rendered = iter(objects)
    by_event: dict[int, dict[str, Any]] = {}
    for event in events:
        if fmt == "ecs" or to_ocsf(event) is not None:
            by_event[id(event)] = next(rendered)
    assert next(rendered, None) is None, "more objects than events with an output"
    checked = 0
    for pair in pairs:
        event = pair.observed.event
        assert event is not None
        obj = by_event.get(id(event))
        if obj is None:
            continue
        checked += 1
        where = f"csv record {pair.row.number}"
        # A field the prefix does not carry is null in the event (test_real_server
        # proves which): the format must then not invent one.
        row = pair.row if event.user is not None else _without_user(pair.row)
        problems += [f"{where}: {p}" for p in (_ocsf_vs_row(obj, row, run) if fmt == "ocsf"
                                              else _ecs_vs_row(obj, row, run))]
    assert checked >= 20
    return problems


def _without_user(row: CsvLogRow) -> CsvLogRow:
    return dataclasses.replace(row, user_name=None)


def _csv_millis(row: CsvLogRow, run: ServerRun) -> int:
    return int(parse_csv_time(row.log_time, run.log_timezone).timestamp() * 1000)


def _ocsf_vs_row(obj: dict[str, Any], row: CsvLogRow, run: ServerRun) -> list[str]:
    problems = []
    want_ms = _csv_millis(row, run)
    slack = 0 if "%m" in run.prefix else 1000  # %t: whole seconds, maybe a second early
    if not 0 <= want_ms - obj["time"] <= slack + 999 * (slack > 0):
        problems.append(f"time {obj['time']} for csv {row.log_time}")
    user = obj["actor"]["user"]["name"] if obj["class_uid"] == 6005 else obj["user"]["name"]
    if user != (row.user_name or "[unknown]"):
        problems.append(f"user {user!r} != {row.user_name!r}")
    endpoint = obj["src_endpoint"]
    if row.client_port is not None:
        if (endpoint.get("ip"), endpoint.get("port")) != (row.client_host, row.client_port):
            problems.append(f"src_endpoint {endpoint} != {row.connection_from}")
    elif row.connection_from == "[local]" and endpoint != {"name": "[local]"}:
        problems.append(f"src_endpoint {endpoint} for a socket client")
    if obj["class_uid"] == 6005:
        if obj["database"].get("name") != row.database_name:
            problems.append(f"database {obj['database']} != {row.database_name!r}")
        if row.is_audit:
            fields = audit_fields(row.message)
            if obj["unmapped"]["pgaudit"]["class"] != fields[3]:
                problems.append("class differs")
            if datastore_activity(fields[3], fields[4]) != obj["activity_id"]:
                problems.append(f"activity {obj['activity_id']} for {fields[3]} {fields[4]}")
            # a line of a multi-statement string carries its own statement (docs/sql.md)
            own = [redact_passwords(p) for p in _statements(fields[7])]
            if fields[7] != "<previously logged>" and \
                    obj["query_info"]["query_string"] not in own:
                problems.append("query_string differs")
            if fields[6] and fields[5] == "TABLE" and obj.get("table") != {"name": fields[6]}:
                problems.append(f"table {obj.get('table')} != {fields[6]!r}")
        else:
            if obj["status_id"] != 2 or obj["status_detail"] != row.message:
                problems.append(f"error status {obj['status_id']} {obj.get('status_detail')!r}")
            if row.query is not None and \
                    obj["query_info"]["query_string"] != redact_passwords(row.query):
                problems.append("error query_string differs")
    else:
        failed = row.error_severity == "FATAL"
        if obj["status_id"] != (2 if failed else 1):
            problems.append(f"authentication status {obj['status_id']} for {row.message[:40]}")
        logoff = row.message.startswith("disconnection")
        if obj["activity_id"] != (2 if logoff else 1):
            problems.append(f"activity {obj['activity_id']} for {row.message[:40]}")
    return problems


def _ecs_vs_row(obj: dict[str, Any], row: CsvLogRow, run: ServerRun) -> list[str]:
    problems = []
    if obj["log"]["level"] != row.error_severity.lower():
        problems.append(f"log.level {obj['log']['level']}")
    if obj["process"]["pid"] != row.process_id:
        problems.append(f"process.pid {obj['process']['pid']} != {row.process_id}")
    if obj.get("user", {}).get("name") != row.user_name:
        problems.append(f"user.name {obj.get('user')} != {row.user_name!r}")
    if row.client_port is not None and (obj["source"].get("ip"), obj["source"].get("port")) \
            != (row.client_host, row.client_port):
        problems.append(f"source {obj['source']} != {row.connection_from}")
    if row.error_severity in ("ERROR", "FATAL", "PANIC"):
        if obj["event"]["outcome"] != "failure" or obj["error"]["message"] != row.message:
            problems.append(f"error {obj.get('error')}")
    if row.is_audit:
        fields = audit_fields(row.message)
        audit = obj["postgresql"]["audit"]
        if (audit["class"], audit["command"]) != (fields[3], fields[4]):
            problems.append(f"audit {audit}")
        if obj["event"]["category"] != ["database"]:
            problems.append(f"category {obj['event']['category']}")
    if row.message.startswith("connection authorized"):
        if "authentication" not in obj["event"]["category"]:
            problems.append("connection authorized is not authentication")
    csv_time = parse_csv_time(row.log_time, run.log_timezone)
    stamp = obj["@timestamp"]
    from datetime import datetime
    got = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if not 0 <= (csv_time - got).total_seconds() < (0.001 if "%m" in run.prefix else 2):
        problems.append(f"@timestamp {stamp} for csv {row.log_time}")
    return problems


def _show(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems[:30])


@pytest.mark.parametrize("name", ["rds", "rich"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_fixture_outputs_are_valid_and_right(name: str, fmt: str) -> None:
    run = ServerRun(name, SERVER_CONFIGS[name], FIXTURES / f"real-{name}.log",
                    FIXTURES / f"real-{name}.csv")
    objects = run_cli(run.stderr_log, run.prefix, fmt, "--account-id", "123456789012",
                      "--instance", "db1", "--timezone", run.log_timezone)
    assert objects
    problems = schema_problems(fmt, objects)
    if fmt != "events":
        problems += _check_values(run, fmt, objects)
    assert not problems, _show(problems)
    if fmt == "ocsf":
        assert {o["class_uid"] for o in objects} == {6005, 3002}


@pytest.mark.parametrize("name", ["rds", "rich"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_outputs_of_csvlog_inputs_are_valid(name: str, fmt: str) -> None:
    objects = run_cli(FIXTURES / f"real-{name}.csv", "auto", fmt)
    assert len(objects) >= 20
    problems = schema_problems(fmt, objects)
    assert not problems, _show(problems)


@pytest.mark.parametrize("fmt", FORMATS)
def test_real_server_outputs_are_valid_and_right(server_run: ServerRun, fmt: str) -> None:
    objects = run_cli(server_run.stderr_log, server_run.prefix, fmt, "--timezone",
                      server_run.log_timezone)
    problems = schema_problems(fmt, objects)
    if fmt != "events":
        problems += _check_values(server_run, fmt, objects)
    assert not problems, _show(problems)


def _statements(sql: str) -> list[str]:
    """The string itself and, for a multi-statement string, each statement (pglast)."""
    try:
        parts = list(pglast.split(sql))
    except pglast.parser.ParseError:
        parts = []
    return [sql, *parts]
