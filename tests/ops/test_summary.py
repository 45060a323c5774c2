"""``pgaudit-parse summary`` and :class:`Summary`: counts checked against independent readers."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from csvlog import audit_fields, execution_of, read_csvlog

from pgaudit_parse import RDS_PREFIX, parse_file
from pgaudit_parse.cli import main
from pgaudit_parse.events import AuditEvent
from pgaudit_parse.ops.summary import OTHER, Summary, TimeHistogram
from pgaudit_parse.payload import AuditFields

FIXTURE = Path(__file__).with_name("sample-rds.log")
RDS_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC):(?P<host>[^(:]*)(?:\((?P<port>"
                      r"\d+)\))?:(?P<user>[^@]*)@(?P<db>[^:]*):\[(?P<pid>\d+)\]:(?P<sev>[A-Z]+):"
                      r"  (?P<msg>.*)$")


def _fixture_facts() -> dict[str, Counter]:
    """Read the fixture with a regex and the csv module (not the parser under test)."""
    text = FIXTURE.read_text()
    # Continuation lines start with a TAB; join them to their message.
    joined = re.sub(r"\n\t", "\n", text)
    records = [m for m in (RDS_LINE.match(line) for line in text.splitlines()) if m]
    facts: dict[str, Counter] = {"user": Counter(), "class": Counter(), "changes": Counter(),
                                 "failed": Counter(), "errors": Counter()}
    seen: set[tuple[str, str, str]] = set()
    for match in records:
        if match["msg"].startswith("AUDIT: "):
            start = joined.index(match.group(0).split("AUDIT: ")[0])
            payload = joined[start:].split("AUDIT: ", 1)[1]
            fields = next(csv.reader(io.StringIO(payload)))
            # One statement execution counts once (its SESSION and OBJECT lines share
            # the backend, statement id and substatement id).
            execution = (match["pid"], fields[1], fields[2])
            if execution in seen:
                continue
            seen.add(execution)
            facts["user"][match["user"]] += 1
            facts["class"][fields[3]] += 1
            if fields[3] in ("DDL", "ROLE"):
                facts["changes"][fields[4]] += 1
        elif match["sev"] == "FATAL" and "authentication failed" in match["msg"]:
            facts["failed"][(match["user"], match["host"])] += 1
        elif match["sev"] == "ERROR":
            facts["errors"]["ERROR"] += 1
    return facts


def _table(out: str, title: str) -> list[list[str]]:
    """The rows (split on 2+ spaces) of the text table under ``title``."""
    lines = out.split("\n" + title, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def _changes(out: str) -> list[list[str]]:
    """The rows of the DDL and the privilege changes tables (either may be absent)."""
    return [row for title in ("\nDDL changes", "\nPrivilege changes") if title in out
            for row in _table(out, title[1:])]


def test_summary_of_the_fixture_matches_an_independent_reading(capsys) -> None:
    facts = _fixture_facts()

    assert main(["summary", str(FIXTURE), "--quiet"]) == 0

    out = capsys.readouterr().out
    assert {row[0]: int(row[1]) for row in _table(out, "Audit events per user")} == dict(
        facts["user"])
    assert {row[0]: int(row[1]) for row in _table(out, "Audit events per class")} == dict(
        facts["class"])
    assert {(row[0], row[1]): int(row[2]) for row in _table(out, "Failed logins")} == dict(
        facts["failed"])
    errors = _table(out, "Errors")
    assert sum(int(row[-1]) for row in errors) == facts["errors"]["ERROR"]
    assert 'relation "public.missing" does not exist' in out
    changes = _changes(out)
    assert Counter(row[3] for row in changes) == facts["changes"]
    assert any("PASSWORD <REDACTED>" in row[-1] for row in changes)
    total = sum(1 for _ in parse_file(str(FIXTURE)))
    assert out.startswith(f"Summary: {total} events, 2026-11-25 16:33:20 UTC .. "
                          "2026-11-25 18:10:00 UTC, 1 rejected line(s)\n")


def test_rejects_are_reported_not_dropped(tmp_path, capsys) -> None:
    assert main(["summary", str(FIXTURE)]) == 0
    err = capsys.readouterr().err
    bad = FIXTURE.read_text().splitlines().index("this line is not a PostgreSQL log line") + 1
    assert f"pgaudit-parse: {FIXTURE}:{bad}: line does not match log_line_prefix\n" in err

    dead = tmp_path / "dead.jsonl"
    assert main(["summary", str(FIXTURE), "--errors", str(dead), "--quiet"]) == 0
    [reject] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert reject == {"file": str(FIXTURE), "source": str(FIXTURE), "line": bad, "lines": 1,
                      "reason": "line does not match log_line_prefix",
                      "raw": "this line is not a PostgreSQL log line"}
    assert capsys.readouterr().err == ""


def test_unreadable_input_and_wrong_prefix_exit_2(tmp_path, capsys) -> None:
    assert main(["summary", str(tmp_path / "missing.log")]) == 2
    assert capsys.readouterr().err == f"pgaudit-parse: {tmp_path / 'missing.log'}: no such file\n"
    assert main(["summary", str(FIXTURE), "--prefix", "%m [%p] ", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no line matches log_line_prefix '%m [%p] '" in err and "Traceback" not in err


def test_summary_of_a_real_server_log_matches_its_csvlog(server_run, capsys) -> None:
    """The who-did-what counts equal what the same server wrote to its csvlog."""
    _check_against_csvlog(server_run.stderr_log, server_run.csv_rows(), server_run.prefix,
                          capsys)


def test_summary_of_the_checked_in_real_log(capsys) -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    _check_against_csvlog(fixtures / "real-rds.log", list(read_csvlog(fixtures / "real-rds.csv")),
                          RDS_PREFIX, capsys)


def _check_against_csvlog(log: Path, rows: list, prefix: str, capsys) -> None:
    assert main(["summary", str(log), "--prefix", prefix, "--top", "1000", "--quiet"]) == 0
    out = capsys.readouterr().out

    # The user and client come from the prefix or, when it lacks %u/%r, from the session's
    # connection lines (all configurations log connections); csvlog always has them.
    def user(row) -> str:
        return row.user_name or "-"

    def host(row) -> str:
        return (row.connection_from or "-").rsplit(":", 1)[0]

    # One statement execution counts once: its SESSION, OBJECT and log_relation lines
    # share the session, the statement id and the substatement id, and the parts of one
    # execution (CREATE TABLE AS and its SELECT, a function call: csvlog.execution_of)
    # are one; the class table counts each class of an execution's parts once.
    first = execution_of(rows)
    audits = []
    classes: set[tuple[tuple[str, str, str], str]] = set()
    seen: set[tuple[str, str, str]] = set()
    for r in rows:
        if r.message.startswith("AUDIT: "):
            fields = audit_fields(r.message)
            ids = (r.session_id, fields[1], fields[2])
            if ids not in seen:  # (a part's first line; log_relation's others are not)
                seen.add(ids)
                classes.add((first[ids], fields[3]))
                if first[ids] == ids:
                    audits.append(r)
    by_user = Counter(user(r) for r in audits)
    by_class = Counter(audit_class for _, audit_class in classes)
    failed = Counter((user(r), host(r))
                     for r in rows if r.sql_state_code in ("28P01", "28000"))
    errors = Counter(r.error_severity for r in rows
                     if r.error_severity in ("ERROR", "FATAL", "PANIC")
                     and r.sql_state_code not in ("28P01", "28000"))

    assert audits and failed and errors
    assert {row[0]: int(row[1]) for row in _table(out, "Audit events per user")} == dict(by_user)
    assert {row[0]: int(row[1]) for row in _table(out, "Audit events per class")} == dict(
        by_class)
    assert {(row[0], row[1]): int(row[2]) for row in _table(out, "Failed logins")} == dict(
        failed)
    severities = Counter()
    for row in _table(out, "Errors"):
        severities[row[1]] += int(row[-1])
    assert severities == errors
    changes = _changes(out)
    expected = sum(1 for r in audits if audit_fields(r.message)[3] in ("DDL", "ROLE"))
    assert len(changes) == expected


def _audit(n: int, user: str, at: datetime, audit_class: str = "READ") -> AuditEvent:
    fields = AuditFields("SESSION", n, 1, audit_class, "SELECT", "TABLE", "public.t",
                         f"select {n}", [], None)
    return AuditEvent(timestamp=at, severity="LOG", message="AUDIT: ...", user=user,
                      database="db", audit=fields)


def test_memory_is_bounded() -> None:
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)

    def feed(count: int) -> tuple[Summary, int]:
        summary = Summary(max_keys=100, max_changes=20)
        tracemalloc.start()
        for n in range(count):
            # Distinct users and DDL statements spread over years: the worst case.
            summary.add(_audit(n, f"user{n}", start + timedelta(hours=7 * n), "DDL"))
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return summary, size

    small, small_size = feed(5_000)
    large, large_size = feed(40_000)
    assert large.events == 40_000
    assert len(large.by_user) == 101 and large.by_user.counts[OTHER] == 40_000 - 100
    assert len(large.changes) == 20 and large.changes_omitted == 40_000 - 20
    assert len(large.histogram.counts) <= large.histogram.max_buckets
    assert len(large.histogram.buckets()) <= large.histogram.max_buckets
    assert sum(sum(c) for _, c in large.histogram.buckets()) == 40_000
    assert large_size < small_size + 256 * 1024, (small_size, large_size)


def test_time_histogram_keeps_every_event() -> None:
    histogram = TimeHistogram(max_buckets=10)
    stamps = [i * 37.0 for i in range(1000)] + [10 ** 8]  # dense, then far away
    for i, stamp in enumerate(stamps):
        histogram.add(stamp, i % 4)
    buckets = histogram.buckets()
    assert len(buckets) <= 10
    totals = [sum(counts[g] for _, counts in buckets) for g in range(4)]
    assert totals == [sum(1 for i in range(len(stamps)) if i % 4 == g) for g in range(4)]


# -- issue 10: one count per statement execution; the torn-payload and dead-letter defects --

RDS_LINE_PREFIX = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:LOG:  "


def test_audit_tables_count_executions_not_lines(tmp_path, capsys) -> None:
    log = tmp_path / "one-execution.log"
    log.write_text("".join(RDS_LINE_PREFIX + line + "\n" for line in [
        "AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.a,select * from v,<none>",
        "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.a,select * from v,<none>",
        "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.b,select * from v,<none>",
        "AUDIT: SESSION,2,1,DDL,CREATE TABLE,TABLE,public.c,create table c (i int),<none>",
        "AUDIT: OBJECT,2,1,DDL,CREATE TABLE,TABLE,public.c,create table c (i int),<none>",
    ]))
    assert main(["summary", str(log), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert _table(out, "Audit events per user") == [["alice", "2"]]
    assert len(_changes(out)) == 1
    summary = Summary()
    for event in parse_file(str(log)):
        summary.add(event)
    assert summary.events == 5 and summary.by_class.total() == 2


def test_a_file_whose_only_line_is_a_torn_payload_is_read(tmp_path, capsys) -> None:
    log = tmp_path / "torn.log"
    log.write_text(RDS_LINE_PREFIX + 'AUDIT: SESSION,1,1,READ,SELECT,,,"select 1\n')
    dead = tmp_path / "dead.jsonl"
    assert main(["summary", str(log), "--errors", str(dead), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "no line matches" not in captured.err
    assert "1 rejected line(s)" in captured.out
    [reject] = [json.loads(line) for line in dead.read_text().splitlines()]
    assert reject["file"] == str(log) and reject["line"] == 1
    assert reject["reason"].startswith("torn pgAudit payload")


def _summary_json(args: list[str], capsys) -> dict:
    capsys.readouterr()
    assert main(["summary", "--json", "--quiet", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_summary_reads_csvlog_and_jsonlog_like_the_stderr_log(tmp_path, capsys) -> None:
    """A csvlog or jsonlog (plain or gzip, told by content) gives the summary of the
    stderr log of the same run: the file mode reads them, so summary must too."""
    import gzip

    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    stderr = _summary_json([str(fixtures / "real-rds.log")], capsys)
    packed = tmp_path / "postgresql.log.gz"
    packed.write_bytes(gzip.compress((fixtures / "real-rds.csv").read_bytes()))
    for path in (fixtures / "real-rds.csv", packed):
        structured = _summary_json([str(path)], capsys)
        assert structured["rejects"] == 0
        for table in ("by_user", "by_database", "by_class", "by_command", "objects",
                      "failed_logins", "who_did_what"):
            assert structured[table] == stderr[table], table
        assert structured["events"] == stderr["events"] >= 40


def test_summary_of_a_real_servers_jsonlog_and_csvlog_equals_its_stderr_log(server_run,
                                                                           capsys) -> None:
    zone = ["--timezone", server_run.log_timezone]
    prefix = ["--prefix", server_run.prefix]
    stderr = _summary_json([*prefix, *zone, str(server_run.stderr_log)], capsys)
    assert server_run.json_log is not None
    for path in (server_run.csv_log, server_run.json_log):
        structured = _summary_json([*zone, str(path)], capsys)
        assert structured["rejects"] == 0
        for table in ("by_user", "by_database", "by_class", "by_command", "objects",
                      "who_did_what", "by_fingerprint", "errors", "ddl_changes",
                      "privilege_changes"):
            if table == "errors":  # SQLSTATE: in every csvlog/jsonlog record, not in %t...
                assert sorted(row[1:] for row in structured[table]) == \
                    sorted(row[1:] for row in stderr[table]), table
            elif table.endswith("_changes"):  # %t has whole seconds; csvlog milliseconds
                assert [dict(row, timestamp=None) for row in structured[table]] == \
                    [dict(row, timestamp=None) for row in stderr[table]], table
            else:
                assert structured[table] == stderr[table], table
        assert structured["events"] == stderr["events"]


def test_memory_stays_bounded_with_long_distinct_statements() -> None:
    """INSERTs of 64 KB, each different: the fingerprint table keeps a cut example
    per fingerprint, and nothing may keep every statement (a cache keyed by the whole
    text held the last 4096 of them: 256 MB here, gigabytes with bigger statements)."""
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    text = "x" * 64 * 1024  # a 64 KB literal (one token: cheap to lex)

    def feed(count: int) -> int:
        summary = Summary(max_keys=100, max_changes=20)
        tracemalloc.start()
        for n in range(count):
            fields = AuditFields("SESSION", n, 1, "WRITE", "INSERT", "TABLE", f"public.t{n}",
                                 f"insert into t{n} values ('{text}')", [], None)
            summary.add(AuditEvent(timestamp=start + timedelta(seconds=n), severity="LOG",
                                   message="AUDIT: ...", user="u", database="db", pid=7,
                                   audit=fields))  # one session: one execution held
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert summary.audit_executions == count
        return size

    feed(50)
    assert feed(400) < feed(50) + 4 * 1024 * 1024


def test_memory_stays_bounded_with_long_distinct_names() -> None:
    """Users, databases, objects, clients and applications of 64 KB each, all different:
    the counters keep at most ``max_keys`` keys, and each key at most a few hundred
    characters (a key of any length made the bound ``max_keys`` times the longest line)."""
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    long = "n" * 64 * 1024

    def feed(count: int) -> tuple[Summary, int]:
        summary = Summary(max_keys=100, max_changes=20)
        tracemalloc.start()
        for n in range(count):
            name = f"{n}{long}"
            fields = AuditFields("SESSION", n + 1, 1, "DDL", f"CREATE {name}", "TABLE",
                                 name, "create table t ()", [], None)
            # (one backend: its next statement completes the last one, which is let go)
            summary.add(AuditEvent(timestamp=start + timedelta(seconds=n), severity="LOG",
                                   message="AUDIT: ...", user=name, database=name, pid=7,
                                   client_host=name, application_name=name, audit=fields))
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return summary, size

    small, small_size = feed(50)
    large, large_size = feed(400)
    assert large.audit_executions == 400 and len(large.by_user) == 101
    assert large_size < small_size + 4 * 1024 * 1024, (small_size, large_size)
    text = large.render_text()
    assert "…" in text and long not in text


def test_summary_counts_one_per_execution_like_the_records(server_run, capsys) -> None:
    """The audited executions summary counts are the Guardium records with a statement,
    for the stderr log, the csvlog and the jsonlog of a real run."""
    zone = ["--timezone", server_run.log_timezone]
    for path in (server_run.stderr_log, server_run.csv_log, server_run.json_log):
        assert path is not None
        args = ["--prefix", server_run.prefix, *zone, str(path)]
        counted = _summary_json(args, capsys)["audit_executions"]
        capsys.readouterr()
        assert main(["--format", "records", "--quiet", *args]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert counted == sum(1 for r in records if r["data"] is not None) >= 20
