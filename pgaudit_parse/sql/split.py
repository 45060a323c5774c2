"""Multi-statement strings: split on top-level ``;``, and give each audit line its own.

:func:`split_statements` splits where the server does: on a ``;`` that is not inside a
constant, a quoted identifier, a comment, parentheses, or the ``BEGIN ATOMIC ... END``
body of a ``CREATE [OR REPLACE] FUNCTION|PROCEDURE`` (psql's rule for those bodies, which
counts ``CASE ... END`` inside them). Each statement runs from its first token to its
``;``, trailing whitespace dropped (as pglast's ``split`` gives them).

When a client sends ``stmt1; stmt2`` as one simple query, pgAudit writes the whole string
on the audit line of each statement. :class:`StatementMatcher` gives each line the one
statement it is about: the statements of one backend's string are taken in order, each
new statement id to the next statement whose command fits the line's command. Not every
statement has a line (pgAudit skips classes that ``pgaudit.log`` leaves out, statements
on catalog tables only with ``pgaudit.log_catalog`` off, and relations the audit role
has no grant on), so the match is *certain* only when

* just one of the statements left fits the command, or
* every earlier line of the string was matched for certain, the line is a SESSION line
  (its class is logged, so an earlier statement of the same command would have had a
  line too) and the statement does not read the catalog only (``pg_*``,
  ``information_schema``), which ``log_catalog`` may have skipped.

Otherwise the line keeps the whole string and says so.

>>> split_statements("select 1; insert into t values (';'); -- done")
['select 1', "insert into t values (';')"]
>>> m = StatementMatcher()
>>> sql = "select 1; insert into t values (1); update t set a = 2"
>>> m.match(("s", 7), 1, "SELECT", sql), m.match(("s", 7), 2, "UPDATE", sql)
(Split(statement='select 1', certain=True), Split(statement='update t set a = 2', certain=True))
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

from .lexer import TRIVIA_KINDS, Token, tokenize

__all__ = ["split_statements", "statement_spans", "Split", "StatementMatcher",
           "leading_command"]


def statement_spans(sql: str, tokens: list[Token] | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of each statement of ``sql`` (empty statements left out).

    >>> statement_spans("select 1 ;; select 2")
    [(0, 8), (12, 20)]
    """
    if tokens is None:
        tokens = tokenize(sql)
    spans: list[tuple[int, int]] = []
    start = -1          # first token of the current statement
    end = -1            # end of its last token that is not whitespace
    paren_depth = 0
    begin_depth = 0
    words: list[str] = []  # psql's record of the statement's first identifiers
    for token in tokens:
        kind = token.kind
        if kind == "space":
            continue
        if kind == "punct":
            char = sql[token.start]
            if char == ";" and paren_depth == 0 and begin_depth == 0:
                if start >= 0:
                    spans.append((start, end))
                start, end, words = -1, -1, []
                continue
            if char == "(":
                paren_depth += 1
            elif char == ")" and paren_depth > 0:
                paren_depth -= 1
        elif kind == "ident":
            word = token.text(sql).lower()
            if len(words) < 4:
                words.append(word if word in ("create", "function", "procedure", "or",
                                              "replace") else "")
            if _defines_routine(words) and paren_depth == 0:
                if word == "begin":
                    begin_depth += 1
                elif word == "case" and begin_depth > 0:
                    begin_depth += 1
                elif word == "end" and begin_depth > 0:
                    begin_depth -= 1
        if kind != "comment" and start < 0:
            start = token.start
        if start >= 0:
            end = token.end
    if start >= 0:
        spans.append((start, end))
    return spans


def _defines_routine(words: list[str]) -> bool:
    """CREATE [OR REPLACE] FUNCTION|PROCEDURE (psqlscan.l's test)."""
    first = words[0] if words else ""
    second = words[1] if len(words) > 1 else ""
    if first != "create":
        return False
    if second in ("function", "procedure"):
        return True
    return (second == "or" and len(words) > 3 and words[2] == "replace"
            and words[3] in ("function", "procedure"))


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, each without its ``;`` and surrounding whitespace."""
    return [sql[start:end] for start, end in statement_spans(sql)]


# What a statement that starts with this word may log as its command (pgAudit COMMAND).
_ANY_DML: Final = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})
_COMMANDS_OF_FIRST_WORD: Final[dict[str, frozenset[str]]] = {
    "WITH": _ANY_DML, "(": _ANY_DML | {"SELECT INTO"}, "VALUES": frozenset({"SELECT"}),
    "TABLE": frozenset({"SELECT"}), "END": frozenset({"COMMIT"}),
    "ABORT": frozenset({"ROLLBACK"}), "START": frozenset({"START TRANSACTION", "BEGIN"}),
}


def leading_command(statement: str) -> str:
    """The first word of a statement, upper-cased (``(`` for a parenthesized query)."""
    for token in tokenize(statement):
        if token.kind in TRIVIA_KINDS:
            continue
        return token.text(statement).upper()
    return ""


def _fits(first_word: str, command: str | None) -> bool:
    if not command:
        return True
    if first_word in ("EXECUTE", "EXPLAIN", "PREPARE"):
        return True  # pgAudit logs the command executed (or explained)
    if command == "EXECUTE":
        return True  # a function call (class FUNCTION): any statement may make it
    allowed = _COMMANDS_OF_FIRST_WORD.get(first_word)
    if allowed is not None:
        return command in allowed
    return command.split(" ", 1)[0] == first_word


def _may_read_catalog_only(statement: str) -> bool:
    """Does the statement name a catalog relation (pgAudit may skip it: log_catalog)?"""
    for token in tokenize(statement):
        if token.kind == "ident":
            word = token.text(statement).lower()
            if word.startswith("pg_") or word == "information_schema":
                return True
    return False


@dataclass(frozen=True, slots=True)
class Split:
    """The statement an audit line is about; ``certain`` False means the whole string."""

    statement: str
    certain: bool


@dataclass(slots=True)
class _Backend:
    full: str
    statements: list[str]
    first_words: list[str]
    next_index: int = 0
    statement_id: int | None = None
    split: Split | None = None
    exact: bool = True  # every line so far was matched for certain


class StatementMatcher:
    """Per backend: which statement of a multi-statement string an audit line is about.

    Feed it the audit lines of each backend in log order (``key`` names the backend, e.g.
    (stream, pid)). Memory is bounded by ``max_backends`` (least recently seen dropped).
    """

    def __init__(self, max_backends: int = 4096) -> None:
        self.max_backends = max_backends
        self._backends: OrderedDict[Hashable, _Backend] = OrderedDict()

    def match(self, key: Hashable, statement_id: int, command: str | None,
              statement: str | None, audit_type: str = "SESSION") -> Split | None:
        """The single statement of this line, or None when ``statement`` is one statement."""
        if not statement or ";" not in statement.rstrip().rstrip(";"):
            return None  # one statement (a final ";" is common: psql sends it)
        backend = self._backends.get(key)
        if backend is None or backend.full != statement:
            statements = split_statements(statement)
            if len(statements) < 2:
                return None
            backend = _Backend(statement, statements,
                               [leading_command(s) for s in statements])
        self._backends[key] = backend
        self._backends.move_to_end(key)
        while len(self._backends) > self.max_backends:
            self._backends.popitem(last=False)
        if backend.statement_id == statement_id and backend.split is not None:
            return backend.split  # another line of the same statement (OBJECT, relation)
        fitting = [i for i in range(backend.next_index, len(backend.statements))
                   if _fits(backend.first_words[i], command)]
        restarted = False
        if not fitting:  # the same string run again, or a command we cannot place
            fitting = [i for i in range(len(backend.statements))
                       if _fits(backend.first_words[i], command)]
            restarted = True
        certain = False
        if fitting:
            index = fitting[0]
            backend.next_index = index + 1
            certain = not restarted and (len(fitting) == 1 or (
                backend.exact and audit_type == "SESSION"
                and not _may_read_catalog_only(backend.statements[index])))
        backend.exact = backend.exact and certain
        split = Split(backend.statements[fitting[0]] if certain else statement, certain)
        backend.statement_id = statement_id
        backend.split = split
        return split
