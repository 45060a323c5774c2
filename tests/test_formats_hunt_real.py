"""csvlog/jsonlog inputs and OCSF/ECS outputs on a real server's logs that the first
real-server tests do not make (``hunt_formats_workload``): verbose errors from PL/pgSQL
with every secondary field, awkward text, a 300 KB statement, background processes, an
application name with quotes and commas, a -03:30 zone, every pgAudit class, every kind
of failed login, and the log rotated twice mid-workload (a session cut in two).

The answer key is the csvlog read with :mod:`csv` alone (``csvlog.read_csvlog``); what
each OCSF/ECS field must say is written here from the OCSF 1.1.0 and ECS 8.11
definitions, not taken from the mapping under test.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from csvlog import CsvLogRow, audit_fields, read_csvlog
from hunt_formats_workload import APP_NAME, LONG_STATEMENT_BYTES, HuntRun, run_hunt
from test_structured_logs import ORIGIN_KEYS, _differences, _drop

from pgaudit_parse.formats import schema

pytestmark = pytest.mark.pg

ZONE = "America/St_Johns"


@pytest.fixture(scope="module")
def hunt(tmp_path_factory: pytest.TempPathFactory) -> HuntRun:
    return run_hunt(tmp_path_factory.mktemp("hunt-formats"))


def cli(paths: list[Path] | tuple[Path, ...], fmt: str, *extra: str,
        prefix: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The objects and the dead letters of one CLI run over ``paths`` given together."""
    argv = [sys.executable, "-m", "pgaudit_parse", "--format", fmt, "--timezone", ZONE,
            "--errors", "/dev/stderr", *extra, *map(str, paths)]
    if prefix is not None:
        argv[3:3] = ["--prefix", prefix]
    proc = subprocess.run(argv, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    errors = [json.loads(line) for line in proc.stderr.decode("utf-8").splitlines()
              if line.startswith("{")]
    return out, errors


def _by_pid(events: list[dict[str, Any]]) -> dict[int | None, list[dict[str, Any]]]:
    out: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        out[event["pid"]].append(_drop(event, ORIGIN_KEYS))
    return out


def rows(run: HuntRun) -> list[CsvLogRow]:
    return [row for path in run.csv_logs for row in read_csvlog(path)]


# -- the workload made what it is meant to make --------------------------------------------

def test_the_run_has_what_the_hunt_needs(hunt: HuntRun) -> None:
    key = rows(hunt)
    audit = [audit_fields(r.message) for r in key if r.is_audit]
    json_keys = [set(json.loads(line)) for path in hunt.json_logs
                 for line in path.read_text(encoding="utf-8").splitlines()]
    checks = {
        "LOCATION of every message": all(r.location for r in key),
        "DETAIL+HINT+CONTEXT+STATEMENT": any(r.detail and r.hint and r.context and r.query
                                             for r in key),
        "internal query": any(r.internal_query and r.internal_query_pos for r in key),
        "tab, quote, comma, unicode": any("\t" in r.message and '"' in r.message and "ü"
                                          in r.message for r in key),
        "CR LF in a message": any("\r\n" in r.message for r in key),
        "long statement": any(len(f[7]) > LONG_STATEMENT_BYTES // 2 for f in audit),
        "autovacuum": any(r.backend_type == "autovacuum worker" for r in key),
        "checkpointer": any(r.backend_type == "checkpointer" for r in key),
        "jsonlog leaves out empty keys": any("user" not in k for k in json_keys),
        "application name": any(r.application_name == APP_NAME for r in key),
        "half-hour zone": all(r.log_time.endswith((" NST", " NDT")) for r in key),
        "MISC_SET or MISC SET": any(f[3] in ("MISC", "MISC_SET") and f[4] == "SET"
                                    for f in audit),
        "wrong password": any(r.sql_state_code == "28P01" for r in key),
        "no pg_hba entry": any("no pg_hba.conf entry" in r.message for r in key),
        "unknown database": any(r.sql_state_code == "3D000" for r in key),
        "IPv6 client": any(r.client_host == "::1" for r in key),
        "socket client": any(r.connection_from == "[local]" for r in key),
        "three files per format": len(hunt.csv_logs) == len(hunt.json_logs) == 3,
        "a session in two files": bool(
            {r.session_id for r in read_csvlog(hunt.csv_logs[1])} &
            {r.session_id for r in read_csvlog(hunt.csv_logs[2])}),
    }
    assert [name for name, ok in checks.items() if not ok] == []


# -- 1. the three files give equal events --------------------------------------------------

def _equal_events(stderr: list[dict[str, Any]], csvlog: list[dict[str, Any]],
                  jsonlog: list[dict[str, Any]]) -> list[str]:
    problems = _differences(_by_pid(csvlog), _by_pid(jsonlog), whole_seconds=False,
                            exact=True)
    return problems + _differences(_by_pid(stderr), _by_pid(csvlog), whole_seconds=False,
                                   exact=False)


def test_rotated_files_given_together_give_equal_events(hunt: HuntRun) -> None:
    """Every stderr, csvlog and jsonlog file of the run, given together in rotation
    order: the same events, message for message, and no dead letter. (A session cut by
    the rotation kept counting its stderr line numbers across the files; the csvlog and
    jsonlog readers started again in each file.)"""
    stderr, errors = cli(hunt.stderr_logs, "events", prefix=hunt.prefix)
    csvlog, csv_errors = cli(hunt.csv_logs, "events")
    jsonlog, json_errors = cli(hunt.json_logs, "events")
    assert errors == csv_errors == json_errors == []
    assert len(stderr) == len(rows(hunt)) >= 100
    problems = _equal_events(stderr, csvlog, jsonlog)
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:30])


def test_gzip_of_each_file_reads_like_the_file(hunt: HuntRun, tmp_path: Path) -> None:
    for paths in (hunt.csv_logs, hunt.json_logs, hunt.stderr_logs):
        packed = []
        for number, path in enumerate(paths):
            target = tmp_path / f"part-{number}-{path.suffix.strip('.')}.gz"
            target.write_bytes(gzip.compress(path.read_bytes()))
            packed.append(target)
        want, _ = cli(paths, "events", prefix=hunt.prefix)
        got, errors = cli(packed, "events", prefix=hunt.prefix)
        assert errors == []
        assert [_drop(e, ORIGIN_KEYS) for e in got] == [_drop(e, ORIGIN_KEYS) for e in want]


def test_a_csvlog_cut_short_mid_record_is_a_dead_letter_with_its_text(
        hunt: HuntRun, tmp_path: Path) -> None:
    """A crash mid-write: the last record stops inside a quoted field (the long
    statement's). Every record before it reads as in the whole file; the cut one is one
    dead letter with its raw text and every physical line counted."""
    whole = hunt.csv_logs[2].read_bytes().decode("utf-8")
    start = whole.index("SELECT length('v, ")
    start = whole.rindex("\n", 0, start) + 1
    cut_at = start + LONG_STATEMENT_BYTES // 2
    for packed in (False, True):
        path = tmp_path / ("cut.csv.gz" if packed else "cut.csv")
        data = whole[:cut_at].encode("utf-8")
        path.write_bytes(gzip.compress(data) if packed else data)
        before = tmp_path / "before.csv"
        before.write_bytes(whole[:start].encode("utf-8"))
        want, _ = cli([before], "events")
        got, errors = cli([path], "events")
        assert [_drop(e, ORIGIN_KEYS) for e in got] == [_drop(e, ORIGIN_KEYS) for e in want]
        [dead] = errors
        assert dead["raw"] == whole[start:cut_at].rstrip("\n")
        assert dead["lines"] == whole[start:cut_at].count("\n") + 1
        assert dead["line"] == whole[:start].count("\n") + 1


def test_a_jsonlog_line_that_is_not_json_is_a_dead_letter(hunt: HuntRun,
                                                          tmp_path: Path) -> None:
    lines = hunt.json_logs[0].read_text(encoding="utf-8").splitlines(keepends=True)
    bad = ["not json at all, \"quoted\"\n", lines[5][: len(lines[5]) // 2] + "\n"]
    path = tmp_path / "bad.json"
    path.write_text("".join(lines[:5] + bad + lines[5:]), encoding="utf-8")
    want, _ = cli([hunt.json_logs[0]], "events")
    got, errors = cli([path], "events")
    assert [(e["line"], e["raw"]) for e in errors] == [(6, bad[0][:-1]), (7, bad[1][:-1])]
    assert [_drop(e, ORIGIN_KEYS | {"session_line"}) for e in got] == \
        [_drop(e, ORIGIN_KEYS | {"session_line"}) for e in want]


# -- 2. OCSF and ECS values against the csvlog answer key ----------------------------------

#: OCSF 1.1.0 Datastore Activity: 1 Read, 2 Update, 3 Connect, 4 Query, 5 Write, 6 Create,
#: 7 Delete, 99 Other. What each pgAudit class/command pair the workload makes is, by
#: what the statement does to the data store.
ACTIVITY: dict[tuple[str, str], int] = {
    ("READ", "SELECT"): 4, ("READ", "DECLARE CURSOR"): 4, ("READ", "PREPARE"): 4,
    ("READ", "COPY"): 1,                     # COPY ... TO: rows read out
    ("MISC", "FETCH"): 1,                    # rows of a cursor read out
    ("WRITE", "INSERT"): 5, ("WRITE", "COPY"): 5, ("WRITE", "UPDATE"): 2,
    ("WRITE", "DELETE"): 7, ("WRITE", "TRUNCATE TABLE"): 7,
    ("DDL", "CREATE TABLE"): 6, ("DDL", "CREATE TABLE AS"): 6,
    ("DDL", "SELECT INTO"): 6,               # SELECT ... INTO creates a table
    ("DDL", "CREATE MATERIALIZED VIEW"): 6, ("DDL", "CREATE FUNCTION"): 6,
    ("DDL", "CREATE PROCEDURE"): 6, ("DDL", "CREATE INDEX"): 6, ("DDL", "CREATE DATABASE"): 6,
    ("DDL", "CREATE EXTENSION"): 6, ("DDL", "REFRESH MATERIALIZED VIEW"): 5,
    ("DDL", "ALTER TABLE"): 2, ("DDL", "COMMENT"): 2, ("DDL", "DROP TABLE"): 7,
    ("ROLE", "CREATE ROLE"): 6, ("ROLE", "ALTER ROLE"): 2, ("ROLE", "DROP ROLE"): 7,
    ("ROLE", "GRANT"): 2, ("ROLE", "REVOKE"): 2,
    ("FUNCTION", "DO"): 99, ("FUNCTION", "EXECUTE"): 99,
    ("MISC_SET", "SET"): 99, ("MISC", "SET"): 99, ("MISC", "RESET"): 99,
    ("MISC", "BEGIN"): 99, ("MISC", "COMMIT"): 99, ("MISC", "CALL"): 99,
    ("MISC", "CHECKPOINT"): 99, ("MISC", "VACUUM"): 99, ("MISC", "ANALYZE"): 99,
    ("MISC", "EXPLAIN"): 99, ("MISC", "DISCARD ALL"): 99, ("MISC", "DEALLOCATE"): 99,
    ("MISC", "CLOSE CURSOR"): 99, ("MISC", "EXECUTE"): 99, ("MISC", "???"): 99,
}
#: FATALs that refuse a client's connection after it was authenticated (the server
#: logged "connection authorized" first): a Datastore Activity Connect that failed.
CONNECT_REFUSED = frozenset({"3D000"})


def _expected_class(row: CsvLogRow) -> int | None:
    if row.is_audit:
        return 6005
    if row.error_severity == "FATAL" and row.sql_state_code.startswith("28"):
        return 3002
    if row.error_severity in ("ERROR", "FATAL", "PANIC"):
        return 6005 if row.user_name else None
    if row.message.startswith(("connection authorized: ", "disconnection: ")):
        return 3002
    return None


def _millis(row: CsvLogRow) -> int:
    from csvlog import parse_csv_time
    when = parse_csv_time(row.log_time, ZONE)
    return (when - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


def _offset_minutes(row: CsvLogRow) -> int:
    from csvlog import parse_csv_time
    offset = parse_csv_time(row.log_time, ZONE).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


def _endpoint(row: CsvLogRow) -> dict[str, Any]:
    if row.connection_from is None:
        return {"name": "[unknown]"}
    if row.connection_from == "[local]":
        return {"name": "[local]"}
    return {"ip": row.client_host, "port": row.client_port}


def _ocsf_problems(obj: dict[str, Any], row: CsvLogRow) -> list[str]:
    problems = []
    want_class = _expected_class(row)
    if obj["class_uid"] != want_class:
        return [f"class {obj['class_uid']} != {want_class}"]
    if obj["time"] != _millis(row):
        problems.append(f"time {obj['time']} != {_millis(row)} ({row.log_time})")
    if obj.get("timezone_offset") != _offset_minutes(row):
        problems.append(f"timezone_offset {obj.get('timezone_offset')}")
    if obj["src_endpoint"] != _endpoint(row):
        problems.append(f"src_endpoint {obj['src_endpoint']} for {row.connection_from!r}")
    if obj["actor"].get("process", {}).get("pid") != row.process_id:
        problems.append(f"pid {obj['actor'].get('process')}")
    failed = row.error_severity in ("ERROR", "FATAL", "PANIC")
    if failed and (obj["status_id"], obj.get("status_code"), obj.get("status_detail")) != (
            2, row.sql_state_code, row.message):
        problems.append(f"status {obj['status_id']} {obj.get('status_code')}")
    if obj["class_uid"] == 6005:
        if row.is_audit:
            fields = audit_fields(row.message)
            want = ACTIVITY.get((fields[3], fields[4]))
            if want is None:
                problems.append(f"no expected activity for {fields[3]} {fields[4]}")
            elif obj["activity_id"] != want:
                problems.append(f"activity {obj['activity_id']} for {fields[3]} {fields[4]}")
            if obj["status_id"] != 0:
                problems.append(f"audit status {obj['status_id']}")
        elif row.sql_state_code in CONNECT_REFUSED and row.query is None:
            if (obj["activity_id"], obj["activity_name"]) != (3, "Connect"):
                problems.append(f"refused connection: activity {obj['activity_id']}")
        if obj["database"].get("name") != row.database_name:
            problems.append(f"database {obj['database']}")
        if obj["actor"]["user"]["name"] != row.user_name:
            problems.append(f"user {obj['actor']['user']}")
    else:
        logoff = row.message.startswith("disconnection: ")
        if (obj["activity_id"], obj["status_id"]) != (2 if logoff else 1, 2 if failed else 1):
            problems.append(f"authentication {obj['activity_id']} {obj['status_id']}")
        if obj["user"]["name"] != row.user_name:
            problems.append(f"user {obj['user']} != {row.user_name!r}")
    if obj["type_uid"] != obj["class_uid"] * 100 + obj["activity_id"]:
        problems.append(f"type_uid {obj['type_uid']}")
    return problems


def _per_pid(objects: list[dict[str, Any]], pid_of: Any) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        out[pid_of(obj)].append(obj)
    return out


@pytest.mark.parametrize("source", ["stderr", "csvlog", "jsonlog"])
def test_ocsf_says_what_the_csvlog_says(hunt: HuntRun, source: str) -> None:
    paths = {"stderr": hunt.stderr_logs, "csvlog": hunt.csv_logs,
             "jsonlog": hunt.json_logs}[source]
    objects, errors = cli(paths, "ocsf", prefix=hunt.prefix)
    assert errors == []
    shipped = jsonschema.Draft202012Validator(schema("ocsf"))
    assert [e.message[:200] for o in objects for e in shipped.iter_errors(o)] == []
    got = _per_pid(objects, lambda o: o["actor"]["process"]["pid"])
    want: dict[int, list[CsvLogRow]] = defaultdict(list)
    for row in rows(hunt):
        if _expected_class(row) is not None:
            want[row.process_id].append(row)
    problems = []
    for pid in sorted(set(want) | set(got)):
        if len(want[pid]) != len(got[pid]):
            problems.append(f"pid {pid}: {len(got[pid])} objects for {len(want[pid])} rows: "
                            f"{[r.message[:40] for r in want[pid]]}")
            continue
        for row, obj in zip(want[pid], got[pid], strict=True):
            problems += [f"csv {row.number} ({row.message[:40]!r}): {p}"
                         for p in _ocsf_problems(obj, row)]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])


def _ecs_problems(doc: dict[str, Any], row: CsvLogRow) -> list[str]:
    problems = []
    want_time = datetime.fromtimestamp(_millis(row) / 1000, timezone.utc)
    if doc["@timestamp"] != want_time.isoformat(timespec="microseconds").replace(
            "+00:00", "Z"):
        problems.append(f"@timestamp {doc['@timestamp']} for {row.log_time}")
    minutes = _offset_minutes(row)
    zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if doc["event"].get("timezone") != zone:
        problems.append(f"event.timezone {doc['event'].get('timezone')}")
    if row.connection_from not in (None, "[local]"):
        if (doc["source"].get("ip"), doc["source"].get("port")) != (row.client_host,
                                                                    row.client_port):
            problems.append(f"source {doc['source']}")
    elif row.connection_from == "[local]" and doc.get("source") != {"address": "[local]"}:
        problems.append(f"source {doc.get('source')}")
    if doc["process"]["pid"] != row.process_id:
        problems.append(f"process {doc['process']}")
    if row.error_severity in ("ERROR", "FATAL", "PANIC"):
        if doc["event"]["outcome"] != "failure" or doc["error"] != {
                "code": row.sql_state_code, "message": row.message}:
            problems.append(f"error {doc.get('error')} {doc['event']['outcome']}")
        login = row.error_severity == "FATAL" and row.sql_state_code.startswith("28")
        if login != (doc["event"]["category"] == ["authentication"]):
            problems.append(f"category {doc['event']['category']}")
    if row.is_audit:
        fields = audit_fields(row.message)
        audit = doc["postgresql"]["audit"]
        if (audit["class"], audit["command"]) != (fields[3], fields[4]):
            problems.append(f"audit {audit}")
    if doc.get("user", {}).get("name") != row.user_name:
        problems.append(f"user {doc.get('user')} != {row.user_name!r}")
    return problems


@pytest.mark.parametrize("source", ["stderr", "csvlog", "jsonlog"])
def test_ecs_says_what_the_csvlog_says(hunt: HuntRun, source: str) -> None:
    paths = {"stderr": hunt.stderr_logs, "csvlog": hunt.csv_logs,
             "jsonlog": hunt.json_logs}[source]
    docs, errors = cli(paths, "ecs", prefix=hunt.prefix)
    assert errors == []
    shipped = jsonschema.Draft202012Validator(
        schema("ecs"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert [e.message[:200] for d in docs for e in shipped.iter_errors(d)] == []
    got = _per_pid(docs, lambda d: d["process"]["pid"])
    want: dict[int, list[CsvLogRow]] = defaultdict(list)
    for row in rows(hunt):
        want[row.process_id].append(row)
    problems = []
    for pid in sorted(set(want) | set(got)):
        assert len(want[pid]) == len(got[pid]), pid
        for row, doc in zip(want[pid], got[pid], strict=True):
            problems += [f"csv {row.number} ({row.message[:40]!r}): {p}"
                         for p in _ecs_problems(doc, row)]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])


@pytest.fixture(scope="module")
def hunt_rds(tmp_path_factory: pytest.TempPathFactory) -> HuntRun:
    """The same workload with RDS's prefix (``%t``: whole seconds, no session id) and a
    zone PostgreSQL names by its numeric offset, +05:45."""
    return run_hunt(tmp_path_factory.mktemp("hunt-rds"),
                    {"log_timezone": "Asia/Kathmandu", "log_line_prefix": "%t:%r:%u@%d:[%p]:"})


def test_rds_prefix_and_a_quarter_hour_zone_give_equal_events(hunt_rds: HuntRun) -> None:
    def events(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
        proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "events",
                               "--prefix", hunt_rds.prefix, "--errors", "/dev/stderr",
                               *map(str, paths)], capture_output=True, timeout=300)
        assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr.decode()
        return [json.loads(line) for line in proc.stdout.decode().splitlines()]

    stderr, csvlog, jsonlog = (events(hunt_rds.stderr_logs), events(hunt_rds.csv_logs),
                               events(hunt_rds.json_logs))
    assert len(stderr) == sum(1 for path in hunt_rds.csv_logs for _ in read_csvlog(path))
    assert all(e["timestamp"].endswith("+05:45") for e in csvlog)
    problems = _differences(_by_pid(csvlog), _by_pid(jsonlog), whole_seconds=False,
                            exact=True)
    problems += _differences(_by_pid(stderr), _by_pid(csvlog), whole_seconds=True,
                             exact=False)
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:30])


# -- 3. Security Lake Parquet of the run ---------------------------------------------------

def test_parquet_of_the_run_holds_the_ocsf_rows_in_their_partitions(hunt: HuntRun,
                                                                   tmp_path: Path) -> None:
    """Every OCSF object of the rotated csvlog files is one Parquet row (no attribute
    dropped: a row read back, nulls left out, is the object), in the folder of its class
    and of the UTC day of its time."""
    pq = pytest.importorskip("pyarrow.parquet")
    objects, _ = cli(hunt.csv_logs, "ocsf", "--account-id", "123456789012")
    lake = tmp_path / "lake"
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "ocsf-parquet",
                           "--timezone", ZONE, "--account-id", "123456789012", "--lake-region",
                           "ca-central-1", "--output", str(lake), *map(str, hunt.csv_logs)],
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        return value

    def as_map(unmapped: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for key, value in unmapped.items():
            if key == "pgaudit":
                out += [(f"pgaudit.{k}", v if isinstance(v, str) else json.dumps(v))
                        for k, v in value.items() if v is not None]
            elif value is not None:
                out.append((key, value if isinstance(value, str) else json.dumps(value)))
        return sorted(out)

    names = {6005: "pgaudit_datastore_activity", 3002: "pgaudit_authentication"}
    want = sorted(json.dumps(dict(o, unmapped=as_map(o["unmapped"])), sort_keys=True)
                  for o in objects)
    got = []
    files = sorted(lake.rglob("*.parquet"))
    folders = [f.parent for f in files]
    # (a file mode run commits at the end of each input: a file per class, day and input)
    assert len(set(folders)) <= len(folders) <= len(hunt.csv_logs) * len(set(folders))
    for path in files:
        for row in pq.read_table(path).to_pylist():
            day = datetime.fromtimestamp(row["time"] / 1000, timezone.utc).strftime("%Y%m%d")
            assert path.parent.relative_to(lake).as_posix() == (
                f"{names[row['class_uid']]}/region=ca-central-1/accountId=123456789012/"
                f"eventDay={day}")
            row = strip(row)
            row["unmapped"] = sorted(tuple(pair) for pair in row["unmapped"])
            got.append(json.dumps(row, sort_keys=True))
    assert sorted(got) == want and len(want) >= 80
