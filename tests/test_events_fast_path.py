"""The event builder's fast paths equal their references (issue 12).

:meth:`EventBuilder.build` builds a one-line ``AUDIT:`` message straight from the entry's
fields (:meth:`EventBuilder._build_audit_line`); :meth:`EventBuilder.build_with_table` is
the reference (the common-fields dict, then the table of recognisers). Two builders fed
the same generated sequence of entries -- audit lines of several sessions (reused pids,
new ``%c`` ids, statement ids going down, ``<previously logged>``), connection and
disconnection lines between them, torn payloads, bad timestamps, odd prefix values,
ambiguous ``%u@%d`` splits -- must give equal events, equal rejects and equal session
state.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    SETTINGS,
    audit_records,
    csv_like_text,
    epochs,
    free_text,
    remotes,
    render_audit_record,
    timestamps_m,
    timestamps_t,
)

from pgaudit_parse.entries import LogEntry
from pgaudit_parse.events import EventBuilder
from pgaudit_parse.lines import Line, Reject
from pgaudit_parse.parser import Parser
from pgaudit_parse.prefix import LinePrefix
from pgaudit_parse.sessions import _SESSION_BYTES, _logged_bytes
from pgaudit_parse.timestamps import TimestampParser

#: A prefix with an ambiguous ``%u@%d`` split, so that path is exercised too.
PREFIX = LinePrefix("%t:%r:%u@%d:[%p]:")

odd_ints = st.one_of(st.integers(0, 2**40).map(str),
                     st.sampled_from(["", "007", "-1", " 5", "x", "1_0", "٣", "²",
                                      "99999999999999999999"]))
names = st.one_of(free_text, st.sampled_from(["", "[unknown]", "alice", "x@y", "a@b@c"]))
bad_stamps = st.sampled_from(["2026-13-45 99:99:99 UTC", "2026-11-25 16:05:01 XYZQ", "x"])


@st.composite
def prefix_fields(draw: st.DrawFn) -> dict[str, str]:
    """Prefix values as the prefix grammar hands them over: any subset of escapes."""
    fields: dict[str, str] = {}
    when = draw(st.sampled_from("tmn-"))
    if when != "-":
        good = {"t": timestamps_t, "m": timestamps_m, "n": epochs}[when]
        fields[when] = draw(good)
    if draw(st.booleans()):
        fields["r"] = draw(st.one_of(remotes, st.sampled_from(["", "[local]", "h(", "h(x)"])))
    if draw(st.integers(0, 5)) == 0:
        fields["h"] = draw(st.sampled_from(["", "[unknown]", "10.0.0.1", "db.example"]))
    for escape in "ud":
        if draw(st.integers(0, 4)):
            fields[escape] = draw(names)
    if draw(st.integers(0, 6)):
        fields["p"] = draw(st.one_of(st.sampled_from(["7", "7", "8", "07"]), odd_ints))
    if draw(st.integers(0, 3)) == 0:
        fields["c"] = draw(st.sampled_from(["", "65f1.1", "65f1.2", "65f1.3"]))
    if draw(st.integers(0, 4)) == 0:  # the escapes the fast path reads only when present
        for escape in draw(st.lists(st.sampled_from("salibevxPQ"), max_size=5)):
            if escape == "s":
                fields["s"] = draw(st.one_of(timestamps_t, st.just("")))
            elif escape in "abie":
                fields[escape] = draw(names)
            else:
                fields[escape] = draw(odd_ints)
    return fields


#: Short sessions' audit lines: small statement ids (so they repeat and go down),
#: ``<previously logged>`` often, parameters in every form.
session_audit_messages = st.builds(
    lambda kind, n, sub, statement, parameter: (
        f"AUDIT: {kind},{n},{sub},READ,SELECT,TABLE,public.t,{statement},{parameter}"),
    st.sampled_from(["SESSION", "OBJECT"]), st.integers(1, 4), st.integers(1, 2),
    st.sampled_from(["<previously logged>", "select 1", '"select 1, 2"', ""]),
    st.sampled_from(["<previously logged>", "<none>", "<not logged>", '"1,""x"""']))
torn_audit_messages = st.one_of(csv_like_text.map(lambda text: "AUDIT: " + text),
                                st.just("AUDIT: "))
other_messages = st.sampled_from([
    "connection received: host=10.0.0.9 port=5000",
    "connection authorized: user=x@y database=shop application_name=psql",
    "connection authorized: user=carol database=sales",
    "disconnection: session time: 0:00:01.002 user=alice database=shop host=h port=1",
    "checkpoint starting",
    "duration: 1.5 ms  statement: select 1",
    "00000: AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
])
secondary = st.lists(st.tuples(st.sampled_from(["DETAIL", "STATEMENT", "CONTEXT"]),
                               st.sampled_from(["select 1", "x"])), max_size=2)


@st.composite
def entries(draw: st.DrawFn) -> list[LogEntry]:
    """A few backends' entries, interleaved; a line may lack some of its backend's
    values (so they come from the session) or carry a new ``%c``."""
    backends = draw(st.lists(prefix_fields(), min_size=1, max_size=3))
    out = []
    for number in range(1, draw(st.integers(1, 25)) + 1):
        fields = dict(draw(st.sampled_from(backends)))
        for escape in draw(st.lists(st.sampled_from("rudc"), max_size=2)):
            fields.pop(escape, None)
        if draw(st.integers(0, 5)) == 0:
            fields["c"] = draw(st.sampled_from(["65f1.1", "65f1.2", "65f1.3"]))
        kind = draw(st.integers(0, 15))
        message = draw(session_audit_messages if kind < 9 else other_messages if kind < 13
                       else torn_audit_messages if kind < 14
                       else audit_records.map(lambda r: "AUDIT: " + render_audit_record(r)))
        if draw(st.integers(0, 15)) == 0:
            fields[draw(st.sampled_from("tmns"))] = draw(bad_stamps)
        severity = draw(st.sampled_from(["LOG", "LOG", "LOG", "ERROR", "FATAL"]))
        extra = tuple(draw(secondary)) if draw(st.integers(0, 7)) == 0 else ()
        stream = draw(st.sampled_from(["", "", "", "other"]))
        out.append(LogEntry(MappingProxyType(fields), severity, message, extra,
                            (Line("text", "f.log", number, stream),)))
    return out


def _builder(rejects: list[Reject]) -> EventBuilder:
    return EventBuilder(rejects.append, prefix=PREFIX, max_state_bytes=8_000,
                        timestamps=TimestampParser(None, lambda zone: None))


@SETTINGS
@given(entries())
def test_fast_build_equals_the_recogniser_table(sequence: list[LogEntry]) -> None:
    fast_rejects: list[Reject] = []
    reference_rejects: list[Reject] = []
    fast, reference = _builder(fast_rejects), _builder(reference_rejects)
    for entry in sequence:
        assert fast.build(entry) == reference.build_with_table(entry), entry
    assert fast_rejects == reference_rejects
    assert (fast.state_bytes, fast.unresolved_statements, fast.evicted_statements) == (
        reference.state_bytes, reference.unresolved_statements,
        reference.evicted_statements)
    fast_sessions, reference_sessions = fast.sessions._sessions, reference.sessions._sessions
    assert list(fast_sessions) == list(reference_sessions)
    for key, session in fast_sessions.items():
        other = reference_sessions[key]
        assert (session.statements, session.session_id, session.last_statement_id,
                session.bytes, session.said) == (
            other.statements, other.session_id, other.last_statement_id, other.bytes,
            other.said)
        # each statement keeps the size _logged_bytes gives it (the accounting's reference)
        for statement, parameter, size in session.statements.values():
            assert size == _logged_bytes(statement, parameter)
        assert session.bytes == _SESSION_BYTES + sum(
            size for _, _, size in session.statements.values())
    assert fast.state_bytes == sum(session.bytes for session in fast_sessions.values())


def test_the_fast_path_takes_plain_audit_lines_only() -> None:
    """The reference is reached for what the fast path leaves to it (so the property
    above compares two different code paths where it matters)."""
    calls: list[LogEntry] = []

    class Counting(EventBuilder):
        def build_with_table(self, entry: LogEntry):  # type: ignore[no-untyped-def]
            calls.append(entry)
            return super().build_with_table(entry)

    builder = Counting(prefix=PREFIX)

    def entry(message: str, user: str = "bob", db: str = "shop",
              extra: tuple[tuple[str, str], ...] = ()) -> LogEntry:
        fields = {"t": "2026-11-25 16:05:01 UTC", "u": user, "d": db, "p": "7"}
        return LogEntry(MappingProxyType(fields), "LOG", message, extra, (Line("x"),))

    audit = "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>"
    builder.build(entry(audit))
    assert calls == []
    builder.build(entry(audit, db="example.com@shop"))  # ambiguous split
    builder.build(entry(audit, extra=(("STATEMENT", "select 1"),)))
    builder.build(entry("checkpoint starting"))
    assert len(calls) == 3


#: Prefixes of real deployments whose free-text values may hold the literals that follow
#: them (``user=%u,db=%d``), padded escapes, ``%q`` and every structured escape.
UNUSUAL_PREFIXES = ("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ", "%m [%p] %q%u@%d ",
                    "%m [%p] %-10u@%-8d %r ", "%t [%p]: db=%d,user=%u,app=%a,client=%h ",
                    "%m:%r:%u@%d:[%p]:%c:%l:%e:%s:%v:%x:%i:%b:%Q:")
_VALUES = {"t": "2026-11-25 16:05:01 UTC", "m": "2026-11-25 16:05:01.123 UTC", "l": "3",
           "r": "10.0.0.5(5000)", "c": "65f1.2a", "e": "00000", "s": "2026-11-25 16:00:00 UTC",
           "v": "3/4", "x": "0", "i": "SELECT", "b": "client backend",
           "Q": "-12345678901234567890"}
odd_names = st.sampled_from(["alice", "a,b", "user=x", "db=y,", "x@y", "x@y@z", "", "[unknown]",
                             "app=q", "client=1", " ", "a b", "ü", "1,db=2"])
plain_audit_messages = st.sampled_from([
    "AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<none>",
    "AUDIT: SESSION,2,1,READ,SELECT,,,<previously logged>,<previously logged>",
    "AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.t,<previously logged>,<previously logged>",
    "connection authorized: user=a,b database=db=y,",
    "AUDIT: SESSION,1,1,READ,SELECT,,,\"select 'x\",<none>,99999999999999999999999",
    "AUDIT: SESSION,0,1,READ,SELECT,,,x,<not logged>"])


def _render(prefix: str, names: tuple[str, str, str, str], pid: int, message: str) -> str:
    values = {**_VALUES, "p": str(pid), "u": names[0], "d": names[1], "a": names[2],
              "h": names[3]}

    def value(match: re.Match[str]) -> str:
        width, text = match.group(1), values[match.group(2)]
        if width:
            text = text.rjust(int(width)) if int(width) > 0 else text.ljust(-int(width))
        return text

    return re.sub(r"%(-?\d+)?([a-zA-Z])", value, prefix.replace("%q", "")) + "LOG:  " + message


@SETTINGS
@given(st.sampled_from(UNUSUAL_PREFIXES),
       st.lists(st.tuples(st.tuples(odd_names, odd_names, odd_names, odd_names),
                          st.sampled_from([1, 2]), plain_audit_messages), max_size=12))
def test_fast_build_equals_the_reference_on_unusual_prefixes(
        prefix: str, items: list[tuple[tuple[str, str, str, str], int, str]]) -> None:
    """Whole lines through the parser: the audit fast path against the recogniser table,
    on prefixes whose values may hold their own separators."""
    lines = [Line(_render(prefix, names, pid, message), "f", n)
             for n, (names, pid, message) in enumerate(items, 1)]
    outcomes = []
    for reference in (False, True):
        rejects: list[Reject] = []
        parser = Parser(LinePrefix(prefix), on_reject=rejects.append)
        if reference:
            parser._builder.build = parser._builder.build_with_table  # type: ignore[method-assign]
        events = [event for line in lines for event in parser.feed(line)]
        outcomes.append((events + list(parser.flush()), rejects))
    assert outcomes[0] == outcomes[1]
