"""The SQL stage on parsed events: every field that carries SQL or data is redacted."""

from __future__ import annotations

import io
import json

import pytest

from pgaudit_parse import parse_lines
from pgaudit_parse.events import Event
from pgaudit_parse.payload import parse_audit_payload
from pgaudit_parse.sinks import OutputSink
from pgaudit_parse.sql.stage import SqlStage

P = "2026-11-25 16:05:01 UTC:10.0.0.5(5000):bob@shop:[42]:"
LOG = [
    P + "LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,public.t,"
        "\"insert into t values ('Mk1001', 5150)\",\"Mk1002,\"\"x,y\"\"\"",
    P + "LOG:  AUDIT: OBJECT,1,1,WRITE,INSERT,TABLE,public.t,<previously logged>,"
        "<previously logged>",
    P + "ERROR:  duplicate key value violates unique constraint \"t_email_key\"",
    P + "DETAIL:  Key (email)=(Mk1003@example.com) already exists.",
    P + "STATEMENT:  insert into t values ('Mk1003@example.com')",
    P + "LOG:  statement: select * from t where b = 'Mk1004'",
    P + "LOG:  execute S_1: select * from t where c = $1",
    P + "DETAIL:  parameters: $1 = 'Mk1005'",
    P + "LOG:  duration: 0.250 ms  statement: update t set d = 'Mk1006'",
    P + "ERROR:  role \"nosuch\" does not exist",
    P + "CONTEXT:  SQL statement \"ALTER ROLE nosuch PASSWORD 'Mk1007'\"",
    "\tPL/pgSQL function inline_code_block line 1 at EXECUTE",
    P + "STATEMENT:  DO $$ BEGIN EXECUTE 'ALTER ROLE nosuch PASSWORD ''Mk1007'''; END $$",
]
MARKERS = [f"Mk100{i}" for i in range(1, 8)]


def _events() -> list[Event]:
    return list(parse_lines(LOG))


def _text(events: list[Event]) -> str:
    return "\n".join(repr(e) for e in events)


def test_input_holds_every_marker() -> None:
    text = _text(_events())
    assert all(m in text for m in MARKERS)


def test_literals_mode_hides_every_constant_everywhere() -> None:
    stage = SqlStage("literals")
    events = [stage.apply(e)[0] for e in _events()]
    assert not [m for m in MARKERS if m in _text(events)]
    audit = events[0]
    assert audit.audit.statement == "insert into t values ($1, $2)"  # type: ignore[attr-defined]
    assert audit.audit.parameter == ("$1", "$2")  # type: ignore[attr-defined]
    payload = parse_audit_payload(audit.message[len("AUDIT: "):])
    assert payload.statement == audit.audit.statement  # type: ignore[attr-defined]
    assert "<previously logged>" in events[1].message  # nothing to hide there: kept
    assert events[2].detail == "Key (email)=($1) already exists."
    assert events[4].detail == "parameters: $1 = <REDACTED>"


def test_passwords_mode_hides_only_credentials() -> None:
    stage = SqlStage("passwords")
    events = [stage.apply(e)[0] for e in _events()]
    text = _text(events)
    assert "Mk1007" not in text
    assert all(m in text for m in MARKERS[:6])
    assert events[-1].context is not None and events[-1].context.startswith(
        'SQL statement "ALTER ROLE nosuch PASSWORD <REDACTED>"')


def test_none_mode_changes_nothing() -> None:
    stage = SqlStage("none")
    originals = _events()
    assert [stage.apply(e)[0] for e in originals] == originals


@pytest.mark.parametrize("fmt, mode, visible", [
    # records default to passwords (and carry statements, not parameters or DETAIL;
    # Mk1005 is a parameter of an execute line)
    ("records", None, ["Mk1001", "Mk1003", "Mk1004", "Mk1006"]),
    ("events", None, MARKERS),           # events default to none
    ("records", "literals", []),
    ("events", "passwords", MARKERS[:6]),
])
def test_sink_defaults(fmt: str, mode: str | None, visible: list[str]) -> None:
    out = io.StringIO()
    sink = OutputSink(out, fmt=fmt, redact=mode)
    for event in _events():
        sink.write(event)
    sink.flush()
    text = out.getvalue()
    assert [m for m in MARKERS if m in text] == [m for m in MARKERS if m in visible]
    if fmt == "events":
        first = json.loads(text.splitlines()[0])
        assert first["fingerprint"] and "statement_full" in first["audit"]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown redaction mode"):
        SqlStage("all")
