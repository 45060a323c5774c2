"""The SQL stage and the execution grouper equal their plain code (tests/reference_stages.py)
event for event, on generated logs of every kind of line they look at; and the credential
pre-check of ``passwords`` mode never lets through text the redactor would change."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_stages import ReferenceGrouper, ReferenceSqlStage
from sql_strategies import literals, secret_values, sql_soup
from strategies import SETTINGS, AuditRecord, render_audit_record, scaled

from pgaudit_parse import parse_lines
from pgaudit_parse.events import Event
from pgaudit_parse.formats.executions import Execution, ExecutionGrouper, _new_execution
from pgaudit_parse.formats.record_template import RecordWriter
from pgaudit_parse.sinks import OutputSink
from pgaudit_parse.sql import redact
from pgaudit_parse.sql.lexer import tokenize
from pgaudit_parse.sql.redact import (
    _MAY_HOLD_CREDENTIAL,
    _apply,
    _credential_spans,
    may_hold_credential,
    redact_passwords,
)
from pgaudit_parse.sql.stage import SqlStage

# -- the credential pre-check ------------------------------------------------------------

_cue_pieces = st.sampled_from([
    "api_key", "apiKey", "auth", "authorized", "Auth", "token", "pwd", "md5",
    "0123456789abcdef0123456789abcdef", "SCRAM-SHA-256$", "key", "ssl", "secret_key",
    "password", "PASSWORD", "PassWord", "pa\u017f\u017fword", "pas\u017fword", "passwd",
    "pass", "word", "://", ":/", "/", "\\", "uescape", "UESCAPE", "ue\u017fcape", "\u017f",
    "\u212a", "\u0130", "\u00df", "\u03a3", "=", " ", "'", "$$", "host=db ", "postgres://u:",
    "@h", "E'", "U&'",
])
_cue_text = st.one_of(
    st.lists(_cue_pieces, max_size=8).map("".join),
    st.text(max_size=40),
    sql_soup(),
    literals(secret_values()),
)


def _reference_passwords(sql: str) -> str:
    """``passwords`` mode without any pre-check: lex, find every credential, hide it."""
    return _apply(sql, _credential_spans(sql, tokenize(sql), 0))


@SETTINGS
@given(_cue_text)
def test_the_precheck_says_true_wherever_the_regex_matches(text: str) -> None:
    if _MAY_HOLD_CREDENTIAL.search(text):
        assert may_hold_credential(text)


@SETTINGS
@given(_cue_text)
def test_text_the_precheck_passes_needs_no_redaction(text: str) -> None:
    if not may_hold_credential(text):
        assert _reference_passwords(text) == text
        assert redact_passwords(text) == text


def test_the_precheck_sees_every_spelling() -> None:
    for text in ("ALTER ROLE a PASSWORD 'x'", "pa\u017f\u017fword=1", "E'\\x41'",
                 "select CRYPT('pw', gen_salt('bf'))", "select HMAC('d', 'k', 'sha1')",
                 "U&'a' UESCAPE '!'", "select 'pg://u:p@h'", "PASSWORD"):
        assert may_hold_credential(text), text
    assert not may_hold_credential("update t set a = a + 1 where id = 7")


# -- generated logs ----------------------------------------------------------------------

_SQL = st.one_of(
    st.sampled_from([
        "select 1", "select 1;", "SELECT abalance FROM pgbench_accounts WHERE aid = 98942;",
        "select 1; select 2", "select 1; alter role a password 'x'; select 3",
        "insert into t values (1, 'x'); update t set a = 2", "BEGIN; SELECT 1; COMMIT;",
        "ALTER ROLE bob WITH PASSWORD <REDACTED>", "create user u password 'p'",
        "CREATE ROLE x PASSWORD $1", "select dblink_connect('host=db password=s3cret')",
        "select 'postgresql://u:pw@h/db'", "select E'pass\\x77ord=1'",
        "select 'pa\u017f\u017fword=1'", "SELECT U&'d!0061t' UESCAPE '!'",
        "update t set a = a + 5 where id = 7;", "select 'a;b'; select \"c;d\"",
        "DO $$ BEGIN EXECUTE 'ALTER ROLE a PASSWORD ''x'''; END $$",
        "select $1, $2\n-- trailing; comment", "",
    ]),
    sql_soup(with_garbage=False),
)
_PARAMETERS = st.one_of(st.none(), st.lists(st.sampled_from(
    ["1", "x", "host=a password=b", "postgres://u:p@h/d", "pass\u017fword=1", "a,b"]),
    max_size=3))
_PREFIX = "2026-11-25 16:{minute:02d}:{second:02d} UTC:[local]:bob@db:[{pid}]:"


@st.composite
def _message(draw: st.DrawFn) -> list[tuple[str, str]]:
    """(severity or label, text) of one message and its secondary lines."""
    sql = draw(_SQL)
    kind = draw(st.sampled_from(["audit", "audit", "audit", "statement", "duration",
                                 "execute", "error", "connection", "plain"]))
    if kind == "audit":
        record = AuditRecord(
            audit_type=draw(st.sampled_from(["SESSION", "OBJECT"])),
            statement_id=draw(st.integers(1, 4)), substatement_id=draw(st.integers(1, 2)),
            class_=draw(st.sampled_from(["READ", "WRITE", "ROLE", "MISC"])),
            command=draw(st.sampled_from(["SELECT", "INSERT", "UPDATE", "ALTER ROLE",
                                          "BEGIN", "COMMIT", "DO"])),
            object_type=draw(st.sampled_from(["", "TABLE"])),
            object_name=draw(st.sampled_from(["", "public.t"])),
            statement=sql, parameter=draw(_PARAMETERS),
            previously_logged=draw(st.integers(0, 5)) == 0,
            rows=draw(st.one_of(st.none(), st.integers(0, 9))))
        return [("LOG", "AUDIT: " + render_audit_record(record))]
    if kind == "statement":
        return [("LOG", "statement: " + sql)]
    if kind == "duration":
        head = draw(st.sampled_from(["statement: ", "execute S_1: ", "parse S_1: ",
                                     "bind S_1: ", None]))
        ms = draw(st.sampled_from(["0.250", "1.005", "12"]))
        return [("LOG", f"duration: {ms} ms" + ("" if head is None else "  " + head + sql))]
    if kind == "execute":
        lines = [("LOG", "execute S_1: " + sql)]
        if draw(st.booleans()):
            lines.append(("DETAIL", "parameters: $1 = 'x', $2 = 'host=a password=b', "
                                    "$3 = NULL"))
        return lines
    if kind == "error":
        lines = [("ERROR", draw(st.sampled_from(["division by zero",
                                                 "duplicate key value violates unique "
                                                 "constraint \"t_pkey\""])))]
        if draw(st.booleans()):
            lines.append(("DETAIL", draw(st.sampled_from([
                "Key (a)=(1) already exists.", "Failing row contains (1, password=x).",
                "connection to host=a password=b failed"]))))
        if draw(st.booleans()):
            lines.append(("CONTEXT", draw(st.sampled_from([
                "SQL statement \"ALTER ROLE a PASSWORD 'x'\"\nPL/pgSQL function "
                "inline_code_block line 1 at SQL statement", "SQL statement \"" + sql + "\""]))))
        lines.append(("STATEMENT", sql))
        return lines
    if kind == "connection":
        return [("LOG", draw(st.sampled_from([
            "connection received: host=[local]", "connection authorized: user=bob database=db",
            "disconnection: session time: 0:00:00.017 user=bob database=db host=[local]"])))]
    return [("LOG", draw(st.sampled_from(["checkpoint starting: time", "password=x",
                                          "plan: select 1"])))]


@st.composite
def generated_events(draw: st.DrawFn) -> list[Event]:
    """Events of a log of a few backends, timestamps jumping back and forth."""
    lines: list[str] = []
    second = 0
    for _ in range(draw(st.integers(1, 25))):
        second = max(0, second + draw(st.sampled_from([0, 0, 0, 1, 2, 7, 400, -3])))
        prefix = _PREFIX.format(minute=second // 60 % 60, second=second % 60,
                                pid=draw(st.sampled_from([7, 7, 8, 9])))
        for label, text in draw(_message()):
            first, *more = (prefix + label + ":  " + text).split("\n")
            lines += [first] + ["\t" + part for part in more]
    return list(parse_lines(lines))


_STAGE_SETTINGS = [("none", True, True), ("passwords", True, True),
                   ("passwords", False, False), ("literals", True, True),
                   ("literals", False, False)]


@scaled(0.5)
@given(generated_events())
def test_sql_stage_equals_its_plain_code(events: list[Event]) -> None:
    for mode, fingerprints, messages in _STAGE_SETTINGS:
        fast = SqlStage(mode, fingerprints=fingerprints, audit_messages=messages)
        plain = ReferenceSqlStage(mode, fingerprints=fingerprints, audit_messages=messages)
        for event in events:
            assert fast.apply(event) == plain.apply(event), (mode, event)


def _state(grouper: ExecutionGrouper | ReferenceGrouper) -> tuple[object, ...]:
    return (grouper.held(), grouper.held_bytes, grouper.released_early, grouper.joined,
            grouper.oldest_held_line(), grouper.held_sources())


@pytest.mark.parametrize("bounds", [
    {}, {"max_held": 2, "max_per_session": 1, "max_wait": 5.0},
    {"max_held_bytes": 60, "max_wait": 0.0},
])
@scaled(0.5)
@given(events=generated_events())
def test_grouper_equals_its_plain_code(bounds: dict[str, float], events: list[Event]) -> None:
    fast = ExecutionGrouper(**bounds)  # type: ignore[arg-type]
    plain = ReferenceGrouper(**bounds)
    for event in events:
        assert fast.add(event) == plain.add(event)
        assert _state(fast) == _state(plain)
    assert fast.flush() == plain.flush()
    assert _state(fast) == _state(plain)


def test_the_found_cases_equal_the_plain_code() -> None:
    # found by Hypothesis: two substatements of one statement id over max_per_session=1
    p = "2026-11-25 16:00:00 UTC:[local]:bob@db:[7]:LOG:  AUDIT: SESSION,1,"
    events = list(parse_lines([p + "1,READ,SELECT,,,<previously logged>,<previously logged>",
                               p + "2,READ,SELECT,,,<previously logged>,<previously logged>"]))
    bounds = {"max_held": 2, "max_per_session": 1, "max_wait": 5.0}
    fast = ExecutionGrouper(**bounds)  # type: ignore[arg-type]
    plain = ReferenceGrouper(**bounds)
    for event in events:
        assert fast.add(event) == plain.add(event)
        assert _state(fast) == _state(plain)
    assert fast.flush() == plain.flush()


def test_a_fixed_log_of_every_kind_equals_the_plain_code() -> None:
    # Whatever the strategies happen to draw, these lines go through every branch.
    events = list(parse_lines(list(_example_lines())))
    kinds = {type(e).__name__ for e in events}
    assert kinds >= {"AuditEvent", "LogEvent", "DurationEvent", "ErrorEvent",
                     "ConnectionEvent", "DisconnectionEvent"}
    for mode, fingerprints, messages in _STAGE_SETTINGS:
        fast = SqlStage(mode, fingerprints=fingerprints, audit_messages=messages)
        plain = ReferenceSqlStage(mode, fingerprints=fingerprints, audit_messages=messages)
        results = [fast.apply(e) for e in events]
        assert results == [plain.apply(e) for e in events]
        if mode != "none":
            changed = [e for e, (new, _) in zip(events, results, strict=True) if new != e]
            assert changed and len(changed) < len(events)
    fast_grouper, plain_grouper = ExecutionGrouper(max_wait=5.0), ReferenceGrouper(max_wait=5.0)
    assert [fast_grouper.add(e) for e in events] == [plain_grouper.add(e) for e in events]
    assert fast_grouper.flush() == plain_grouper.flush()


def _example_lines() -> Iterable[str]:
    p = _PREFIX.format(minute=5, second=1, pid=7)
    q = _PREFIX.format(minute=9, second=1, pid=8)
    yield p + "LOG:  connection received: host=[local]"
    yield p + "LOG:  AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,alter role a password 'x',<none>"
    yield p + "LOG:  AUDIT: SESSION,2,1,READ,SELECT,,,select 1; select 2,<none>"
    yield p + "LOG:  AUDIT: OBJECT,2,1,READ,SELECT,TABLE,t,select 1; select 2,<none>"
    yield p + "LOG:  AUDIT: SESSION,3,1,READ,SELECT,,,select 1; select 2,<none>"
    yield p + "LOG:  duration: 0.250 ms  statement: select 1; select 2"
    yield p + "LOG:  execute S_1: select $1"
    yield p + "DETAIL:  parameters: $1 = 'host=a password=b'"
    yield p + "LOG:  duration: 0.250 ms  execute S_1: select $1"
    yield q + "LOG:  checkpoint starting: time"
    yield q + "ERROR:  division by zero"
    yield q + "CONTEXT:  SQL statement \"ALTER ROLE a PASSWORD 'x'\""
    yield q + "STATEMENT:  select 1/0"
    yield p + "LOG:  AUDIT: SESSION,4,1,READ,SELECT,,,select 'pa\u017f\u017fword=1',<none>"
    yield p + "LOG:  disconnection: session time: 0:00:00.017 user=bob database=db host=[local]"


def test_precheck_regex_is_the_redactors_cue_set() -> None:
    # The reference the pre-check is proven against names the words the redactor looks for.
    assert _MAY_HOLD_CREDENTIAL.flags & re.IGNORECASE
    # (fix-creds: the name rule's cues; "auth", a key and a verifier narrowly, as log
    # messages say "authorized", "key" and "scram-sha-256" all the time)
    from pgaudit_parse.sql.redact import _KEY_CUE_PATTERN
    for cue in ("pass", "secret", "credential", "token", "pw", "://", "\\\\", "uescape",
                "crypt", "hmac", "program", "auth(?!ori[sz]ed|enticat)", "md5[0-9a-f]{32}",
                "scram-sha-256\\$"):
        assert cue in _MAY_HOLD_CREDENTIAL.pattern, cue
    assert _KEY_CUE_PATTERN in _MAY_HOLD_CREDENTIAL.pattern


@SETTINGS
@given(st.tuples(st.none() | st.integers(), st.text(max_size=5),
                 st.sampled_from(["audit", "statement", "duration"]),
                 st.none() | st.integers(), st.none() | st.integers(), st.integers(),
                 st.integers()))
def test_executions_built_through_the_slots_equal_the_dataclass(values: tuple) -> None:
    made = _new_execution(*values)
    assert made == Execution(*values)
    assert type(made) is Execution and repr(made) == repr(Execution(*values))
    with pytest.raises(AttributeError):
        made.sql = "x"  # type: ignore[misc]  # still frozen


# -- records do not hide passwords twice -------------------------------------------------
# An output sink's records come from its SQL stage in ``passwords`` (or ``literals``) mode,
# so their writer does not run ``redact_passwords`` on the statements again. That is
# output-neutral only because hiding is idempotent over what the stage writes.

@SETTINGS
@given(_cue_text, st.sampled_from(["passwords", "literals"]))
def test_hiding_passwords_again_changes_nothing(text: str, mode: str) -> None:
    once = redact(text, mode)
    assert redact_passwords(once) == once


def _records(events: list[Event], mode: str | None, hide_again: bool) -> str:
    out = io.StringIO()
    sink = OutputSink(out, fmt="records", redact=mode)
    if hide_again:  # the writer as it was: it hid the passwords the stage had hidden
        sink._records = RecordWriter(values=sink.values, max_held_bytes=sink.held_bytes,
                                     redacted=False)
    for event in events:
        sink.write(event)
    sink.flush()
    return out.getvalue()


@scaled(0.5)
@given(generated_events(), st.sampled_from([None, "none", "passwords", "literals"]))
def test_records_equal_the_writer_that_hides_again(events: list[Event],
                                                    mode: str | None) -> None:
    assert _records(events, mode, False) == _records(events, mode, True)


def test_records_of_credential_logs_equal_the_writer_that_hides_again() -> None:
    from test_creds_forms import COPY_LOG, PREPARE_LOG

    for lines in (COPY_LOG, PREPARE_LOG, list(_example_lines())):
        events = list(parse_lines(lines))
        for mode in (None, "literals"):
            fast = _records(events, mode, False)
            assert fast == _records(events, mode, True)
            assert fast  # the log made records


def test_a_writer_without_the_stage_still_hides_passwords() -> None:
    line = ("2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  AUDIT: SESSION,1,1,ROLE,"
            "ALTER ROLE,,,alter role a password 's3cret',<none>")
    writer = RecordWriter()
    out = [r for e in parse_lines([line]) for r in writer.add_lines(e)] + writer.flush_lines()
    assert out and "s3cret" not in "".join(out)
