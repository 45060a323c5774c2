"""The pgAudit payload: ``AUDIT: `` followed by one CSV record.

Fields: ``AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,
STATEMENT,PARAMETER[,ROWS]``. pgAudit quotes a field only when it holds a comma, a double
quote, CR or LF, doubling inner quotes. PARAMETER, when logged, is itself such a CSV list,
quoted once more as a whole.

The pyparsing grammar (:data:`AUDIT_RECORD`) is the reference; :func:`split_csv` is the
fast path over the ``csv`` module, used when it provably agrees (property tests check it).

>>> f = parse_audit_payload('SESSION,1,1,READ,SELECT,TABLE,public.t,"select 1, 2",<none>')
>>> f.class_, f.statement, f.parameter, f.rows
('READ', 'select 1, 2', [], None)
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import Final

import pyparsing as pp

__all__ = [
    "AUDIT_MARKER",
    "NOT_LOGGED",
    "NO_PARAMETERS",
    "PREVIOUSLY_LOGGED",
    "AuditFields",
    "PayloadError",
    "parse_audit_payload",
    "split_csv",
    "split_csv_with_grammar",
]

AUDIT_MARKER: Final = "AUDIT: "
NOT_LOGGED: Final = "<not logged>"
NO_PARAMETERS: Final = "<none>"
PREVIOUSLY_LOGGED: Final = "<previously logged>"


class PayloadError(ValueError):
    """A pgAudit payload that is torn or malformed."""


@dataclass(frozen=True, slots=True)
class AuditFields:
    """The fields of one pgAudit line (``class_`` because ``class`` is a keyword).

    ``parameter`` is None when not logged, ``[]`` for ``<none>``, else the values (SQL NULL
    and '' both appear as ''). ``rows`` is None unless ``pgaudit.log_rows`` is on.
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
    parameter: list[str] | None
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
                             convert_whitespace_escapes=False)
    quoted = quoted.leave_whitespace().set_name("quoted field")
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
    """Split a pgAudit CSV record (fast path; falls back to the grammar when in doubt).

    The ``csv`` module is lenient with stray quotes; pgAudit never writes them, so any
    record holding a quote that is not at a field start goes to the grammar instead.

    >>> split_csv('SESSION,1,1,READ,SELECT,,,"x\\ny",<none>')
    ['SESSION', '1', '1', 'READ', 'SELECT', '', '', 'x\\ny', '<none>']
    """
    if '"' not in text:
        return text.split(",")
    try:
        fields = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return split_csv_with_grammar(text)
    if _rejoin(fields) != text:
        return split_csv_with_grammar(text)
    return fields


def _rejoin(fields: list[str]) -> str:
    """Write fields back the way pgAudit would (to check the fast path lost nothing)."""
    needs_quotes = _NEEDS_QUOTES.search
    return ",".join('"' + field.replace('"', '""') + '"' if needs_quotes(field) else field
                    for field in fields)


_NEEDS_QUOTES: Final = re.compile('[,"\n\r]')


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PayloadError(f"{name} is not a number") from None


def parse_parameter(text: str) -> list[str] | None:
    '''PARAMETER as a list: None for ``<not logged>``, ``[]`` for ``<none>``.

    >>> parse_parameter('1,"he said ""hi"""'), parse_parameter("<none>")
    (['1', 'he said "hi"'], [])
    '''
    if text == NOT_LOGGED:
        return None
    if text == NO_PARAMETERS:
        return []
    return split_csv(text)


def parse_audit_payload(payload: str) -> AuditFields:
    """Parse the text after ``AUDIT: `` into :class:`AuditFields`.

    ``<previously logged>`` is kept as is here; the event builder resolves it from the
    earlier line of the same backend.

    >>> parse_audit_payload("OBJECT,2,1,WRITE,INSERT,TABLE,public.t,insert,<not logged>,3").rows
    3
    """
    fields = split_csv(payload)
    count = len(fields)
    if count != 9 and count != 10:
        raise PayloadError(f"expected 9 or 10 pgAudit fields, found {count}")
    audit_type = fields[0]
    if audit_type != "SESSION" and audit_type != "OBJECT":
        raise PayloadError("audit type is neither SESSION nor OBJECT")
    statement = fields[7]
    parameter_text = fields[8]
    if parameter_text == NOT_LOGGED:
        parameter: list[str] | None = None
    elif parameter_text == PREVIOUSLY_LOGGED:
        parameter = [PREVIOUSLY_LOGGED]
    else:
        parameter = parse_parameter(parameter_text)
    rows: int | None = None
    if count == 10 and fields[9] != "":
        rows = _int(fields[9], "ROWS")
    # Positional: the hot path of every audit line.
    return AuditFields(audit_type, _int(fields[1], "STATEMENT_ID"),
                       _int(fields[2], "SUBSTATEMENT_ID"), fields[3] or None,
                       fields[4] or None, fields[5] or None, fields[6] or None,
                       statement if statement != "" else None, parameter, rows)
