"""OCSF, ECS and Security Lake Parquet: what a consumer needs that the first tests did not
ask for (no real server here; ``test_formats_hunt_real`` has the real-server side).

* A log line without a time of its own (``log_line_prefix`` without ``%t``/``%m``/``%n``):
  OCSF requires ``time`` and ECS ``@timestamp`` (a data stream refuses a document without
  it). ``time: 0`` filed the event under 1970-01-01 (Parquet ``eventDay=19700101``), and
  ECS wrote ``null``. Such an event now has the time it was processed, said in
  ``metadata.processed_time`` / ``event.created``.
* Activity ids of pgAudit class/command pairs whose first word misleads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ocsf_schema import FIXTURES as OCSF_FIXTURES
from ocsf_schema import OcsfSchema

import pgaudit_parse as pp
from pgaudit_parse.formats import schema
from pgaudit_parse.formats.ecs import to_ecs
from pgaudit_parse.formats.ocsf import datastore_activity, refused_connection, to_ocsf

OCSF = OcsfSchema.load(OCSF_FIXTURES / "1.1.0")

#: A log without a time escape (PostgreSQL's prefix can be anything; this is ``[%p] %q%u@%d ``).
NO_TIME_PREFIX = "[%p] %q%u@%d "
NO_TIME_LOG = (
    "[41] alice@shop LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>\n"
    "[41] alice@shop ERROR:  division by zero\n"
    "[41] alice@shop STATEMENT:  select 1/0\n"
    "[42] LOG:  connection authorized: user=bob database=shop\n"
    '[43] bob@shop FATAL:  password authentication failed for user "bob"\n'
    "[42] bob@shop LOG:  disconnection: session time: 0:00:01.000 user=bob database=shop "
    "host=[local]\n"
)


def _cli(path: Path, fmt: str, *extra: str) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", fmt,
                           "--prefix", NO_TIME_PREFIX, *extra, str(path)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


def _now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def test_ocsf_of_a_line_without_time_has_the_processing_time(tmp_path: Path) -> None:
    log = tmp_path / "notime.log"
    log.write_text(NO_TIME_LOG, encoding="utf-8")
    before = _now_ms()
    objects = _cli(log, "ocsf")
    after = _now_ms()
    assert len(objects) == 5
    check = jsonschema.Draft202012Validator(schema("ocsf"))
    for obj in objects:
        assert before <= obj["time"] <= after, obj["time"]
        assert obj["metadata"]["processed_time"] == obj["time"]
        assert "original_time" not in obj["metadata"] and "timezone_offset" not in obj
        assert list(check.iter_errors(obj)) == [] and OCSF.validate(obj) == []


def test_ocsf_of_a_line_with_its_time_has_no_processed_time() -> None:
    [event] = pp.parse_lines(["2026-11-25 16:05:01 UTC:[local]:alice@shop:[9]:LOG:  AUDIT: "
                              "SESSION,1,1,READ,SELECT,,,select 1,<none>"])
    obj = to_ocsf(event)
    assert obj is not None and obj["time"] == 1795622701000
    assert "processed_time" not in obj["metadata"]


def test_ecs_of_a_line_without_time_has_the_processing_time(tmp_path: Path) -> None:
    log = tmp_path / "notime.log"
    log.write_text(NO_TIME_LOG, encoding="utf-8")
    before = datetime.now(timezone.utc)
    docs = _cli(log, "ecs")
    after = datetime.now(timezone.utc)
    assert len(docs) == 5
    check = jsonschema.Draft202012Validator(
        schema("ecs"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for doc in docs:
        assert doc["@timestamp"] is not None
        stamp = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
        assert before.replace(microsecond=0) <= stamp <= after
        assert doc["event"]["created"] == doc["@timestamp"]
        assert "timezone" not in doc["event"]
        assert list(check.iter_errors(doc)) == []


def test_a_null_timestamp_is_not_valid_ecs() -> None:
    check = jsonschema.Draft202012Validator(schema("ecs"))
    [event] = pp.parse_lines(["2026-11-25 16:05:01 UTC:[local]:alice@shop:[9]:LOG:  hi"])
    doc = to_ecs(event)
    assert list(check.iter_errors(doc)) == []
    doc["@timestamp"] = None
    assert list(check.iter_errors(doc))


def test_parquet_of_a_log_without_time_is_filed_under_the_processing_day(
        tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    log = tmp_path / "notime.log"
    log.write_text(NO_TIME_LOG, encoding="utf-8")
    out = tmp_path / "lake"
    first = f"eventDay={datetime.now(timezone.utc):%Y%m%d}"
    proc = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "ocsf-parquet",
                           "--prefix", NO_TIME_PREFIX, "--output", str(out), "--account-id",
                           "123456789012", "--lake-region", "eu-west-1", str(log)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    days = {p.name for p in out.rglob("eventDay=*")}
    last = f"eventDay={datetime.now(timezone.utc):%Y%m%d}"
    assert days and days <= {first, last}, days  # (not eventDay=19700101)


@pytest.mark.parametrize(("audit_class", "command", "activity"), [
    ("DDL", "SELECT INTO", 6),      # SELECT ... INTO new_table: a table is created
    ("DDL", "CREATE TABLE AS", 6),
    ("MISC", "FETCH", 1),           # pgAudit logs FETCH as MISC: it reads a cursor's rows
    ("READ", "FETCH", 1),
    ("MISC", "CLOSE CURSOR", 99), ("MISC_SET", "SET", 99), ("FUNCTION", "DO", 99),
    ("ROLE", "GRANT", 2), ("ROLE", "REVOKE", 2), ("ROLE", "DROP ROLE", 7),
    ("WRITE", "TRUNCATE TABLE", 7), ("READ", "DECLARE CURSOR", 4),
    ("DDL", "REFRESH MATERIALIZED VIEW", 5),
])
def test_activity_of_commands_whose_first_word_misleads(audit_class: str, command: str,
                                                        activity: int) -> None:
    assert datastore_activity(audit_class, command) == activity


@pytest.mark.parametrize(("message", "refused"), [
    ('database "nodb" does not exist', True),
    ('permission denied for database "shop"', True),
    ('database "shop" is not currently accepting connections', True),
    ('too many connections for role "bob"', True),
    ("sorry, too many clients already", True),
    ("terminating connection due to administrator command", False),
    ('relation "t" does not exist', False),
])
def test_a_refused_connection_is_a_failed_connect(message: str, refused: bool) -> None:
    [event] = pp.parse_lines([f"2026-11-25 16:05:01 UTC:[local]:bob@shop:[9]:FATAL:  {message}"])
    assert refused_connection(event) is refused
    obj = to_ocsf(event)
    assert obj is not None and obj["class_uid"] == 6005 and obj["status_id"] == 2
    assert (obj["activity_id"] == 3) is refused
    assert OCSF.validate(obj) == []
    assert list(jsonschema.Draft202012Validator(schema("ocsf")).iter_errors(obj)) == []
