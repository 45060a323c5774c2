"""What a constant token means: its value, and which tokens make one constant.

>>> from .lexer import tokenize
>>> sql = "select E'pass\\\\x77ord', U&'d!0061t' UESCAPE '!', -1, a -1, $t$x$t$"
>>> [(c.start, c.end, c.value) for c in find_constants(sql, tokenize(sql))]
... # doctest: +NORMALIZE_WHITESPACE
[(7, 21, 'password'), (23, 46, 'dat'), (48, 50, '-1'), (55, 56, '1'), (58, 65, 'x')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .keywords import RESERVED_KEYWORDS
from .lexer import (
    _QUOTE_CONTINUE,
    _STRING_BODIES,
    CONSTANT_KINDS,
    TRIVIA_KINDS,
    Token,
)

__all__ = ["Constant", "constant_value", "find_constants", "previous_significant", "uescape_of",
           "unicode_unescape", "may_hold_type_modifiers"]

_PREFIX_LENGTH: Final = {"string": 1, "estring": 2, "bstring": 2, "xstring": 2, "ustring": 3}
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})"
                     r"|U([0-9A-Fa-f]{8})|([\s\S]))")
_SIMPLE_ESCAPES: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# Keywords after which a '-' is a sign, not a subtraction (gram.y folds "- 5" into the
# constant -5 there, and pg_stat_statements replaces the sign with the constant): every
# reserved keyword of PostgreSQL (kwlist.h; no column can have such a name unquoted) but
# those that end an operand (NULL, TRUE, END, CURRENT_DATE, DESC...), and a few others
# that are seldom names (BETWEEN, LIKE, VALUES, MINVALUE...).
_ENDS_OPERAND: Final = frozenset("""
    current_catalog current_date current_role current_time current_timestamp current_user
    false localtime localtimestamp null session_user system_user true user end asc desc
""".split())
_OPERAND_EXPECTED: Final = (RESERVED_KEYWORDS - _ENDS_OPERAND) | frozenset("""
    between by escape ilike is like overlaps return set similar values minvalue maxvalue
    increment restart
""".split())
# Words that expect an operand only right after another (FETCH FIRST -1, AT TIME ZONE -5):
# alone they are common column names.
_OPERAND_EXPECTED_AFTER: Final = {"first": "fetch", "next": "fetch", "zone": "time"}


@dataclass(frozen=True, slots=True)
class Constant:
    """One constant of a statement: ``sql[start:end]``, sign included, and its value."""

    start: int
    end: int
    kind: str
    value: str


def _chr(code: int) -> str:
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return "\ufffd"


def _unescape(text: str) -> str:
    """The value of an E'' string body (backslash escapes; not validated)."""
    def one(m: re.Match[str]) -> str:
        octal, hex2, u4, u8, other = m.groups()
        if octal is not None:
            return _chr(int(octal, 8))
        if hex2 is not None:
            return _chr(int(hex2, 16))
        if u4 is not None or u8 is not None:
            return _chr(int(u4 or u8, 16))
        return _SIMPLE_ESCAPES.get(other, other)
    return _ESCAPE.sub(one, text)


def unicode_unescape(text: str, escape: str = "\\") -> str:
    """The value of a U&'' string or U&"" identifier body with escape character ``escape``.

    >>> unicode_unescape("d!0061t!!", "!")
    'dat!'
    """
    e = re.escape(escape)
    pattern = re.compile(rf"{e}(?:({e})|\+([0-9A-Fa-f]{{6}})|([0-9A-Fa-f]{{4}}))")
    return pattern.sub(lambda m: m.group(1) or _chr(int(m.group(2) or m.group(3), 16)), text)


def constant_value(sql: str, token: Token, uescape: str = "\\") -> str:
    """The value a constant token stands for (strings joined across continuations).

    >>> from .lexer import tokenize
    >>> sql = "'it''s'\\n'ok'"
    >>> constant_value(sql, tokenize(sql)[0])
    "it'sok"
    """
    text = token.text(sql)
    kind = token.kind
    if kind == "dollar":
        tag_end = text.index("$", 1) + 1
        return text[tag_end:len(text) - tag_end]
    if kind not in _PREFIX_LENGTH:
        return text
    body = _STRING_BODIES[kind]
    parts: list[str] = []
    pos = token.start + _PREFIX_LENGTH[kind]
    while True:
        m = body.match(sql, pos)
        if m is None or m.end() > token.end:
            break
        parts.append(sql[pos:m.end() - 1])
        more = _QUOTE_CONTINUE.match(sql, m.end())
        if more is None or more.end() > token.end:
            break
        pos = more.end()
    value = "".join(parts)
    if kind == "estring":
        return _unescape(value.replace("''", "'"))
    if kind == "ustring":
        return unicode_unescape(value.replace("''", "'"), uescape)
    if kind == "string":
        return value.replace("''", "'")
    return value


def previous_significant(tokens: Sequence[Token], index: int) -> int:
    """Index of the last token before ``index`` that is not whitespace or a comment; -1."""
    i = index - 1
    while i >= 0 and tokens[i].kind in TRIVIA_KINDS:
        i -= 1
    return i


def _next_significant(tokens: Sequence[Token], index: int) -> int:
    i = index + 1
    while i < len(tokens) and tokens[i].kind in TRIVIA_KINDS:
        i += 1
    return i


def _sign_applies(sql: str, tokens: Sequence[Token], minus: int) -> bool:
    """Is the '-' at ``tokens[minus]`` a sign (unary minus) rather than a subtraction?"""
    before = previous_significant(tokens, minus)
    if before < 0:
        return True
    token = tokens[before]
    if token.kind == "operator":
        return True
    if token.kind == "punct":
        return token.text(sql) not in (")", "]")
    if token.kind == "ident":
        word = token.text(sql).lower()
        if word in _OPERAND_EXPECTED:
            return True
        after = _OPERAND_EXPECTED_AFTER.get(word)
        if after is not None:
            earlier = previous_significant(tokens, before)
            return earlier >= 0 and tokens[earlier].text(sql).lower() == after
    return False


def _cast_follows(sql: str, tokens: Sequence[Token], index: int) -> bool:
    """Is the number at ``tokens[index]`` followed by ``::`` or ``[``? Those bind tighter
    than a sign: ``-5::bigint`` is ``-(5::bigint)``, an operator on a cast, no -5."""
    k = _next_significant(tokens, index)
    return k < len(tokens) and tokens[k].text(sql) in ("::", "[")


def uescape_of(sql: str, tokens: Sequence[Token], index: int) -> tuple[str, int]:
    """(escape character, index of the last token of the UESCAPE clause) of a U&'' string."""
    k = _next_significant(tokens, index)
    if k < len(tokens) and tokens[k].kind == "ident" and tokens[k].text(sql).lower() == "uescape":
        j = _next_significant(tokens, k)
        if j < len(tokens) and tokens[j].kind == "string":
            escape = constant_value(sql, tokens[j])
            if len(escape) == 1:
                return escape, j
    return "\\", index


# Type names after which "(" opens type modifiers: PostgreSQL's column-name keywords
# among the types (none can be a function name, so "numeric(" is always a type).
_MODIFIED_TYPES: Final = frozenset("""
    bit char character dec decimal float interval nchar numeric time timestamp varchar
    varying
""".split())


#: Text that may hold type modifiers (a "(" somewhere, and "::" or one of the types
#: above): what does not match holds none (shapes and the fast path of literals test it).
TYPE_MODIFIER_CUE: Final = re.compile(
    r"::|\b(?:" + "|".join(sorted(_MODIFIED_TYPES)) + r")\b"
    r"|\bas\s+(?:[^\s()\[\].\"]+|\"[^\"]*\")(?:\s*\.\s*(?:[^\s()\[\].\"]+|\"[^\"]*\"))*"
    r"\s*[(\[]",
    re.IGNORECASE)  # (AS name(...): see below for comments)
_AS = re.compile(r"\bas\b", re.IGNORECASE)


def may_hold_type_modifiers(sql: str) -> bool:
    """Could ``sql`` hold type modifiers (``numeric(10,2)``, ``x::mytype(3)``)?

    >>> may_hold_type_modifiers("select x::numeric(10,2)"), may_hold_type_modifiers("select f(1)")
    (True, False)
    """
    if "(" not in sql and "[" not in sql:
        return False
    if TYPE_MODIFIER_CUE.search(sql) is not None:
        return True
    # a comment may stand between AS and the type: AS /* c */ name(3)
    return ("/*" in sql or "--" in sql) and _AS.search(sql) is not None


def _type_modifiers_end(sql: str, tokens: Sequence[Token], index: int,
                        type_part: int) -> int:
    """Index of the ")" or "]" that closes the type modifiers or array bounds opened by
    ``tokens[index]`` (a "(" right after ``numeric``, ``varchar``...; a "(" or "[" after a
    type name that follows ``::`` or ``AS``, or after ``type_part``, the index of the end of the
    type's modifiers before: ``x::numeric(10,2)[3]``), when they hold numbers only
    (``numeric(5, -2)``); -1 otherwise."""
    opener = tokens[index].text(sql)
    before = previous_significant(tokens, index)
    if before < 0:
        return -1
    if before != type_part:
        if tokens[before].kind not in ("ident", "qident"):
            return -1
        if not (opener == "(" and tokens[before].kind == "ident"
                and tokens[before].text(sql).lower() in _MODIFIED_TYPES):
            # x::name(3), x::schema.name(3), x::int[3]
            k = before
            while True:
                k = previous_significant(tokens, k)
                if k >= 0 and tokens[k].text(sql) == ".":
                    k = previous_significant(tokens, k)
                    if k >= 0 and tokens[k].kind in ("ident", "qident"):
                        continue
                    return -1
                break
            if k < 0 or tokens[k].text(sql).lower() not in ("::", "as"):
                return -1  # (CAST(x AS name(3)); a name with a list of numbers after
                #            AS is a type: column aliases are names)
    closer = ")" if opener == "(" else "]"
    for j in range(index + 1, len(tokens)):
        kind, text = tokens[j].kind, tokens[j].text(sql)
        if text == closer:
            return j
        if not (kind in TRIVIA_KINDS or kind == "number" or text in (",", "-")):
            return -1
    return -1


def find_constants(sql: str, tokens: Sequence[Token]) -> list[Constant]:
    """Every constant of a statement, in order, as pg_stat_statements finds them.

    A '-' sign before a number is part of it when it is a unary minus; a ``UESCAPE '!'``
    clause belongs to the U&'' string before it (one constant: ``$1 UESCAPE '!'``, where
    PostgreSQL's grammar takes no parameter, would not parse). The modifiers of a type
    (``numeric(10,2)``, ``x::varchar(10)``) are part of the type, not constants (as
    pg_stat_statements keeps them). Keywords TRUE, FALSE and NULL are kept as keywords.
    """
    found: list[Constant] = []
    skip_until = -1
    type_part = -1  # the end of the type modifiers last skipped
    for i, token in enumerate(tokens):
        if i <= skip_until:
            continue
        if token.kind == "qident" and sql[token.start] in "uU":
            skip_until = uescape_of(sql, tokens, i)[1]  # U&"..." UESCAPE '!': no constant
            continue
        if token.kind == "punct" and sql[token.start] in "([":
            skip_until = _type_modifiers_end(sql, tokens, i, type_part)  # numeric(10,2)
            type_part = skip_until
            continue
        if token.kind not in CONSTANT_KINDS:
            continue
        start = token.start
        if token.kind == "number":
            minus = previous_significant(tokens, i)
            if (minus >= 0 and tokens[minus].kind == "operator"
                    and tokens[minus].text(sql) == "-" and _sign_applies(sql, tokens, minus)
                    and not _cast_follows(sql, tokens, i)):
                start = tokens[minus].start
            found.append(Constant(start, token.end, "number", sql[start:token.end]
                                  if start == token.start else "-" + token.text(sql)))
            continue
        escape, end = "\\", token.end
        if token.kind == "ustring":
            escape, skip_until = uescape_of(sql, tokens, i)
            end = tokens[skip_until].end  # the UESCAPE clause is part of the constant
        found.append(Constant(start, end, token.kind, constant_value(sql, token, escape)))
    return found
