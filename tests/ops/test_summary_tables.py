"""The summary a security reviewer reads: what each table and chart counts, one count per
statement execution, newest DDL first, objects, clients, applications, privilege changes,
failed logins over time, and ``--json``. Expected values come from the log each test
writes, not from the code under test."""

from __future__ import annotations

import json
import re
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pgaudit_parse import parse_file
from pgaudit_parse.cli import main
from pgaudit_parse.events import AuditEvent, ErrorEvent
from pgaudit_parse.ops.html_report import render_html
from pgaudit_parse.ops.summary import Summary
from pgaudit_parse.payload import AuditFields

#: log_line_prefix with the application name (%a), as a reviewer's server may have it.
PREFIX = "%t:%r:%u@%d:[%p]:%a:"


def _line(minute: int, host: str, user: str, db: str, pid: int, app: str, text: str) -> str:
    return f"2026-11-25 16:{minute:02d}:00 UTC:{host}(5000):{user}@{db}:[{pid}]:{app}:{text}\n"


LOG = "".join([
    # One execution logged three times (SESSION, OBJECT, log_relation's second relation).
    _line(1, "10.0.0.5", "alice", "shop", 10, "psql",
          "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.a,select * from v,<none>"),
    _line(1, "10.0.0.5", "alice", "shop", 10, "psql",
          "LOG:  AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.a,select * from v,<none>"),
    _line(1, "10.0.0.5", "alice", "shop", 10, "psql",
          "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.b,select * from v,<none>"),
    # The same statement id in another backend is another execution.
    _line(2, "10.0.0.6", "bob", "shop", 11, "app",
          "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.a,select * from a,<none>"),
    # DDL, oldest first in the log.
    _line(3, "10.0.0.5", "alice", "shop", 10, "psql",
          "LOG:  AUDIT: SESSION,2,1,DDL,CREATE TABLE,TABLE,public.c,create table c (i int),"
          "<none>"),
    _line(3, "10.0.0.5", "alice", "shop", 10, "psql",
          "LOG:  AUDIT: OBJECT,2,1,DDL,CREATE TABLE,TABLE,public.c,create table c (i int),"
          "<none>"),
    _line(9, "10.0.0.5", "alice", "shop", 10, "psql",
          "LOG:  AUDIT: SESSION,3,1,DDL,DROP TABLE,TABLE,public.c,drop table c,<none>"),
    # Privilege changes.
    _line(10, "10.0.0.8", "admin", "shop", 12, "psql",
          "LOG:  AUDIT: SESSION,1,1,ROLE,CREATE ROLE,,,CREATE ROLE r LOGIN PASSWORD "
          "<REDACTED>,<none>"),
    _line(11, "10.0.0.8", "admin", "shop", 12, "psql",
          "LOG:  AUDIT: SESSION,2,1,ROLE,GRANT,TABLE,,GRANT SELECT ON public.a TO r,<none>"),
    _line(12, "10.0.0.8", "admin", "shop", 12, "psql",
          "LOG:  AUDIT: SESSION,3,1,ROLE,REVOKE,TABLE,,REVOKE SELECT ON public.a FROM r,"
          "<none>"),
    # Failed logins: two at 16:20, one at 16:40.
    _line(20, "10.0.0.9", "mallory", "shop", 20, "[unknown]",
          'FATAL:  password authentication failed for user "mallory"'),
    _line(20, "10.0.0.9", "mallory", "shop", 21, "[unknown]",
          'FATAL:  password authentication failed for user "mallory"'),
    _line(40, "10.0.0.9", "mallory", "shop", 22, "[unknown]",
          'FATAL:  password authentication failed for user "mallory"'),
    _line(41, "10.0.0.6", "bob", "shop", 11, "app", 'ERROR:  relation "nope" does not exist'),
])


def _summary_text(tmp_path: Path, capsys, *extra: str) -> str:
    log = tmp_path / "review.log"
    log.write_text(LOG)
    assert main(["summary", str(log), "--prefix", PREFIX, "--quiet", *extra]) == 0
    return capsys.readouterr().out


def _section(out: str, title: str) -> tuple[str, list[list[str]]]:
    """The full title line and the rows (split on 2+ spaces) of the section ``title``."""
    block = out.split("\n" + title, 1)[1].split("\n\n", 1)[0].splitlines()
    return title + block[0], [re.split(r"\s{2,}", line.strip()) for line in block[2:]]


def test_audit_tables_count_each_execution_once_and_say_so(tmp_path, capsys) -> None:
    out = _summary_text(tmp_path, capsys)
    title, rows = _section(out, "Audit events per user")
    assert "execution" in title
    assert {row[0]: int(row[1]) for row in rows} == {"alice": 3, "bob": 1, "admin": 3}
    _, rows = _section(out, "Audit events per class")
    assert {row[0]: int(row[1]) for row in rows} == {"READ": 2, "DDL": 2, "ROLE": 3}


def test_objects_touched_count_executions_per_object(tmp_path, capsys) -> None:
    out = _summary_text(tmp_path, capsys)
    title, rows = _section(out, "Objects touched")
    assert "execution" in title
    assert {(row[0], row[1]): int(row[2]) for row in rows} == {
        ("public.a", "TABLE"): 2, ("public.b", "TABLE"): 1, ("public.c", "TABLE"): 2}


def test_newest_ddl_first_and_privilege_changes_apart(tmp_path, capsys) -> None:
    out = _summary_text(tmp_path, capsys)
    _, ddl = _section(out, "DDL changes")
    assert [row[3] for row in ddl] == ["DROP TABLE", "CREATE TABLE"]
    assert ddl[0][0] == "2026-11-25 16:09:00 UTC"
    _, privileges = _section(out, "Privilege changes")
    assert [row[3] for row in privileges] == ["REVOKE", "GRANT", "CREATE ROLE"]
    assert privileges[-1][-1] == "CREATE ROLE r LOGIN PASSWORD <REDACTED>"


def test_client_addresses_and_application_names(tmp_path, capsys) -> None:
    out = _summary_text(tmp_path, capsys)
    title, rows = _section(out, "Client addresses")
    header = out.split("\n" + title, 1)[1].splitlines()[1].split()
    assert header[:1] == ["client"]
    by_client = {row[0]: [int(v) for v in row[1:]] for row in rows}
    # audit executions, failed logins, errors, all messages
    assert by_client["10.0.0.9"] == [0, 3, 0, 3]
    assert by_client["10.0.0.5"] == [3, 0, 0, 6]
    assert by_client["10.0.0.6"] == [1, 0, 1, 2]
    _, rows = _section(out, "Application names")
    by_app = {row[0]: [int(v) for v in row[1:]] for row in rows}
    assert by_app["psql"] == [6, 0, 0, 9] and by_app["app"] == [1, 0, 1, 2]


def test_failed_logins_over_time(tmp_path, capsys) -> None:
    out = _summary_text(tmp_path, capsys)
    _, rows = _section(out, "Failed logins over time")
    assert {row[0]: int(row[1]) for row in rows} == {"2026-11-25 16:20 UTC": 2,
                                                     "2026-11-25 16:40 UTC": 1}


def test_json_has_every_table(tmp_path, capsys) -> None:
    data = json.loads(_summary_text(tmp_path, capsys, "--json"))
    assert data["events"] == 14 and data["audit_executions"] == 7
    assert data["objects"][0] == ["public.a", "TABLE", 2]
    assert [c["command"] for c in data["ddl_changes"]] == ["DROP TABLE", "CREATE TABLE"]
    assert [c["command"] for c in data["privilege_changes"]] == ["REVOKE", "GRANT",
                                                                 "CREATE ROLE"]
    assert data["failed_logins_over_time"] == [["2026-11-25T16:20:00+00:00", 2],
                                               ["2026-11-25T16:40:00+00:00", 1]]
    assert data["counts"]["by_user"].startswith("audit statements")
    summary = Summary()
    for event in parse_file(str(tmp_path / "review.log"), prefix=PREFIX):
        summary.add(event)
    assert data == json.loads(json.dumps(summary.to_dict()))


def test_html_labels_what_each_chart_counts(tmp_path) -> None:
    log = tmp_path / "review.log"
    log.write_text(LOG)
    summary = Summary()
    for event in parse_file(str(log), prefix=PREFIX):
        summary.add(event)
    page = render_html(summary)
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    text = [re.sub(r"<[^>]+>", "", h) for h in headings]
    users = next(h for h in text if h.startswith("Top users"))
    assert "all messages" in users
    for name in ("Objects touched", "Client addresses", "Application names",
                 "Privilege changes", "Failed logins over time", "DDL changes"):
        assert any(h.startswith(name) for h in text), name
    ddl = page[page.index("<h2>DDL changes"):]
    assert ddl.index("drop table c") < ddl.index("create table c")


def test_new_tables_keep_memory_bounded() -> None:
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)

    def feed(count: int) -> int:
        summary = Summary(max_keys=100, max_changes=20)
        tracemalloc.start()
        for n in range(count):
            at = start + timedelta(minutes=7 * n)
            fields = AuditFields("SESSION", n, 1, "ROLE", "GRANT", "TABLE", f"public.t{n}",
                                 f"grant select on t{n} to r", [], None)
            summary.add(AuditEvent(timestamp=at, severity="LOG", message="AUDIT: ...",
                                   user="u", database="db", pid=n, client_host=f"h{n}",
                                   application_name=f"a{n}", audit=fields))
            summary.add(ErrorEvent(kind="login_failed", timestamp=at, severity="FATAL",
                                   message="password authentication failed", user="m",
                                   client_host=f"x{n}", pid=n))
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(summary.privilege_changes) == 20
        return size

    # A first run fills the SQL layer's module-level caches (bounded: a few thousand
    # statements and shapes); measured before, their one-time filling counts as growth.
    feed(5_000)
    assert feed(40_000) < feed(5_000) + 256 * 1024


def test_the_parts_of_one_execution_count_once_and_its_ddl_is_a_change(tmp_path, capsys
                                                                       ) -> None:
    # CREATE TABLE AS: its query's SELECT and the DDL line (substatement ids 1 and 2, the
    # statement's text) are one execution, whose DDL part is still a change; SELECT f():
    # its SELECT and the function call's EXECUTE are one (as the records count them)
    ctas = "create table c2 as select * from a"
    log = tmp_path / "parts.log"
    log.write_text("".join([
        _line(1, "10.0.0.5", "alice", "shop", 10, "psql",
              f"LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.a,{ctas},<none>"),
        _line(1, "10.0.0.5", "alice", "shop", 10, "psql",
              f"LOG:  AUDIT: SESSION,1,2,DDL,CREATE TABLE AS,TABLE,public.c2,{ctas},<none>"),
        _line(2, "10.0.0.5", "alice", "shop", 10, "psql",
              "LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,select f(1),<none>"),
        _line(2, "10.0.0.5", "alice", "shop", 10, "psql",
              "LOG:  AUDIT: SESSION,2,2,FUNCTION,EXECUTE,FUNCTION,public.f,select f(1),<none>"),
    ]))
    assert main(["summary", str(log), "--prefix", PREFIX, "--quiet"]) == 0
    out = capsys.readouterr().out
    _, rows = _section(out, "Audit events per user")
    assert {row[0]: int(row[1]) for row in rows} == {"alice": 2}
    _, rows = _section(out, "Audit events per class")
    assert {row[0]: int(row[1]) for row in rows} == {"READ": 2, "DDL": 1, "FUNCTION": 1}
    assert "CREATE TABLE AS" in out.split("DDL changes", 1)[1]
