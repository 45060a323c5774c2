"""Property tests of the pgAudit payload (``AUDIT: `` + CSV record).

Records are rendered exactly as pgAudit's ``append_valid_csv`` / ``log_audit_event`` write
them (see ``tests/strategies.py``) and must parse back; the ``csv`` fast path
(:func:`split_csv`) must agree with the pyparsing grammar (:func:`split_csv_with_grammar`)
on rendered records and on arbitrary text -- both raise :class:`PayloadError` or both
return the same fields.

Run: ``python -m pytest tests/test_payload_properties.py -q``.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from strategies import (
    SETTINGS,
    AuditRecord,
    append_valid_csv,
    audit_records,
    csv_like_text,
    parameter_values,
    render_audit_record,
)

from pgaudit_parse.payload import (
    NOT_LOGGED,
    PREVIOUSLY_LOGGED,
    AuditFields,
    PayloadError,
    parse_audit_payload,
    split_csv,
    split_csv_linear,
    split_csv_with_grammar,
)


def expected_fields(record: AuditRecord) -> AuditFields:
    """What ``parse_audit_payload`` must return for a rendered record (DESIGN.md)."""
    parameter: tuple[str, ...] | None
    if record.previously_logged:
        statement: str | None = PREVIOUSLY_LOGGED
        parameter = (PREVIOUSLY_LOGGED,)
    elif record.statement is None:
        statement, parameter = NOT_LOGGED, None
    else:
        statement = record.statement or None
        parameter = None if record.parameter is None else tuple(
            "" if value is None else value for value in record.parameter)
    return AuditFields(
        audit_type=record.audit_type,
        statement_id=record.statement_id,
        substatement_id=record.substatement_id,
        class_=record.class_,
        command=record.command or None,
        object_type=record.object_type or None,
        object_name=record.object_name or None,
        statement=statement,
        parameter=parameter,
        rows=record.rows,
    )


def outcome(split: object, text: str) -> object:
    """The fields, or the exception type (so failures of both sides compare equal)."""
    try:
        return split(text)  # type: ignore[operator]
    except PayloadError:
        return PayloadError


#: A statement holding a backslash sequence (E'a\nb') next to a comma, so it is quoted.
BACKSLASH_IN_QUOTED_STATEMENT = AuditRecord(
    "SESSION", 1, 1, "READ", "SELECT", "", "", "select E'a\\nb', 1", None, False, None)
#: A statement indented with a TAB, holding a comma.
TAB_IN_QUOTED_STATEMENT = AuditRecord(
    "SESSION", 2, 1, "WRITE", "INSERT", "TABLE", "public.t",
    "insert into t\n\tvalues (1, 'x')", ["a\tb", "c,d"], False, 1)


@SETTINGS
@given(audit_records)
@example(BACKSLASH_IN_QUOTED_STATEMENT)
@example(TAB_IN_QUOTED_STATEMENT)
def test_rendered_record_round_trips(record: AuditRecord) -> None:
    payload = render_audit_record(record)
    assert parse_audit_payload(payload) == expected_fields(record)


@SETTINGS
@given(audit_records)
@example(BACKSLASH_IN_QUOTED_STATEMENT)
@example(TAB_IN_QUOTED_STATEMENT)
def test_fast_path_equals_grammar_on_rendered_records(record: AuditRecord) -> None:
    payload = render_audit_record(record)
    assert split_csv(payload) == split_csv_with_grammar(payload)


@SETTINGS
@given(st.lists(parameter_values, min_size=1, max_size=8))
@example(["\t"])
@example(["select E'a\\nb'", "x,y"])
def test_rendered_fields_split_back(fields: list[str]) -> None:
    text = ",".join(append_valid_csv(field) for field in fields)
    assert split_csv(text) == fields
    assert split_csv_with_grammar(text) == fields


@SETTINGS
@given(csv_like_text)
@example('a,"x\\ny, z"')
@example('a\tb,"c"')
@example('"a"b')
@example('a,"b"\n')
def test_fast_path_equals_grammar_on_arbitrary_text(text: str) -> None:
    assert outcome(split_csv, text) == outcome(split_csv_with_grammar, text)


@SETTINGS
@given(st.one_of(csv_like_text, audit_records.map(render_audit_record).map(
    lambda payload: payload[: len(payload) // 2])))
def test_torn_or_arbitrary_payload_raises_only_payload_error(text: str) -> None:
    try:
        fields = parse_audit_payload(text)
    except PayloadError:
        return
    assert fields.audit_type in ("SESSION", "OBJECT")


def outcome_with_message(split: object, text: str) -> object:
    """The fields, or the error message (the column must agree too)."""
    try:
        return split(text)  # type: ignore[operator]
    except PayloadError as exc:
        return str(exc)


@SETTINGS
@given(st.one_of(csv_like_text, st.text(alphabet='",a\n""', max_size=30),
                 audit_records.map(render_audit_record)))
@example('"a""')
@example('"a""b""c')
@example('x\n"a""b""cd')
@example('a,"b')
@example('"ab""x"y')
def test_linear_split_equals_grammar_with_its_error_column(text: str) -> None:
    assert outcome_with_message(split_csv_linear, text) == outcome_with_message(
        split_csv_with_grammar, text)


#: Text made of CSV's tokens: quotes, doubled quotes, commas, line ends and a few others.
csv_tokens = st.lists(st.sampled_from(['"', '""', ",", "a", "é数", "\n", "\r", " ", "<none>"]),
                      max_size=16).map("".join)


@SETTINGS
@given(st.one_of(csv_like_text, csv_tokens, csv_tokens,
                 audit_records.map(render_audit_record),
                 st.lists(st.one_of(parameter_values, csv_like_text), max_size=10).map(
                     lambda fields: ",".join(append_valid_csv(f) for f in fields))))
@example('"a""')
@example('a,"b"c,d')
@example('a,b"c')
@example('a"b"')
@example('a,b"c",d')
@example(',"x"')
@example('"x",')
@example('"x""""y","",""""')
def test_fast_split_equals_grammar_with_its_error_column(text: str) -> None:
    """split_csv (str.split between quoted fields) is the grammar's split, errors and all."""
    expected = outcome_with_message(split_csv_with_grammar, text)
    assert outcome_with_message(split_csv, text) == expected
    assert outcome_with_message(split_csv_linear, text) == expected
