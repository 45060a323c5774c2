"""Multi-statement strings: split on top-level ``;``, and give each audit line its own.

:func:`split_statements` splits where the server does: on a ``;`` that is not inside a
constant, a quoted identifier, a comment, parentheses, or the ``BEGIN ATOMIC ... END``
body of a ``CREATE [OR REPLACE] FUNCTION|PROCEDURE`` (the grammar's rule: the body ends at
an ``END`` right after a ``;`` or ``ATOMIC``, so neither a CASE's ``END`` nor ``END`` as a
column label, ``select x end``, ends it; a ``begin`` not followed by ``atomic`` is a name).
Each statement runs from its first token to its ``;``, trailing whitespace dropped (as
pglast's ``split`` gives them).

When a client sends ``stmt1; stmt2`` as one simple query, pgAudit writes the whole string
on the audit line of each statement. :class:`StatementMatcher` gives each line the one
statement it is about: the statements of one backend's string are taken in order, each
new statement id to the next statement whose command fits the line's command. Not every
statement has a line (pgAudit skips classes that ``pgaudit.log`` leaves out, statements
on catalog tables only with ``pgaudit.log_catalog`` off, and relations the audit role
has no grant on), so the match is *certain* only when

* just one of the statements left fits the command, and it could not have gone without
  a line while an earlier statement fits too (the string may have been run again: the
  rest of the last run had no line, and this is the new run's first), or
* every earlier line of the string was matched for certain, the line is a SESSION line
  (its class is logged, so an earlier statement of the same command would have had a
  line too) and the statement does not read the catalog only (``pg_*``,
  ``information_schema``), which ``log_catalog`` may have skipped.

Otherwise the line keeps the whole string and says so. A statement's command is what
pgAudit logs for it (as a real PostgreSQL 15 + pgAudit wrote them): its first word, a
SELECT first for a statement that runs a query (CREATE TABLE|MATERIALIZED VIEW ... AS,
REFRESH, COPY (query), DECLARE CURSOR), the command executed or explained for EXECUTE and
EXPLAIN, and FUNCTION,EXECUTE (a function call) for any statement but settings and
transaction control.

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
    previous = ""       # the last token that is not whitespace or a comment
    for index, token in enumerate(tokens):
        kind = token.kind
        if kind == "space":
            continue
        if kind == "punct":
            char = sql[token.start]
            if char == ";" and paren_depth == 0 and begin_depth == 0:
                if start >= 0:
                    spans.append((start, end))
                start, end, words, previous = -1, -1, [], ";"
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
                if word == "begin" and _next_word(sql, tokens, index) == "atomic":
                    begin_depth += 1  # (begin alone is a name: a column, a function)
                elif word == "end" and begin_depth > 0 and previous in (";", "atomic"):
                    # gram.y: BEGIN ATOMIC routine_body_stmt_list END, each statement of
                    # the list ended by ';'. An END anywhere else closes a CASE or is a
                    # bare column label (select x end), and no statement of a body starts
                    # with END (the transaction command is not allowed there).
                    begin_depth -= 1
        if kind != "comment":
            previous = sql[token.start] if kind == "punct" else token.text(sql).lower()
            if start < 0:
                start = token.start
        if start >= 0:
            end = token.end
    if start >= 0:
        spans.append((start, end))
    return spans


def _next_word(sql: str, tokens: list[Token], index: int) -> str:
    """The lower-cased text of the first token after ``tokens[index]`` that is not
    whitespace or a comment ("" at the end)."""
    for token in tokens[index + 1:index + 16]:
        if token.kind not in TRIVIA_KINDS:
            return token.text(sql).lower()
    return ""


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


# Statements that call no function (no FUNCTION,EXECUTE line of pgAudit is theirs):
# settings and transaction control (not COMMIT: deferred triggers run there).
_CALL_NO_FUNCTION: Final = frozenset({
    "SET", "SHOW", "RESET", "BEGIN", "START", "SAVEPOINT", "RELEASE", "ROLLBACK", "ABORT",
    "DEALLOCATE", "LISTEN", "UNLISTEN", "DISCARD", "CHECKPOINT", "LOAD"})
# Words after CREATE ... AS that start a query (CREATE TABLE AS, CREATE MATERIALIZED VIEW).
_QUERY_WORDS: Final = frozenset({"select", "values", "table", "with", "("})


@dataclass(frozen=True, slots=True)
class _Statement:
    """One statement of a string, with what pgAudit may log as its command."""

    text: str
    first_word: str        # upper-cased (``(`` for a parenthesized query)
    runs_query: bool       # logs its query as a SELECT first (CREATE TABLE AS, COPY (...))
    calls_no_function: bool

    @classmethod
    def of(cls, text: str) -> _Statement:
        words = [t.text(text).lower() for t in tokenize(text)
                 if t.kind not in TRIVIA_KINDS][:64]
        first = words[0] if words else ""
        second = words[1] if len(words) > 1 else ""
        # (SET CONSTRAINTS ... IMMEDIATE and PREPARE TRANSACTION run deferred triggers)
        return cls(text, first.upper(), _runs_query(words),
                   first.upper() in _CALL_NO_FUNCTION and second != "constraints" or (
                       first == "prepare" and second != "transaction"))

    def fits(self, command: str | None) -> bool:
        """May pgAudit log this statement (or a part of it) with ``command``?"""
        first_word = self.first_word
        if not command:
            return True
        if first_word in ("EXECUTE", "EXPLAIN"):
            return True  # pgAudit logs the command executed (or explained)
        if command == "EXECUTE":
            return not self.calls_no_function  # a function call (class FUNCTION)
        if command == "SELECT" and self.runs_query:
            return True
        allowed = _COMMANDS_OF_FIRST_WORD.get(first_word)
        if allowed is not None:
            return command in allowed
        return command.split(" ", 1)[0] == first_word


def _runs_query(words: list[str]) -> bool:
    """Does a statement (its first lower-cased tokens) run a query that pgAudit logs as a
    SELECT (substatement 1) before its own command: CREATE TABLE|MATERIALIZED VIEW ... AS
    query, REFRESH MATERIALIZED VIEW, COPY (query) TO, DECLARE ... CURSOR FOR query (as a
    real server logged them; CREATE VIEW and CREATE TABLE ... AS EXECUTE log no SELECT)."""
    first = words[0] if words else ""
    if first in ("refresh", "declare"):
        return True
    if first == "copy":
        return words[1:2] == ["("]
    if first != "create":
        return False
    for i, word in enumerate(words):
        if word == "view" and "materialized" not in words[:i]:
            return False
        if word == "as" and words[i + 1:i + 2] and words[i + 1] in _QUERY_WORDS:
            return True
    return False


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
    """What one backend's lines of one string have matched so far."""

    full: str
    statements: list[_Statement]
    next_index: int = 0
    statement_id: int | None = None
    substatement_id: int | None = None
    split: Split | None = None
    exact: bool = True  # every line so far was matched for certain
    nested: bool = False  # a function's body (its lines are substatements of a call)


class StatementMatcher:
    """Per backend: which statement of a multi-statement string an audit line is about.

    Feed it the audit lines of each backend in log order (``key`` names the backend, e.g.
    (stream, pid)). A backend may have lines of several strings at once: a SQL function
    whose body holds several statements has its body's lines (substatements) among those
    of the string that calls it; each string is matched on its own (the last
    ``strings_per_backend`` of each backend are kept). Memory is bounded by
    ``max_backends`` (least recently seen dropped).
    """

    def __init__(self, max_backends: int = 4096, strings_per_backend: int = 4) -> None:
        self.max_backends = max_backends
        self.strings_per_backend = strings_per_backend
        self._backends: OrderedDict[Hashable, OrderedDict[str, _Backend]] = OrderedDict()

    def match(self, key: Hashable, statement_id: int, command: str | None,
              statement: str | None, audit_type: str = "SESSION",
              substatement_id: int | None = None) -> Split | None:
        """The single statement of this line, or None when ``statement`` is one statement."""
        if not statement or ";" not in statement.rstrip().rstrip(";"):
            return None  # one statement (a final ";" is common: psql sends it)
        strings = self._backends.get(key)
        backend = strings.get(statement) if strings is not None else None
        if backend is None:
            texts = split_statements(statement)
            if len(texts) < 2:
                return None
            # (a body's statements come after the call's lines: the calling statement
            # is substatement 1, the function call 2; a top-level statement's own lines
            # are 1 and 2: CREATE TABLE AS after its query)
            backend = _Backend(statement, [_Statement.of(text) for text in texts],
                               nested=substatement_id is not None and substatement_id > 2
                               and command != "EXECUTE")
        if strings is None:
            strings = self._backends[key] = OrderedDict()
        strings[statement] = backend
        strings.move_to_end(statement)
        while len(strings) > self.strings_per_backend:
            strings.popitem(last=False)
        self._backends.move_to_end(key)
        while len(self._backends) > self.max_backends:
            self._backends.popitem(last=False)
        if backend.statement_id == statement_id and backend.split is not None and (
                substatement_id is None or backend.substatement_id is None
                or substatement_id == backend.substatement_id
                or (not backend.nested and (1 in (substatement_id, backend.substatement_id)
                                            or command == "EXECUTE"))):
            # another line of the same statement (OBJECT, a relation, the query of a
            # CREATE TABLE AS, a function it calls); in a function's body each
            # substatement is a statement of its own
            return backend.split
        if backend.nested and backend.statement_id != statement_id:
            backend.next_index, backend.exact = 0, True  # the body runs from its start
        split = self._next(backend, command, audit_type)
        backend.statement_id = statement_id
        backend.substatement_id = substatement_id
        backend.split = split
        return split

    @staticmethod
    def _next(backend: _Backend, command: str | None, audit_type: str) -> Split:
        """The next statement of ``backend``'s string that a line of ``command`` is about."""
        statements = backend.statements
        fits = [s.fits(command) for s in statements]
        fitting = [i for i in range(backend.next_index, len(statements)) if fits[i]]
        restarted = False
        if not fitting:  # the same string run again, or a command we cannot place
            fitting = [i for i in range(len(statements)) if fits[i]]
            restarted = True
        certain = False
        if fitting:
            index = fitting[0]
            # could this statement have gone without a line (so that another fits)?
            skippable = audit_type != "SESSION" or _may_read_catalog_only(
                statements[index].text)
            if restarted:
                certain = False
            elif len(fitting) == 1:
                # ... unless the string was run again: the rest of the last run had no
                # line and this is the new run's first (an earlier statement that fits)
                first = fits.index(True)
                certain = not (skippable and first < backend.next_index
                               and statements[first].text != statements[index].text)
            else:
                certain = backend.exact and not skippable
            backend.next_index = index + 1
        backend.exact = backend.exact and certain
        return Split(statements[fitting[0]].text if certain else backend.full, certain)
