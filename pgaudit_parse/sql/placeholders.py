"""Where a constant stands: in an expression (a ``$n`` parameter may take its place) or
where PostgreSQL's grammar takes a literal only.

``literals`` redaction writes ``$n`` for each constant, as ``pg_stat_statements`` does.
That parses wherever the grammar takes an expression (every constant of a query, DEFAULT,
CHECK, WHERE, a SET value, an EXECUTE or CALL argument), but not where it takes a literal
(``Sconst``, ``Iconst``, ``NumericOnly``): a DO body, ``COMMENT ... IS``, a COPY option or
file name, an option list (``WITH (fillfactor = 70)``, ``OPTIONS (host '...')``), a
sequence's numbers, FETCH's count, an enum label, a function's ``AS`` body, ``LANGUAGE``
and ``COST``, a trigger function's arguments, ``NOTIFY``'s payload... There the redaction
writes a literal that holds no data: ``'$n'`` for a string, ``0`` for a number.

The rule, per statement of a string (split as the server splits it):

* a statement that is a query, a setting or transaction control (its first word is
  SELECT, INSERT, UPDATE, DELETE, MERGE, WITH, VALUES, TABLE, ``(``, SET, RESET, EXECUTE,
  CALL, PREPARE, DECLARE ...) or that this module does not know: every constant is in an
  expression (as before);
* a statement whose grammar is mostly literals (CREATE, ALTER, DO, COMMENT, SECURITY LABEL,
  COPY, EXPLAIN, FETCH, MOVE, NOTIFY, LOAD, VACUUM, ANALYZE, CLUSTER, REINDEX, IMPORT,
  PREPARE TRANSACTION, COMMIT|ROLLBACK PREPARED): a constant is literal-only unless a
  keyword before it opens an expression at its level of parentheses: a query
  (SELECT, VALUES, INSERT, UPDATE, DELETE, MERGE, to the end of the level), WHERE and
  USING (likewise), a routine body (``BEGIN ATOMIC``, RETURN: to the end), CHECK, WHEN and
  USING followed by ``(`` (that parenthesis), DEFAULT and a variable's value ``SET name =
  | TO`` (to the next ``,`` or a clause keyword such as AS, LANGUAGE, COST, EXECUTE), a
  PASSWORD (the constant right after it). An option list (the parentheses after WITH,
  OPTIONS or, in a literal part, SET) is literals only, whatever it holds.

>>> from .lexer import tokenize
>>> from .constants import find_constants
>>> sql = "COPY t FROM STDIN WITH (DELIMITER ';') WHERE a > 5"
>>> tokens = tokenize(sql)
>>> [sql[c.start:c.end] for c in find_constants(sql, tokens)
...  if c.start in literal_only_constants(sql, tokens)]
["';'"]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from .lexer import TRIVIA_KINDS, Token
from .split import statement_spans

__all__ = ["literal_only_constants", "may_take_literals_only", "LITERAL_STATEMENTS"]

#: First words of the statements whose grammar is mostly literals.
LITERAL_STATEMENTS: Final = frozenset({
    "create", "alter", "do", "comment", "security", "copy", "explain", "fetch", "move",
    "notify", "load", "vacuum", "analyze", "analyse", "cluster", "reindex", "import"})
# (first word, second word) pairs of such statements whose first word alone is not one.
_LITERAL_PAIRS: Final = frozenset({("prepare", "transaction"), ("commit", "prepared"),
                                   ("rollback", "prepared")})

#: Text with no statement of the kinds above (a cheap test for the fast path of
#: ``literals``): no such word after the start, a ';' and whitespace or simple comments.
_CUE: Final = re.compile(
    r"(?:^|;)(?:\s|--[^\n\r]*|/\*(?:[^*]|\*(?!/))*\*/)*(?:"
    + "|".join(sorted(LITERAL_STATEMENTS)) + r"|prepare|commit|rollback)(?![A-Za-z0-9_$])",
    re.IGNORECASE)


def may_take_literals_only(sql: str) -> bool:
    """Could a statement of ``sql`` hold a literal-only constant? (False: every constant of
    every statement is in an expression.)

    >>> may_take_literals_only("select 1; update t set a = 2"), may_take_literals_only("DO 'x'")
    (False, True)
    """
    return _CUE.search(sql) is not None


Mode = Literal["literal", "expression", "final", "until_comma", "options"]

# Keywords that open an expression to the end of their level of parentheses.
_QUERY_WORDS: Final = frozenset({"select", "values", "insert", "update", "delete", "merge",
                                 "where", "using"})
# ... and to the end of the statement (a routine's body: nothing resets it).
_BODY_WORDS: Final = frozenset({"atomic", "return"})
# Keywords that open an expression in the parenthesis right after them.
_SCOPED_WORDS: Final = frozenset({"check", "when", "using", "where"})
# Keywords that end a DEFAULT or SET value (a clause of their own starts).
_CLAUSE_WORDS: Final = frozenset({
    "as", "language", "cost", "rows", "support", "execute", "is", "valid", "connection",
    "immutable", "stable", "volatile", "strict", "called", "returns", "security",
    "parallel", "leakproof", "window", "transform", "constraint", "not", "null", "primary",
    "unique", "references", "generated", "collate"})
# Words before INSERT, UPDATE, DELETE that make them an event (a trigger's, a rule's, a
# policy's), not a query.
_BEFORE_EVENT: Final = frozenset({"on", "for", "after", "before", "or", "of"})
# What follows an access method's or an index's name after USING.
_AFTER_METHOD: Final = frozenset({"", "(", "with", "as", "where", "include", "tablespace",
                                  ";", "for", "on"})
# Words before "(" that open an option list (literals only).
_OPTION_WORDS: Final = frozenset({"with", "options"})


@dataclass(slots=True)
class _Level:
    """One level of parentheses: what a constant there is, and the mode to go back to."""

    mode: Mode
    base: Mode


def _significant(tokens: Sequence[Token], start: int, end: int) -> list[int]:
    return [i for i in range(start, end) if tokens[i].kind not in TRIVIA_KINDS]


def _statement_is_literal(sql: str, tokens: Sequence[Token], indexes: list[int]) -> bool:
    words = [tokens[i].text(sql).lower() for i in indexes[:2]]
    if not words:
        return False
    return words[0] in LITERAL_STATEMENTS or tuple(words) in _LITERAL_PAIRS


def _assigns_variable(sql: str, tokens: Sequence[Token], following: list[int]) -> bool:
    """Do the tokens after SET read ``name [. name ...] = | TO`` (a variable's value)?"""
    k = 0
    while k < len(following) and tokens[following[k]].kind in ("ident", "qident"):
        k += 1
        if k < len(following) and tokens[following[k]].text(sql) == ".":
            k += 1
            continue
        break
    return k > 0 and k < len(following) and tokens[following[k]].text(sql).lower() in (
        "=", "to")


def _names_a_method(sql: str, tokens: Sequence[Token], following: list[int]) -> bool:
    """Do the tokens after USING name an access method or index (``USING gin (d)``,
    ``CLUSTER t USING i``) rather than start an expression (``TYPE int USING c + 1``)?"""
    if not following or tokens[following[0]].kind != "ident":
        return False
    after = tokens[following[1]].text(sql).lower() if len(following) > 1 else ""
    return after in _AFTER_METHOD


def literal_only_constants(sql: str, tokens: Sequence[Token]) -> set[int]:
    """Start offsets of the tokens of ``sql`` that stand where the grammar takes a literal
    only (every constant not in the set stands in an expression)."""
    if not may_take_literals_only(sql):
        return set()
    token_list = list(tokens)
    starts = {token.start: i for i, token in enumerate(token_list)}
    found: set[int] = set()
    for span_start, span_end in statement_spans(sql, token_list):
        first = starts.get(span_start)
        if first is None:
            continue
        last = first
        while last < len(token_list) and token_list[last].end <= span_end:
            last += 1
        indexes = _significant(token_list, first, last)
        if _statement_is_literal(sql, token_list, indexes):
            found |= _walk(sql, token_list, indexes)
    return found


def _walk(sql: str, tokens: Sequence[Token], indexes: list[int]) -> set[int]:
    """The literal-only tokens of one statement of a literal kind."""
    explain = tokens[indexes[0]].text(sql).lower() == "explain"
    levels = [_Level("literal", "literal")]
    found: set[int] = set()
    scoped_next = False  # the next "(" opens an expression (CHECK (...))
    after_password = False
    previous = ""
    for position, index in enumerate(indexes):
        token = tokens[index]
        text = token.text(sql)
        lower = text.lower()
        level = levels[-1]
        if token.kind == "punct" and text == "(":
            if level.mode == "options" or previous in _OPTION_WORDS or (
                    previous == "set" and level.mode == "literal"):
                mode: Mode = "options"
            elif scoped_next or level.mode == "until_comma":
                mode = "expression"
            else:
                mode = level.mode
            levels.append(_Level(mode, mode))
            scoped_next = False
        elif token.kind == "punct" and text == ")":
            if len(levels) > 1:
                levels.pop()
        elif token.kind == "punct" and text == ",":
            if level.mode == "until_comma":
                level.mode = level.base
        elif token.kind in ("ident",) and level.mode not in ("options", "final"):
            following = indexes[position + 1:position + 8]
            after = tokens[following[0]].text(sql).lower() if following else ""
            if lower in _SCOPED_WORDS and after == "(":
                scoped_next = True
            elif lower in _BODY_WORDS:
                level.mode = "final"
            elif lower == "using" and _names_a_method(sql, tokens, following):
                pass  # USING btree (...), CLUSTER t USING i: no expression
            elif (lower in _QUERY_WORDS and previous not in _BEFORE_EVENT) or (
                    explain and lower == "execute"):
                level.mode = "expression"
            elif lower == "execute" and level.mode == "expression":
                level.mode = level.base  # a trigger's function and its literal arguments
            elif lower in _CLAUSE_WORDS and level.mode == "until_comma":
                level.mode = level.base
            elif level.mode != "literal":
                pass
            elif lower == "default" and after != "=":
                level.mode = "until_comma"
            elif lower == "set" and _assigns_variable(sql, tokens, following):
                level.mode = "until_comma"
        elif token.kind not in ("punct", "ident", "qident", "operator") and (
                level.mode in ("literal", "options") and not after_password):
            found.add(token.start)
        if token.kind == "operator" and text == "-" and level.mode in ("literal", "options"):
            found.add(token.start)  # a sign that belongs to a constant after it
        after_password = token.kind == "ident" and lower == "password" and (
            level.mode != "options")
        previous = lower if token.kind == "ident" else text
    return found
