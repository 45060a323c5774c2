"""PostgreSQL's lexical grammar (``src/backend/parser/scan.l``), as a fast scanner.

A token is a kind and a span of the text: ``sql[token.start:token.end]``. Every character
of the input belongs to exactly one token, whitespace and comments included, so the
tokens of a statement put end to end give the statement back byte for byte. The scanner
follows flex's rule, as ``scan.l`` does: at each position the longest match wins, and of
two matches of the same length the rule written first in ``scan.l``.

It never fails. Where PostgreSQL's scanner would raise an error (an unterminated string,
comment, dollar quote or quoted identifier, ``""``, trailing junk after a number such as
``1abc``, ``0x``, a parameter number above 2^31-1), the rest of the text is one ``opaque``
token: a statement cut short keeps the tokens before the cut. Escape values inside ``E''``
and ``U&''`` strings are not checked (PostgreSQL rejects ``E'\\u12'``; here it is a
string): the span is what matters.
``standard_conforming_strings`` is taken to be on (the default since PostgreSQL 9.1).

:mod:`pgaudit_parse.sql.reference` states the same grammar with pyparsing combinators;
property tests prove that the two give the same tokens.

>>> sql = "select E'it\\\\'s', $q$a;b$q$ -- note\\n  from t where id = $1"
>>> [(t.kind, t.text(sql)) for t in tokenize(sql) if t.kind not in ("space", "comment")]
... # doctest: +NORMALIZE_WHITESPACE
[('ident', 'select'), ('estring', "E'it\\\\'s'"), ('punct', ','), ('dollar', '$q$a;b$q$'),
 ('ident', 'from'), ('ident', 't'), ('ident', 'where'), ('ident', 'id'),
 ('operator', '='), ('param', '$1')]
>>> [t.kind for t in tokenize("select 'cut sh")]
['ident', 'space', 'opaque']
"""

from __future__ import annotations

import re
from typing import Final, Literal, NamedTuple, cast

__all__ = [
    "Token",
    "TokenKind",
    "tokenize",
    "STRING_KINDS",
    "CONSTANT_KINDS",
    "TRIVIA_KINDS",
    "OP_CHARS",
    "SELF_CHARS",
]

TokenKind = Literal[
    "space",      # a run of " \t\n\r\f\v"
    "comment",    # -- to the end of the line, or /* ... */ (nested)
    "string",     # '...' with '' inside; also 'a'<newline>'b' (one constant)
    "estring",    # E'...' with backslash escapes
    "ustring",    # U&'...' (its UESCAPE clause is separate tokens, as in scan.l)
    "bstring",    # B'0101'
    "xstring",    # X'1F'
    "dollar",     # $$...$$ or $tag$...$tag$
    "number",     # 42, 1_000, 0x1F, 0o17, 0b101, 1.5, .5e-3
    "param",      # $1
    "ident",      # an unquoted identifier or keyword
    "qident",     # "..." or U&"..." (an identifier, never a constant)
    "operator",   # + - <= :: .. := and any other run of operator characters
    "punct",      # , ( ) [ ] . ; :
    "other",      # any other single character (PostgreSQL returns it as a token too)
    "opaque",     # the rest of the text, from where PostgreSQL's scanner would fail
]

STRING_KINDS: Final[frozenset[str]] = frozenset(
    {"string", "estring", "ustring", "bstring", "xstring", "dollar"})
CONSTANT_KINDS: Final[frozenset[str]] = STRING_KINDS | {"number"}
TRIVIA_KINDS: Final[frozenset[str]] = frozenset({"space", "comment"})

# scan.l's character classes. Bytes \200-\377 (any non-ASCII character here) may start
# and continue identifiers and dollar-quote tags.
SPACE_CHARS: Final = " \t\n\r\f\v"
HORIZ_SPACE_CHARS: Final = " \t\f\v"
NEWLINE_CHARS: Final = "\n\r"
OP_CHARS: Final = "~!@#^&|`?+-*/%<>="
SELF_CHARS: Final = ",()[].;:+-*/%^<>="
# An operator that holds one of these may end in + or - (scan.l's {operator} action).
OP_KEEPS_SIGN_CHARS: Final = "~!@#^&|`?%"

# As regex classes, written negated: "any character but these ASCII ones" compiles in no
# time, where a range up to \U0010ffff costs a tenth of a second at import.
IDENT_START: Final = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"            # A-Za-z_ and non-ASCII
IDENT_CONT: Final = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # ... 0-9 $
DOLQ_CONT: Final = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"       # A-Za-z_0-9, non-ASCII
INT_MAX: Final = 2**31 - 1  # a larger $n is "parameter number too large"


class Token(NamedTuple):
    """One token: its kind and its span ``[start, end)`` in the text it came from.

    (An immutable named tuple rather than a frozen dataclass: a statement has dozens of
    tokens, and a tuple is built in a third of the time.)
    """

    kind: TokenKind
    start: int
    end: int

    def text(self, sql: str) -> str:
        """The token's characters in ``sql``."""
        return sql[self.start:self.end]


# The number rules of scan.l, in its order (the order breaks ties of equal length).
# A rule marked "error" makes PostgreSQL's scanner fail; "numericfail" (1..) gives back
# the two dots and returns the integer, for ranges such as 1..10 in PL/pgSQL.
_DEC = r"[0-9](?:_?[0-9])*"
_NUMERIC = rf"(?:{_DEC}\.(?:{_DEC})?|\.{_DEC})"
_REAL = rf"(?:{_DEC}|{_NUMERIC})[Ee][-+]?{_DEC}"
_IDENT = rf"{IDENT_START}{IDENT_CONT}*"
_NUMBER_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (outcome, re.compile(pattern)) for outcome, pattern in (
        ("number", _DEC),                                    # decinteger
        ("number", r"0[xX](?:_?[0-9A-Fa-f])+"),              # hexinteger
        ("number", r"0[oO](?:_?[0-7])+"),                    # octinteger
        ("number", r"0[bB](?:_?[01])+"),                     # bininteger
        ("error", r"0[xX]_?"),                               # hexfail
        ("error", r"0[oO]_?"),                               # octfail
        ("error", r"0[bB]_?"),                               # binfail
        ("number", _NUMERIC),                                # numeric
        ("numericfail", rf"{_DEC}\.\."),                     # numericfail
        ("number", _REAL),                                   # real
        ("error", rf"(?:{_DEC}|{_NUMERIC})[Ee][-+]"),        # realfail
        ("error", rf"{_DEC}{_IDENT}"),                       # integer_junk
        ("error", rf"{_NUMERIC}{_IDENT}"),                   # numeric_junk
        ("error", rf"{_REAL}{_IDENT}"),                      # real_junk
    ))
# Most numbers are plain digits followed by something that cannot extend them.
_PLAIN_INTEGER = re.compile(rf"[0-9]+(?![0-9_.]|{IDENT_START})")

_OP = re.escape(OP_CHARS)
_OP_NO_SIGN = re.escape(OP_CHARS.replace("+", "").replace("-", ""))
# One regex tries the rules at a position. Its groups are ordered so that the first that
# matches is flex's longest match; the groups marked "exact" give the token whole, the
# others only start it and a handler below finds its end.
_MASTER = re.compile(
    rf"""
     (?P<space>[{SPACE_CHARS}]+)                                             # exact
    |(?P<line_comment>--[^\n\r]*)                                             # exact
    |(?P<block_comment>/\*)
    |(?P<estring>[eE]')
    |(?P<bstring>[bB]')
    |(?P<xstring>[xX]')
    |(?P<ustring>[uU]&')
    |(?P<uident>[uU]&")
    |(?P<plain_string>'[^']*'(?!')(?!(?:[ \t\f\v]|--[^\n\r]*)*[\n\r]))            # exact
    |(?P<string>')
    |(?P<qident>")
    |(?P<dollar>\$(?:{IDENT_START}{DOLQ_CONT}*)?\$)
    |(?P<param>\$[0-9]+)
    |(?P<integer>[0-9]+(?![0-9_.]|{IDENT_START}))                             # exact
    |(?P<number>\.?[0-9])
    |(?P<ident>{_IDENT})                                                      # exact
    |(?P<special>::|\.\.|:=)                                                  # exact
    |(?P<punct>[,()\[\].;:])                                                  # exact
    |(?P<plain_operator>(?:(?!--|/\*)[{_OP}])*[{_OP_NO_SIGN}](?![{_OP}]))       # exact
    |(?P<operator>[{_OP}])
    |(?P<other>[\s\S])                                                        # exact
    """,
    re.VERBOSE,
)
# Groups that are whole tokens, and their kinds.
_EXACT: Final[dict[str | None, TokenKind]] = {
    "space": "space", "ident": "ident", "punct": "punct", "other": "other",
    "line_comment": "comment", "special": "operator", "plain_string": "string",
    "integer": "number", "plain_operator": "operator",
}

# The body of each kind of quoted text, after its opening quote, through its closing one.
# (?!') : a closing quote is never the first half of a doubled one (flex's longest match).
_STANDARD_BODY = re.compile(r"[^']*(?:''[^']*)*'(?!')")
_ESCAPE_BODY = re.compile(r"[^'\\]*(?:(?:''|\\[\s\S])[^'\\]*)*'(?!')")
_BIT_BODY = re.compile(r"[^']*'")
_QIDENT_BODY = re.compile(r'[^"]*(?:""[^"]*)*"(?!")')
# scan.l's {quotecontinue}: whitespace holding a newline (and -- comments), then a quote;
# 'a'<newline>'b' is the one constant 'ab'.
_QUOTE_CONTINUE = re.compile(
    r"(?:[ \t\f\v]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f\v]|--[^\n\r]*[\n\r])*'")
_COMMENT_DELIMITER = re.compile(r"/\*|\*/")
_STRING_BODIES: Final[dict[str, re.Pattern[str]]] = {
    "string": _STANDARD_BODY, "ustring": _STANDARD_BODY, "estring": _ESCAPE_BODY,
    "bstring": _BIT_BODY, "xstring": _BIT_BODY,
}


def _string_end(sql: str, body: re.Pattern[str], pos: int) -> int:
    """End of a quoted constant whose first body character is at ``pos``; -1: unterminated."""
    while True:
        m = body.match(sql, pos)
        if m is None:
            return -1
        end = m.end()
        more = _QUOTE_CONTINUE.match(sql, end)
        if more is None:
            return end
        pos = more.end()


def _comment_end(sql: str, pos: int) -> int:
    """End of a ``/* */`` comment (nested ones included) opened just before ``pos``."""
    depth = 1
    while depth:
        m = _COMMENT_DELIMITER.search(sql, pos)
        if m is None:
            return -1
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
    return pos


def _number_end(sql: str, pos: int) -> int:
    """End of the number at ``pos``; -1 when scan.l would fail there."""
    plain = _PLAIN_INTEGER.match(sql, pos)
    if plain is not None:
        return plain.end()
    best_length, best_outcome = 0, "error"
    for outcome, pattern in _NUMBER_RULES:
        m = pattern.match(sql, pos)
        if m is not None and m.end() - pos > best_length:
            best_length, best_outcome = m.end() - pos, outcome
    if best_outcome == "error":
        return -1
    if best_outcome == "numericfail":
        return pos + best_length - 2
    return pos + best_length


# Where a run of operator characters stops being one: a comment opener or another character.
_OPERATOR_SEGMENT_END = re.compile(rf"--|/\*|[^{_OP}]")


def _operator_ends(sql: str, pos: int) -> list[int]:
    """Ends of the operators from ``pos`` up to the next comment opener or character that
    is no operator character (the whole segment, so that a long run costs one pass).

    scan.l's {operator} action, at each start: the operator stops before ``/*`` or ``--``
    (a comment starts there), and loses trailing ``+``/``-`` unless it holds one of
    ``~!@#^&|`?%`` (so that ``a*-1`` is ``a * -1``). Within the segment, an operator from
    ``p`` holds such a character iff the segment's last one is at ``p`` or after, and what
    the trailing signs leave ends after the segment's last character that is no sign.
    """
    m = _OPERATOR_SEGMENT_END.search(sql, pos + 1)
    segment_end = m.start() if m is not None else len(sql)
    last_keep = last_other = pos - 1
    for k in range(segment_end - 1, pos - 1, -1):
        char = sql[k]
        if last_other < pos and char not in "+-":
            last_other = k
        if last_keep < pos and char in OP_KEEPS_SIGN_CHARS:
            last_keep = k
        if last_other >= pos and last_keep >= pos:
            break
    ends: list[int] = []
    p = pos
    while p < segment_end:
        if segment_end - p > 1 and sql[segment_end - 1] in "+-" and last_keep < p:
            end = max(last_other + 1, p + 1)
        else:
            end = segment_end
        ends.append(end)
        p = end
    return ends


def tokenize(sql: str) -> list[Token]:
    """Every token of ``sql``, in order, covering it exactly.

    >>> [(t.kind, t.start, t.end) for t in tokenize("a<-1")]
    [('ident', 0, 1), ('operator', 1, 2), ('operator', 2, 3), ('number', 3, 4)]
    """
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    size = len(sql)
    match = _MASTER.match
    exact = _EXACT.get
    new = tuple.__new__
    while pos < size:
        m = match(sql, pos)
        assert m is not None  # (?P<other>) matches any character
        group = m.lastgroup
        end = m.end()
        simple = exact(group)
        if simple is not None:
            append(new(Token, (simple, pos, end)))
            pos = end
            continue
        kind: TokenKind
        if group == "operator":  # a run that plain_operator did not take whole
            for end in _operator_ends(sql, pos):
                append(Token("operator", pos, end))
                pos = end
            continue
        if group == "number":
            kind = "number"
            end = _number_end(sql, pos)
        elif group == "param":
            kind = "param"
            if end - pos > 10 and int(sql[pos + 1:end]) > INT_MAX:
                end = -1
        elif group == "block_comment":
            kind = "comment"
            end = _comment_end(sql, end)
        elif group == "dollar":
            kind = "dollar"
            close = sql.find(m.group(), end)
            end = -1 if close < 0 else close + len(m.group())
        elif group == "qident" or group == "uident":
            kind = "qident"
            body = _QIDENT_BODY.match(sql, end)
            end = body.end() if body is not None and body.end() > end + 1 else -1
        else:  # a quoted constant
            kind = cast(TokenKind, group)
            end = _string_end(sql, _STRING_BODIES[kind], end)
        if end < 0:
            append(Token("opaque", pos, size))
            break
        append(Token(kind, pos, end))
        pos = end
    return tokens
