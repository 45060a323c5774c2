"""The pgAudit payload: ``AUDIT: `` followed by one CSV record.

Fields: ``AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,
STATEMENT,PARAMETER[,ROWS]``. pgAudit quotes a field only when it holds a comma, a double
quote, CR or LF, doubling inner quotes. PARAMETER, when logged, is itself such a CSV list,
quoted once more as a whole.

The pyparsing grammar (:data:`AUDIT_RECORD`) is the reference. :func:`split_csv_linear`
splits a record in one pass exactly as the grammar does (errors included), in memory
proportional to it (the grammar's regex keeps backtracking state per character: ~125
bytes each, too much for a bulk INSERT); :func:`split_csv` is its fast path, splitting
runs of plain fields in C, and hands it whatever is not well formed (property tests
check all three agree).

>>> f = parse_audit_payload('SESSION,1,1,READ,SELECT,TABLE,public.t,"select 1, 2",<none>')
>>> f.class_, f.statement, f.parameter, f.rows
('READ', 'select 1, 2', (), None)
"""

from __future__ import annotations

from typing import Final, NoReturn

import msgspec
import pyparsing as pp

__all__ = [
    "AUDIT_MARKER",
    "NOT_LOGGED",
    "NO_PARAMETERS",
    "PREVIOUSLY_LOGGED",
    "PREVIOUSLY_LOGGED_PARAMETER",
    "AuditFields",
    "PayloadError",
    "parse_audit_payload",
    "split_csv",
    "split_csv_linear",
    "split_csv_with_grammar",
]

AUDIT_MARKER: Final = "AUDIT: "
NOT_LOGGED: Final = "<not logged>"
NO_PARAMETERS: Final = "<none>"
PREVIOUSLY_LOGGED: Final = "<previously logged>"
#: ``AuditFields.parameter`` of a line whose PARAMETER is ``<previously logged>``.
PREVIOUSLY_LOGGED_PARAMETER: Final[tuple[str, ...]] = (PREVIOUSLY_LOGGED,)


class PayloadError(ValueError):
    """A pgAudit payload that is torn or malformed."""


class AuditFields(msgspec.Struct, frozen=True, gc=False):
    """The fields of one pgAudit line (``class_`` because ``class`` is a keyword).

    A frozen ``msgspec.Struct`` (C-implemented construction, one per audit line),
    positional or keyword like the dataclass it was.

    ``parameter`` is None when not logged, ``()`` for ``<none>``, else the values (SQL NULL
    and '' both appear as ''); a tuple, so the frozen object holds nothing mutable (the
    JSON form is a list). ``rows`` is None unless ``pgaudit.log_rows`` is on.
    Empty fields are None.
    """

    audit_type: str
    statement_id: int
    substatement_id: int
    class_: str | None
    command: str | None
    object_type: str | None
    object_name: str | None
    statement: str | None
    parameter: tuple[str, ...] | None
    rows: int | None

    def as_dict(self) -> dict[str, object]:
        """The ``audit`` object of the ``--format events`` JSON."""
        return {
            "audit_type": self.audit_type,
            "statement_id": self.statement_id,
            "substatement_id": self.substatement_id,
            "class": self.class_,
            "command": self.command,
            "object_type": self.object_type,
            "object_name": self.object_name,
            "statement": self.statement,
            "parameter": None if self.parameter is None else list(self.parameter),
            "rows": self.rows,
        }


# -- the grammar ---------------------------------------------------------------------------

def _build_csv_grammar() -> pp.ParserElement:
    quoted = pp.QuotedString('"', esc_quote='""', multiline=True, unquote_results=True,
                             convert_whitespace_escapes=False
                             ).leave_whitespace().set_name("quoted field")
    unquoted = pp.Regex(r'[^,"]*').leave_whitespace().set_name("plain field")
    field = (quoted | unquoted).set_name("field")
    comma = pp.Suppress(pp.Literal(",").leave_whitespace())
    record = pp.Group(field + pp.ZeroOrMore(comma + field)).leave_whitespace()
    grammar = (record + pp.StringEnd().leave_whitespace()).set_name("pgAudit CSV record")
    return grammar.parse_with_tabs()  # keep TABs in statements as they are


#: The pyparsing grammar of a pgAudit CSV record (also used for the nested PARAMETER list).
AUDIT_RECORD: Final = _build_csv_grammar()


def split_csv_with_grammar(text: str) -> list[str]:
    '''Split a pgAudit CSV record with the pyparsing grammar.

    >>> split_csv_with_grammar('a,"b,""c""",')
    ['a', 'b,"c"', '']
    '''
    try:
        return list(AUDIT_RECORD.parse_string(text, parse_all=True)[0])
    except pp.ParseException as exc:
        raise PayloadError(f"malformed CSV at column {exc.col}") from None


def split_csv(text: str) -> list[str]:
    """Split a pgAudit CSV record (fast path of :func:`split_csv_linear`, which it equals).

    Runs without quotes are split by ``str.split`` in C, and each quoted field is found by
    ``str.find`` (pgAudit quotes only the fields that need it: the statement, sometimes
    the parameter list or an object name). Anything the grammar would not accept (a
    quote inside a plain field, an unclosed quote, text after a closing quote) goes to
    :func:`split_csv_linear`, which raises the grammar's error.

    >>> split_csv('SESSION,1,1,READ,SELECT,,,"x\\ny",<none>')
    ['SESSION', '1', '1', 'READ', 'SELECT', '', '', 'x\\ny', '<none>']
    """
    if '"' not in text:
        return text.split(",")
    fields: list[str] = []
    find = text.find
    end = len(text)
    pos = 0  # the start of a field
    while True:
        quote = find('"', pos)
        if quote < 0:
            fields += text[pos:].split(",")
            return fields
        if quote != pos:
            if text[quote - 1] != ",":
                return split_csv_linear(text)  # a quote inside a plain field
            fields += text[pos:quote - 1].split(",")
        close = find('"', quote + 1)
        while close >= 0 and text.startswith('"', close + 1):  # a doubled quote
            close = find('"', close + 2)
        if close < 0:
            return split_csv_linear(text)  # unclosed
        value = text[quote + 1:close]
        fields.append(value.replace('""', '"') if '""' in value else value)
        pos = close + 1
        if pos == end:
            return fields
        if text[pos] != ",":
            return split_csv_linear(text)  # text after the closing quote
        pos += 1


def split_csv_linear(text: str) -> list[str]:
    '''Split a pgAudit CSV record in one pass, exactly as the grammar does.

    The grammar is a PEG: a field is a quoted string (``"``, then any run of ``""`` or
    non-quote characters, then ``"``) or else a run of characters that are neither comma
    nor quote; fields are separated by commas, and the record ends after a field. A quoted
    field thus ends at the first quote that is not half of a ``""`` pair. Time is linear in
    the text; memory is one copy of each field. Errors name the column the grammar names.

    >>> split_csv_linear('a,"b,""c""",')
    ['a', 'b,"c"', '']
    >>> split_csv_linear('"a"b')
    Traceback (most recent call last):
    pgaudit_parse.payload.PayloadError: malformed CSV at column 4
    '''
    fields: list[str] = []
    find = text.find
    end = len(text)
    pos = 0
    while True:
        if pos < end and text[pos] == '"':
            close, last_pair = _closing_quote(text, pos + 1)
            if close < 0:
                # No quote closes the field. The grammar's regex then backtracks to the
                # first quote of the last "" pair (which is followed by a quote, so the
                # record fails right after it), or, without a pair, fails here.
                _malformed(text, pos if last_pair < 0 else last_pair + 1)
            value = text[pos + 1:close]
            fields.append(value.replace('""', '"') if '""' in value else value)
            pos = close + 1
        else:
            comma = find(",", pos)
            stop = end if comma < 0 else comma
            quote = find('"', pos, stop)
            if quote >= 0:
                _malformed(text, quote)
            fields.append(text[pos:stop])
            pos = stop
        if pos == end:
            return fields
        if text[pos] != ",":
            _malformed(text, pos)
        pos += 1


def _closing_quote(text: str, pos: int) -> tuple[int, int]:
    """(index of the quote closing a quoted field whose text starts at ``pos``, or -1;
    index of the first quote of the last ``""`` pair seen, or -1)."""
    find = text.find
    last_pair = -1
    while True:
        quote = find('"', pos)
        if quote < 0:
            return -1, last_pair
        if text.startswith('"', quote + 1):
            last_pair = quote  # a doubled quote: part of the value
            pos = quote + 2
            continue
        return quote, last_pair


def _malformed(text: str, index: int) -> NoReturn:
    raise PayloadError(f"malformed CSV at column {pp.col(index, text)}")


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PayloadError(f"{name} is not a number") from None


def parse_parameter(text: str) -> tuple[str, ...] | None:
    '''PARAMETER as a tuple: None for ``<not logged>``, ``()`` for ``<none>``.

    >>> parse_parameter('1,"he said ""hi"""'), parse_parameter("<none>")
    (('1', 'he said "hi"'), ())
    '''
    if text == NOT_LOGGED:
        return None
    if text == NO_PARAMETERS:
        return ()
    return tuple(split_csv(text))


def parse_audit_payload(payload: str) -> AuditFields:
    """Parse the text after ``AUDIT: `` into :class:`AuditFields`.

    ``<previously logged>`` is kept as is here; the event builder resolves it from the
    earlier line of the same backend.

    >>> parse_audit_payload("OBJECT,2,1,WRITE,INSERT,TABLE,public.t,insert,<not logged>,3").rows
    3
    """
    fields = payload.split(",") if '"' not in payload else split_csv(payload)
    count = len(fields)
    if count != 9 and count != 10:
        raise PayloadError(f"expected 9 or 10 pgAudit fields, found {count}")
    audit_type = fields[0]
    if audit_type != "SESSION" and audit_type != "OBJECT":
        raise PayloadError("audit type is neither SESSION nor OBJECT")
    statement = fields[7]
    parameter_text = fields[8]
    if parameter_text == NOT_LOGGED:
        parameter: tuple[str, ...] | None = None
    elif parameter_text == PREVIOUSLY_LOGGED:
        parameter = PREVIOUSLY_LOGGED_PARAMETER
    else:
        parameter = parse_parameter(parameter_text)
    rows: int | None = None
    if count == 10 and fields[9] != "":
        rows = _int(fields[9], "ROWS")
    try:
        statement_id, substatement_id = int(fields[1]), int(fields[2])
    except ValueError:
        statement_id, substatement_id = (_int(fields[1], "STATEMENT_ID"),
                                         _int(fields[2], "SUBSTATEMENT_ID"))
    # Positional: the hot path of every audit line.
    return AuditFields(audit_type, statement_id, substatement_id, fields[3] or None,
                       fields[4] or None, fields[5] or None, fields[6] or None,
                       statement if statement != "" else None, parameter, rows)
