"""Unit tests of the pipeline stages on hand-written lines (each a fact PostgreSQL writes)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import pgaudit_parse as pp
from pgaudit_parse.entries import EntryAssembler
from pgaudit_parse.formats.guardium import RecordBuilder
from pgaudit_parse.lines import Line
from pgaudit_parse.payload import PayloadError, parse_audit_payload
from pgaudit_parse.timestamps import parse_timestamp

RDS = "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[4242]:"


@pytest.mark.parametrize("remote, host, port", [
    ("10.0.0.5(50012)", "10.0.0.5", 50012),
    ("2001:db8::5(5432)", "2001:db8::5", 5432),
    ("::1(40000)", "::1", 40000),
    ("[local]", "[local]", None),
    ("", None, None),
    ("app-host.example.internal(5000)", "app-host.example.internal", 5000),
])
def test_rds_remote_forms(remote: str, host: str | None, port: int | None) -> None:
    line = f"2026-11-25 16:05:01 UTC:{remote}:bob@db:[9]:LOG:  x"
    [event] = pp.parse_lines([line])
    assert (event.client_host, event.client_port, event.user, event.pid) == (host, port, "bob", 9)


def test_background_process_has_empty_session_fields() -> None:
    [event] = pp.parse_lines(["2026-11-25 16:05:01 UTC::@:[77]:LOG:  checkpoint starting"])
    assert (event.user, event.database, event.client_host, event.pid) == (None, None, None, 77)


def test_percent_q_stops_the_prefix_for_background_processes() -> None:
    prefix = "%m [%p] %q%u@%d "
    events = list(pp.parse_lines([
        "2026-11-25 16:05:01.001 UTC [77] LOG:  checkpoint starting",
        "2026-11-25 16:05:01.002 UTC [78] alice@shop LOG:  connection authorized: user=alice",
    ], prefix=prefix))
    assert [(e.pid, e.user, e.database) for e in events] == [(77, None, None),
                                                             (78, "alice", "shop")]


def test_padding_and_every_escape() -> None:
    prefix = pp.LinePrefix("%-8u|%5p|%a|%e|%l|%c|%x|%v|%Q|%b|%P|%i|%s|%n|%h|%%:")
    line = ("bob     |   77|psql: x, y|42P01|3|6b070dd7.820|0|3/5|-12|client backend||SELECT|"
            "2026-11-25 16:00:00 EST|1795622701.123|10.1.1.1|%:ERROR:  x")
    parsed = prefix.parse(line)
    assert parsed is not None and parsed == prefix.parse_with_grammar(line)
    [event] = pp.parse_lines([line], prefix=prefix)
    assert (event.user, event.pid, event.application_name, event.sqlstate) == (
        "bob", 77, "psql: x, y", "42P01")
    assert (event.session_line, event.session_id, event.xid, event.virtual_xid) == (
        3, "6b070dd7.820", 0, "3/5")
    assert (event.query_id, event.backend_type, event.leader_pid, event.command_tag) == (
        -12, "client backend", None, "SELECT")
    assert event.session_start.utcoffset() == timedelta(hours=-5)
    assert event.timestamp.isoformat() == "2026-11-25T16:05:01.123000+00:00"
    assert event.client_host == "10.1.1.1"


@pytest.mark.parametrize("text, offset", [
    ("2026-11-25 16:05:01 UTC", 0), ("2026-11-25 16:05:01 CET", 60),
    ("2026-11-25 16:05:01 EST", -300), ("2026-11-25 16:05:01 +05:30", 330),
    ("2026-11-25 16:05:01 -03", -180), ("2026-11-25 16:05:01 +0545", 345),
    ("2026-11-25 16:05:01.250 IST", 330),
])
def test_timestamps_keep_their_offset(text: str, offset: int) -> None:
    assert parse_timestamp(text).utcoffset() == timedelta(minutes=offset)


def test_unknown_zone_is_a_reject_not_a_crash() -> None:
    rejects: list[pp.Reject] = []
    events = list(pp.parse_lines(["2026-11-25 16:05:01 XYZQ:::@:[1]:LOG:  x"],
                                 on_reject=rejects.append))
    assert events == [] and "unknown time zone" in rejects[0].reason


def test_payload_special_values_and_rows() -> None:
    a = parse_audit_payload("SESSION,1,1,READ,SELECT,,,select 1,<not logged>")
    assert (a.parameter, a.rows, a.object_type) == (None, None, None)
    b = parse_audit_payload("SESSION,1,1,READ,SELECT,,,select 1,<none>,1")
    # parameter is a tuple (the frozen object holds nothing mutable); JSON has a list
    assert (b.parameter, b.rows) == ((), 1)
    c = parse_audit_payload('SESSION,1,1,WRITE,INSERT,TABLE,public.t,"insert into t values '
                            '($1, $2, $3)","1,,""a,""""b""""""",5')
    assert (c.parameter, c.rows) == (("1", "", 'a,"b"'), 5)
    with pytest.raises(PayloadError):
        parse_audit_payload('SESSION,1,1,READ,SELECT,,,"unterminated,<none>')
    with pytest.raises(PayloadError):
        parse_audit_payload("NOTAUDIT,1,1,READ,SELECT,,,select 1,<none>")


def test_previously_logged_is_resolved_per_backend_and_statement() -> None:
    lines = [
        RDS + 'LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.a,"select * from a, b",<none>',
        RDS.replace("[4242]", "[4243]") + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.x,"
        "select 2,<none>",
        RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.b,<previously logged>,"
        "<previously logged>",
    ]
    events = list(pp.parse_lines(lines))
    assert events[2].audit.statement == "select * from a, b"
    assert events[2].audit.parameter == ()
    assert events[2].audit.object_name == "public.b"


def test_previously_logged_without_earlier_line_keeps_the_marker() -> None:
    [event] = pp.parse_lines([RDS + "LOG:  AUDIT: SESSION,7,1,READ,SELECT,TABLE,public.b,"
                                    "<previously logged>,<previously logged>"])
    assert event.audit.statement == "<previously logged>"


@pytest.mark.parametrize("message, kind", [
    ('password authentication failed for user "bob"', "login_failed"),
    ('no pg_hba.conf entry for host "10.0.0.9", user "bob", database "shop", no encryption',
     "login_failed"),
    ('role "ghost" does not exist', "login_failed"),
    ('role "bob" is not permitted to log in', "login_failed"),
    ('database "nope" does not exist', "error"),
    ("terminating connection due to administrator command", "error"),
])
def test_login_failures(message: str, kind: str) -> None:
    [event] = pp.parse_lines([RDS + "FATAL:  " + message])
    assert event.kind == kind
    assert isinstance(event, pp.ErrorEvent)


def test_error_role_does_not_exist_is_not_a_login_failure() -> None:
    [event] = pp.parse_lines([RDS + 'ERROR:  role "ghost" does not exist'])
    assert event.kind == "error"


def test_continuation_tab_is_removed_and_bare_cr_kept() -> None:
    lines = [RDS + 'LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,"select \'a\rb\',',
             "\t\t2", '\t",<none>']
    [event] = pp.parse_lines(lines)
    assert event.audit.statement == "select 'a\rb',\n\t2\n"


def test_secondary_lines_attach_to_their_backend_across_interleaving() -> None:
    other = RDS.replace("[4242]", "[5000]")
    lines = [RDS + "ERROR:  boom", other + "LOG:  unrelated", RDS + "DETAIL:  why",
             RDS + "STATEMENT:  select boom()"]
    events = list(pp.parse_lines(lines))
    assert [(e.message, e.detail, e.statement) for e in events] == [
        ("boom", "why", "select boom()"), ("unrelated", None, None)]


def test_every_line_lands_in_one_entry_or_one_reject() -> None:
    texts = [RDS + "LOG:  a", "\tb", "junk", "\torphan", RDS + "DETAIL:  d", "", RDS + "LOG:  c"]
    rejects: list[pp.Reject] = []
    asm = EntryAssembler(pp.LinePrefix(), rejects.append)
    entries = []
    for number, text in enumerate(texts, 1):
        entries += asm.feed(Line(text, "t", number))
    entries += asm.flush()
    seen = sorted([line.number for e in entries for line in e.lines] +
                  [r.line for r in rejects])
    assert seen == list(range(1, len(texts) + 1))


def test_streams_are_assembled_apart() -> None:
    p = pp.Parser()
    a = Line(RDS + "ERROR:  in a", "cw", 1, stream="a")
    b = Line(RDS + "STATEMENT:  belongs to nobody in b", "cw", 2, stream="b")
    c = Line(RDS + "STATEMENT:  select a", "cw", 3, stream="a")
    rejects: list[pp.Reject] = []
    p = pp.Parser(on_reject=rejects.append)
    events = p.feed(a) + p.feed(b) + p.feed(c) + p.flush()
    assert [e.statement for e in events] == ["select a"]
    assert [r.line for r in rejects] == [2]


def test_memory_is_bounded_by_the_window() -> None:
    p = pp.Parser()
    emitted = 0
    for number in range(1, 5001):
        pid = number % 500  # many backends, each writing now and then
        text = f"2026-11-25 16:05:01 UTC:[local]:u@d:[{pid}]:LOG:  line {number}"
        emitted += len(p.feed(Line(text, "f", number)))
        assert len(p.pending_lines()) <= 70
    assert emitted + len(p.flush()) == 5000


def test_record_builder_joins_only_the_matching_duration() -> None:
    lines = [RDS + "LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
             RDS + "LOG:  duration: 2.000 ms  statement: vacuum",
             RDS + "LOG:  AUDIT: SESSION,2,1,ROLE,CREATE ROLE,,,create role x password <REDACTED>,"
                   "<none>",
             RDS + "LOG:  duration: 1.000 ms  statement: create role x password 'pw' login"]
    builder = RecordBuilder()
    records = [r for e in pp.parse_lines(lines) for r in builder.add(e)] + builder.flush()
    # executionTime: Guardium's Integer microseconds, null when no duration was logged
    assert [(r["data"]["originalSqlCommand"], r["executionTime"]) for r in records] == [
        ("select 1", None), ("vacuum", 2000), ("create role x password <REDACTED>", 1000)]


def test_verbose_error_verbosity_sqlstate_is_not_part_of_the_message() -> None:
    prefix = "%m [%p] "
    events = list(pp.parse_lines([
        "2026-11-25 13:51:30.173 -03 [29341] LOG:  00000: AUDIT: SESSION,1,1,ROLE,CREATE ROLE,,,"
        "CREATE ROLE r NOLOGIN;,<not logged>",
        "2026-11-25 13:51:30.173 -03 [29341] LOCATION:  log_audit_event, pgaudit.c:800",
        "2026-11-25 13:51:31.000 -03 [29341] ERROR:  42P01: relation \"x\" does not exist "
        "at character 15",
        "2026-11-25 13:51:31.000 -03 [29341] STATEMENT:  select * from x",
    ], prefix=prefix))
    assert [(e.kind, e.sqlstate) for e in events] == [("audit", "00000"), ("error", "42P01")]
    assert events[0].audit.statement == "CREATE ROLE r NOLOGIN;"
    assert events[0].location == "log_audit_event, pgaudit.c:800"
    assert (events[1].message, events[1].cursor_position) == ('relation "x" does not exist', 15)


def test_cursor_position_only_stripped_when_a_query_is_logged() -> None:
    [warning] = pp.parse_lines([RDS + "WARNING:  this text ends at character 5"])
    assert (warning.message, warning.cursor_position) == ("this text ends at character 5", None)


def test_connection_authenticated_is_a_connection_event() -> None:
    [event] = pp.parse_lines([RDS + 'LOG:  connection authenticated: identity="alice" '
                                    "method=scram-sha-256 (/etc/pg_hba.conf:3)"])
    assert event.kind == "connection"


def test_session_fields_come_from_connection_lines_when_the_prefix_lacks_them() -> None:
    lines = [
        "2026-11-25 16:00:00.000 UTC [10] LOG:  connection received: host=::1 port=5001",
        "2026-11-25 16:00:00.001 UTC [10] LOG:  connection authorized: user=alice database=shop "
        "application_name=psql",
        "2026-11-25 16:00:01.000 UTC [10] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
        "2026-11-25 16:00:02.000 UTC [10] LOG:  disconnection: session time: 0:00:02.000 "
        "user=alice database=shop host=::1 port=5001",
        "2026-11-25 16:00:03.000 UTC [10] LOG:  connection received: host=10.0.0.1 port=6000",
        "2026-11-25 16:00:04.000 UTC [10] LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,select 2,<none>",
    ]
    events = list(pp.parse_lines(lines, prefix="%m [%p] "))
    audit1, audit2 = (e for e in events if e.kind == "audit")
    assert (audit1.user, audit1.database, audit1.client_host, audit1.client_port) == (
        "alice", "shop", "::1", 5001)
    assert (audit2.user, audit2.client_host, audit2.client_port) == (None, "10.0.0.1", 6000)


def test_reused_pid_does_not_inherit_the_previous_session() -> None:
    lines = [
        "2026-11-25 16:00:00.000 UTC [10] LOG:  connection received: host=::1 port=5001",
        "2026-11-25 16:00:00.001 UTC [10] LOG:  connection authorized: user=alice database=shop",
        "2026-11-25 16:00:03.000 UTC [10] LOG:  connection received: host=10.0.0.1 port=6000",
    ]
    events = list(pp.parse_lines(lines, prefix="%m [%p] "))
    assert (events[2].user, events[2].client_host) == (None, "10.0.0.1")


def test_parse_file_takes_a_path_object() -> None:
    # pathlib.Path is how most callers hold a file name (it gave an AttributeError)
    log = Path(__file__).resolve().parent.parent / "fixtures" / "real-rds.log"
    assert list(pp.parse_file(log)) == list(pp.parse_file(str(log)))
