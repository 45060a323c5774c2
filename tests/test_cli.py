"""The CLI contract (DESIGN.md): formats, inputs, rejects, exit codes, one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgaudit_parse.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RDS_LOG = FIXTURES / "rds-postgresql.log"


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess (no in-process shortcuts)."""
    return subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, timeout=120,
    )


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_events_format_has_the_documented_keys() -> None:
    result = run_cli("--format", "events", str(RDS_LOG))
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    keys = {"kind", "timestamp", "severity", "user", "database", "client_host", "client_port",
            "pid", "message", "detail", "hint", "context", "statement"}
    for event in events:
        assert keys <= event.keys()
        assert ("audit" in event) == (event["kind"] == "audit")
    kinds = [e["kind"] for e in events]
    assert kinds.count("audit") == 10
    assert kinds.count("error") == 2 and kinds.count("login_failed") == 1
    assert {"connection", "disconnection", "duration", "log"} <= set(kinds)
    multi = next(e for e in events if e["kind"] == "audit" and e["audit"]["statement_id"] == 3)
    assert multi["audit"]["statement"] == (
        "select id, note -- the customer's note\n  from orders\n where total > 5")
    dup = next(e for e in events if e["kind"] == "error")
    assert dup["detail"] == "Key (id)=(2) already exists."
    assert dup["statement"] == "insert into orders values (2, 'again', 1)"
    assert dup["timestamp"] == "2026-11-25T16:05:06+00:00"
    assert dup["client_host"] == "10.0.1.25" and dup["client_port"] == 50012 and dup["pid"] == 4242
    ipv6 = next(e for e in events if e["client_host"] == "2001:db8::5")
    assert ipv6["client_port"] == 40000
    assert ipv6["audit"]["statement"] == "select 'データ' from orders"


def test_records_keep_what_the_seed_filter_dropped() -> None:
    result = run_cli(str(RDS_LOG), "--account-id", "123456789012", "--instance", "db1")
    assert result.returncode == 0, result.stderr
    records = events_of(result.stdout)
    sql = [r["data"]["originalSqlCommand"] for r in records if r["data"]]
    # The seed's filter drops statements mentioning checkpoint, pg_catalog or current_schema.
    assert "checkpoint" in sql
    assert any("pg_catalog." in s and "current_schema" in s for s in sql)
    assert all(r["dbName"].startswith("123456789012:db1:") for r in records)
    # the connector's "%{account_id}_%{instance}" (issue 10)
    assert all(r["accessor"]["serverHostName"] == "123456789012_db1" for r in records)
    failed = [r for r in records if r["exception"] and
              r["exception"]["exceptionTypeId"] == "LOGIN_FAILED"]
    assert [r["accessor"]["dbUser"] for r in failed] == ["mallory"]
    errors = [r["exception"] for r in records if r["exception"] and
              r["exception"]["exceptionTypeId"] == "SQL_ERROR"]
    # the connector removes double quotes from the description (issue 10)
    assert {"description": 'relation missing does not exist',
            "exceptionTypeId": "SQL_ERROR", "sqlString": "select * from missing"} in errors
    for r in records:
        assert set(r["time"]) == {"timstamp", "minOffsetFromGMT", "minDst"}
        assert r["accessor"]["serverType"] == "POSTGRESQL" and r["accessor"]["language"] == "PGRS"
    timed = [r for r in records if r["executionTime"]]
    assert [r["data"]["originalSqlCommand"] for r in timed] == ["vacuum analyze orders"]


@pytest.mark.parametrize("name", ["rds-postgresql.log.gz", "cloudwatch-export.json",
                                  "filter-log-events.json", "seed-sqs-bodies.txt"])
def test_every_input_format_gives_the_same_audit_events(name: str) -> None:
    reference = events_of(run_cli("--format", "events", str(RDS_LOG)).stdout)
    result = run_cli("--format", "events", "--errors", os.devnull, str(FIXTURES / name))
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)

    def audits(items: list[dict]) -> list[tuple]:
        return [(e["timestamp"], e["pid"], e["user"], e["audit"]["statement"])
                for e in items if e["kind"] == "audit"]

    if name == "seed-sqs-bodies.txt":
        # The seed flattened newlines into spaces; only the text layout differs.
        assert [(a[0], a[1], a[2]) for a in audits(events)] == [
            (a[0], a[1], a[2]) for a in audits(reference)]
    else:
        assert audits(events) == audits(reference)
        assert len(events) == len(reference)


def test_stdin_and_gzip_stdin() -> None:
    plain = RDS_LOG.read_bytes()
    a = run_cli("--format", "events", "-", stdin=plain)
    assert a.returncode == 0 and len(events_of(a.stdout)) == 19
    b = subprocess.run([sys.executable, "-m", "pgaudit_parse", "--format", "events", "-"],
                       input=gzip.compress(plain), capture_output=True, timeout=60)
    assert b.returncode == 0 and len(b.stdout.splitlines()) == 19


def test_rejects_go_to_dead_letter_with_position_and_raw(tmp_path: Path) -> None:
    errors = tmp_path / "dead.jsonl"
    result = run_cli("--format", "events", "--errors", str(errors),
                     str(FIXTURES / "with-rejects.log"))
    assert result.returncode == 0
    assert "3 rejected input line(s)" in result.stderr
    rejects = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejects] == [
        (2, "line does not match log_line_prefix"),
        (3, "continuation line without a message before it"),
        (4, "torn pgAudit payload"),
    ]
    assert rejects[0]["raw"] == "this line was written by something else"
    assert all(r["file"].endswith("with-rejects.log") for r in rejects)
    assert len(events_of(result.stdout)) == 2


def test_prefix_auto_says_what_it_chose() -> None:
    result = run_cli("--prefix", "auto", "--format", "events",
                     str(FIXTURES / "postgres-default.log"))
    assert result.returncode == 0
    assert "using log_line_prefix '%m [%p] '" in result.stderr
    events = events_of(result.stdout)
    assert events[2]["audit"]["parameter"] == ["1", 'x, "y"']
    assert events[0]["timestamp"] == "2026-11-25T17:00:00.101000+01:00"


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/file.log"], "/nonexistent/file.log: no such file"),
    (["--prefix", "%m [%p] ", str(RDS_LOG)], "no line matches log_line_prefix"),
    (["--format", "xml", str(RDS_LOG)], "invalid choice"),
    ([], "the following arguments are required"),
])
def test_usage_and_input_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_gzip_is_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(gzip.compress(RDS_LOG.read_bytes())[:200])
    result = run_cli(str(broken))
    assert result.returncode == 2
    assert f"{broken}: not a valid gzip file" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_file(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 2  # a directory


def test_statement_literals_never_reach_stderr(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_text("2026-11-25 16:05:01 UTC:[local]:a@b:[1]:LOG:  AUDIT: SESSION,1,1,ROLE,"
                   "ALTER ROLE,,,alter role a password 'hunter2',<none>,\n"
                   "garbage with 'hunter2'\n")
    result = run_cli(str(log), "--errors", str(tmp_path / "dead.jsonl"))
    assert "hunter2" not in result.stderr
    assert "hunter2" in (tmp_path / "dead.jsonl").read_text()  # kept where asked for
