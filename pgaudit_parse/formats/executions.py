"""Statement executions: the log lines that show one execution of one statement, grouped.

PostgreSQL and pgAudit write several lines for one execution, and Guardium counts every
record as activity, so records (and the summary's audit tables) are built per execution,
not per line. The rule, stated once:

* **Session.** Lines belong together only within one session of one stream: ``%c`` when
  the prefix has it, else the pid with ``%s`` (a ``connection received`` or
  ``disconnection`` line ends whatever the pid's earlier backend left open).
* **pgAudit lines** with the same (statement id, substatement id) are one execution: the
  SESSION and OBJECT lines of a statement, and ``pgaudit.log_relation``'s one line per
  relation. A different statement id starts a new statement, which ends the earlier
  pgAudit executions of the session (sub-statements share their parent's statement id).
  The same ids with other SQL or from another client port are a new backend on a reused
  pid (no connection line between them): they end everything its predecessor left open.
* **Parts of one execution**: pgAudit logs some single executions as several lines of one
  statement id with substatement ids of their own: ``CREATE TABLE AS`` (``SELECT INTO``,
  materialized views, ``COPY (query)``, ``DECLARE CURSOR``) after its query's ``SELECT``,
  the ``FUNCTION,EXECUTE`` line of each function a statement calls, an SQL-level
  ``EXECUTE``'s MISC line. They join the execution whose text they show (see
  :func:`_part_of`). A rule's action has a statement id of its own and the client's text:
  it joins the execution a ``log_statement`` line started (see :func:`_rule_action`).
  auto_explain's ``duration: ... plan:`` lines are no execution and carry no time.
* **Durations** (``log_min_duration_statement``) join the pending execution of the same
  session whose SQL they show (password literals aside: pgAudit hides them). The
  ``parse`` and ``bind`` phases of an extended-protocol statement come before its
  execution and wait for it; ``execute`` completes it (pgAudit's lines may still follow,
  as they do with ``pgaudit.log_rows``: a SELECT's line is written when its portal closes,
  so an ``execute`` duration never joins a SELECT whose rows were logged already: that
  one was another execution); a ``statement:`` duration ends the whole query
  string. A ``parse`` starts a prepared statement and waits for its first execution: new
  statements of the session do not complete it (a driver may prepare several first). The
  phases of one execution add up (see :func:`duration_micros`). A duration
  without SQL (``log_duration``, or a statement ``log_statement`` already showed) times the
  query string the session's last ``log_statement`` line showed when there is one (a DO
  block, not its last sub-statement), else the top-level statement of the session's
  latest execution (PostgreSQL writes one duration per query string, after its last
  statement: a multi-statement string's time goes on its last statement, a DO block's or
  a function call's on the block or call, never on what they ran).
* **log_statement** lines (``statement:``, ``execute <name>:``) start a statement. pgAudit's
  line for the same SQL takes it over (no second execution); alone it is one execution.
  A duration that joins nothing is one execution too. An extended-protocol SELECT's
  portal starts at Bind: pgAudit's line (without ``log_rows``) comes before its ``bind``
  duration and its ``execute`` line, which join it. An SQL-level ``EXECUTE name(...)``
  line shows its PREPARE statement in ``DETAIL: prepare:``, which is what pgAudit's lines
  show: they join by it (see :func:`prepared_statement`).
* **Errors** (ERROR, FATAL, PANIC) are not executions: each is its own record. A failed
  statement's ``log_statement`` line and its parse/bind durations (no pgAudit line: it did
  not run) are that error, not a statement that ran: the error whose ``STATEMENT:`` shows
  their SQL ends them without an execution (an ERROR without ``STATEMENT:``, as
  ``log_min_error_statement`` may leave it, ends the session's latest such execution).
  An error also completes what else its session had pending (nothing joins it after an
  error; a parse or bind still waits for its execution): those come before the error.

Bounded memory: an execution waits for its other lines only while (a) its session has
fewer than ``max_per_session`` pending, (b) fewer than ``max_held`` are pending in all and
their texts (SQL, message, DETAIL, prefix values) add up to less than ``max_held_bytes``
characters (beyond either, the least recently active session is released whole), and (c)
its session
has written a line in the last ``max_wait`` seconds of log time (judged by the timestamps
of later lines, so a replayed old log behaves like a live one). :meth:`flush` releases
everything (end of input, or before acknowledging a batch).

>>> import pgaudit_parse as pp
>>> p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
>>> g = ExecutionGrouper()
>>> out = [x for e in pp.parse_lines([p + "AUDIT: OBJECT,1,1,READ,SELECT,TABLE,t,select 1,<none>",
...                                   p + "AUDIT: SESSION,1,1,READ,SELECT,TABLE,t,select 1,<none>",
...                                   p + "duration: 0.250 ms  statement: select 1"])
...        for x in g.add(e)] + g.flush()
>>> [(x.sql, x.micros, x.lines) for x in out]
[('select 1', 250, 3)]
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final, Literal

from ..events import (
    AuditEvent,
    ConnectionEvent,
    DisconnectionEvent,
    DurationEvent,
    ErrorEvent,
    Event,
    LogEvent,
)
from ..lines import slot_constructor
from ..sql import split_statements

__all__ = ["Execution", "ExecutionGrouper", "duration_micros", "same_sql", "logged_statement",
           "prepared_statement",
           "INT_MAX"]

#: How many sessions' late executions (and how many characters of their SQL) are
#: remembered, and the longest SQL remembered (see ExecutionGrouper._remember_late)
_LATE_SESSIONS: Final = 1024
_LATE_CHARS: Final = 4 << 20
_LATE_TEXT_MAX: Final = 64 << 10
#: Guardium's ``Record.executionTime`` is a Java Integer.
INT_MAX: Final = 2**31 - 1
_REDACTED: Final = "<REDACTED>"
#: What a pgAudit line says when it repeats its execution's statement and the event
#: builder no longer knew it (pgaudit.log_statement_once)
_PREVIOUSLY_LOGGED: Final = "<previously logged>"
_PHASE = re.compile(r"duration: [0-9.]+ ms  (statement|parse|bind|execute|fastpath|plan)")
_LOGGED_STATEMENT = re.compile(r"(?:statement|execute [^:]*): (.*)\Z", re.DOTALL)

Source = Literal["audit", "statement", "duration"]
#: pgAudit's (class, command) of one line
_Part = tuple[str | None, str | None]


def duration_micros(ms: float) -> int:
    """A ``duration: N ms`` value as Guardium's ``executionTime``: whole microseconds,
    computed as the universal connector computes it (``(int) (ms * 1000)`` on doubles:
    truncated, and saturated at Java's ``Integer.MAX_VALUE``).

    >>> duration_micros(0.919), duration_micros(125.456), duration_micros(1.005)
    (919, 125456, 1004)
    """
    micros = ms * 1000.0
    if micros >= INT_MAX:
        return INT_MAX
    return int(micros) if micros > 0 else 0


def same_sql(logged: str | None, other: str | None) -> bool:
    """Do two log lines show the same SQL? pgAudit writes ``<REDACTED>`` for a role's
    password and cuts what follows it; other lines show it in clear.

    >>> same_sql("alter role a password <REDACTED>", "alter role a password 'x';")
    True
    >>> same_sql("select 1", "select 2")
    False
    >>> same_sql("select 2", "select 1; select 2;")
    True
    """
    if logged is None or other is None:
        return logged is other
    if _same_text(logged, other):
        return True
    # One statement of a multi-statement string: the SQL stage gives each audit line its
    # own statement, while log_statement and duration lines show the whole string.
    for single, whole in ((logged, other), (other, logged)):
        if ";" in whole.rstrip().rstrip(";") and len(whole) > len(single):
            if any(_same_text(single, part) for part in _statements_of(whole)):
                return True
    return False


def _same_text(logged: str, other: str) -> bool:
    if logged == other:
        return True
    for a, b in ((logged, other), (other, logged)):
        if a.endswith(_REDACTED) and b.startswith(a[: -len(_REDACTED)]):
            return True
    return False


@lru_cache(maxsize=256)
def _statements_of(sql: str) -> tuple[str, ...]:
    return tuple(split_statements(sql))


def logged_statement(event: Event) -> str | None:
    """The SQL of a ``log_statement`` line (``statement: ...``, ``execute <name>: ...``).

    >>> import pgaudit_parse as pp
    >>> [e] = pp.parse_lines(["2026-11-25 16:05:01 UTC::@:[7]:LOG:  execute S_1: select 1"])
    >>> logged_statement(e)
    'select 1'
    """
    if not isinstance(event, LogEvent) or event.severity != "LOG":
        return None
    if not event.message.startswith(("statement: ", "execute ")):
        return None
    found = _LOGGED_STATEMENT.match(event.message)
    return found.group(1) if found else None


def prepared_statement(event: Event) -> str | None:
    """The PREPARE statement an SQL-level ``EXECUTE name(...)`` ran, from the ``DETAIL:
    prepare: ...`` line PostgreSQL writes under its ``statement:`` and ``duration:`` lines:
    pgAudit's lines of that execution show this text, not the EXECUTE.

    >>> import pgaudit_parse as pp
    >>> p = "2026-11-25 16:05:01 UTC::@:[7]:"
    >>> [e] = pp.parse_lines([p + "LOG:  statement: EXECUTE q;",
    ...                       p + "DETAIL:  prepare: PREPARE q AS SELECT 1;"])
    >>> prepared_statement(e)
    'PREPARE q AS SELECT 1;'
    """
    detail = event.detail
    if detail is None or not detail.startswith("prepare: "):
        return None
    return detail[len("prepare: "):]


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution of one statement, as the lines of one session showed it.

    ``event`` is the line that shows it best: the first pgAudit line if pgAudit logged it,
    else the ``log_statement`` line, else the first duration line. ``sql`` is the
    statement text as logged there (not redacted here), ``micros`` the summed durations
    (None when none was logged), ``rows`` pgAudit's row count, ``lines`` how many lines it
    gathers, ``first_line`` the input line of the earliest of them.
    """

    event: Event
    sql: str
    source: Source
    micros: int | None
    rows: int | None
    lines: int
    first_line: int


#: ``_new_execution(event, sql, source, micros, rows, lines, first_line) == Execution(...)``,
#: filled through the slots (:func:`~pgaudit_parse.lines.slot_constructor`): one per execution
_new_execution = slot_constructor(Execution)


class _Pending:
    """An execution still gathering lines (mutable; becomes an :class:`Execution`)."""

    __slots__ = ("event", "sql", "source", "ids", "micros", "final", "rows", "lines",
                 "first_line", "size", "sources", "query", "prepared", "parts", "simple")

    def __init__(self, event: Event, sql: str, source: Source,
                 ids: tuple[int, int] | None = None, micros: int | None = None,
                 final: bool = False, rows: int | None = None) -> None:
        self.event = event
        self.sql = sql
        self.source: Source = source
        self.ids = ids
        self.micros = micros
        self.final = final
        self.rows = rows
        self.lines = 1
        self.first_line = event.line
        self.size = len(sql) + _kept(event)  # what it keeps alive, roughly
        self.sources = {event.source}
        #: a ``log_statement`` line showed it: the query string's own execution
        self.query = source == "statement"
        #: the PREPARE statement an SQL-level EXECUTE ran (what pgAudit's lines show)
        self.prepared = prepared_statement(event) if source != "audit" else None
        #: pgAudit's lines of it: {(statement id, substatement id): (class, command)}
        #: (see :func:`_part_of`)
        self.parts: dict[tuple[int, int], _Part] | None = None
        if ids is not None and isinstance(event, AuditEvent):
            self.parts = {ids: (event.audit.class_, event.audit.command)}
        #: the SQL of the ``statement:`` or ``execute`` line that started it, if one did
        #: (see :func:`_rule_action`)
        self.simple: str | None = None

    def shows(self, sql: str) -> bool:
        """Does a line with this SQL show this (not yet pgAudit-logged) execution?"""
        return same_sql(sql, self.sql) or (
            self.prepared is not None and same_sql(sql, self.prepared))

    def take(self, event: Event) -> None:
        self.lines += 1
        self.sources.add(event.source)
        if event.line < self.first_line:
            self.first_line = event.line

    def add_time(self, micros: int) -> None:
        total = micros if self.micros is None else self.micros + micros
        self.micros = min(total, INT_MAX)

    def done(self) -> Execution:
        return _new_execution(self.event, self.sql, self.source, self.micros, self.rows,
                              self.lines, self.first_line)


def _kept(event: Event) -> int:
    """The characters of the texts an event holds besides its SQL: its message, DETAIL
    (an execute line's parameters) and prefix values (what a crafted line may make
    long), which a held execution keeps alive."""
    return (len(event.message) + len(event.detail or "") + len(event.user or "")
            + len(event.database or "") + len(event.client_host or "")
            + len(event.application_name or "") + len(event.session_id or ""))


def _same_execution(item: _Pending, event: AuditEvent, sql: str) -> bool:
    """Is an audit line with an execution's (statement id, substatement id) another line
    of it? Not when it shows other SQL or comes from another client port (the ids are
    equal because a new backend on a reused pid numbers its statements from 1 again)."""
    if not _same_client(item, event):
        return False
    return _PREVIOUSLY_LOGGED in (sql, item.sql) or same_sql(item.sql, sql)


#: pgAudit's (class, command) of a function a statement calls: its line shows the calling
#: statement, whose execution it is part of
_FUNCTION_CALL: Final = ("FUNCTION", "EXECUTE")


def _part_of(item: _Pending, event: AuditEvent, sql: str) -> bool:
    """Is an audit line with the statement id of a pending pgAudit execution, but another
    substatement id, another part of that one execution?

    pgAudit logs one statement's execution in several lines when it has several parts,
    each with a substatement id of its own and the statement's own text: ``CREATE TABLE
    AS`` (or ``SELECT INTO``, ``CREATE``/``REFRESH MATERIALIZED VIEW``, ``COPY (query)``,
    ``DECLARE CURSOR``) after its query's ``SELECT``, and a ``FUNCTION,EXECUTE`` line for
    each function the statement calls. A repetition of a part the execution has already
    (a loop in a function body running the same statement again) is another execution, as
    are the body's statements (their own text). With ``pgaudit.log_rows`` the parts come
    in executor-end order (the function call first, the calling SELECT last), hence any
    order here."""
    parts = item.parts
    if parts is None or sql == _PREVIOUSLY_LOGGED or not _same_client(item, event):
        return False
    audit = event.audit
    part = (audit.class_, audit.command)
    if not _same_text(item.sql, sql):
        # An SQL-level EXECUTE: pgAudit logs the prepared query with the PREPARE text and,
        # with the MISC class, the EXECUTE with its own text (either first)
        had = parts.values()
        return _SQL_EXECUTE not in had and (
            (part == _SQL_EXECUTE and _executes(sql, item.sql))
            or (len(parts) == 1 and _SQL_EXECUTE in had and _executes(item.sql, sql)))
    return part == _FUNCTION_CALL or part not in parts.values()


#: pgAudit's (class, command) of an SQL-level ``EXECUTE name(...)`` (the MISC class)
_SQL_EXECUTE: Final = ("MISC", "EXECUTE")
_NAME = r"\s+(\w+|\"(?:[^\"]|\"\")+\")"
_EXECUTE_NAME = re.compile(r"\s*execute" + _NAME, re.IGNORECASE)
_PREPARE_NAME = re.compile(r"\s*prepare" + _NAME, re.IGNORECASE)


def _executes(execute: str, prepare: str) -> bool:
    """Does an SQL-level ``EXECUTE`` run the statement a ``PREPARE`` prepared (the same
    name: case-blind unless quoted)?

    >>> prepare = "PREPARE q AS SELECT 1"
    >>> _executes("EXECUTE Q(1);", prepare), _executes('EXECUTE "Q"', prepare), _executes(
    ...     "EXECUTE q2", prepare)
    (True, False, False)
    """
    run = _EXECUTE_NAME.match(execute)
    made = _PREPARE_NAME.match(prepare)
    if run is None or made is None:
        return False
    a, b = run.group(1), made.group(1)
    return a == b if a.startswith('"') or b.startswith('"') else a.lower() == b.lower()


def _rule_action(item: _Pending, event: AuditEvent, sql: str) -> bool:
    """Is an audit line of a new statement id the action of a rule (``CREATE RULE ... DO
    ALSO ...``) on the statement of a pending execution? PostgreSQL runs a rule's actions
    as queries of their own, and pgAudit gives each a statement id of its own with the
    client's text, as if the client had run the statement again. Told apart only when a
    ``log_statement`` line of that one statement (``statement:``, or an extended-protocol
    ``execute``) started the execution: a client's next execution has its own line first
    (except an extended-protocol SELECT's, logged by pgAudit at Bind: a SELECT is never
    taken for an action). Its statement id comes after the execution's (a lower one is a
    new backend on a reused pid, numbering from 1 again)."""
    audit = event.audit
    return (item.simple is not None and audit.substatement_id == 1
            and audit.command != "SELECT" and sql != _PREVIOUSLY_LOGGED
            and _same_text(item.sql, sql) and _same_client(item, event)
            and item.parts is not None
            and audit.statement_id > max(ids[0] for ids in item.parts)
            and len(_statements_of(item.simple)) == 1)


def _same_client(item: _Pending, event: Event) -> bool:
    """Not from another client port (a new backend on a reused pid)."""
    port, other = event.client_port, item.event.client_port
    return port is None or other is None or port == other


def _logged_at_portal_close(item: _Pending) -> bool:
    """Was the execution's pgAudit line written when its portal closed? With
    ``pgaudit.log_rows`` pgAudit logs at executor end, which for a SELECT of the extended
    protocol is the portal's close (at Sync, or the next Bind): after the SELECT's own
    ``execute`` duration. A later ``execute`` duration is another execution's then (one
    whose AUDIT line is still to come), even with the same SQL."""
    event = item.event
    return (item.source == "audit" and item.rows is not None
            and isinstance(event, AuditEvent) and event.audit.command == "SELECT")


def _top_level(pending: list[_Pending]) -> _Pending | None:
    """The execution a textless duration times when no ``log_statement`` line showed its
    query string: the top-level statement of the latest pending execution, if that one
    is still untimed.

    PostgreSQL writes one duration per query string, after its last statement: earlier
    statements of a multi-statement string have ended (a new statement id began), and
    the statements run inside a DO block, a function, a trigger or a foreign-key check
    (pgAudit logs them with their top-level statement's id) are not what the string ran.
    Within one statement id, the top-level statement is logged first (a function call's
    ``EXECUTE`` line comes next, with the same SQL). With ``pgaudit.log_rows`` a SELECT or
    DML statement is logged when its executor ends, after everything it ran: then the
    top-level is the last line, unless the first is a statement logged when it starts
    (a DO block, a CALL: not of class READ or WRITE) whose SQL no later line shows.
    """
    latest = next((p for p in reversed(pending) if not p.final), None)
    if latest is None or latest.ids is None:
        return latest
    statement_id = latest.ids[0]
    group = sorted((p for p in pending if p.ids is not None and p.ids[0] == statement_id),
                   key=lambda p: p.ids[1] if p.ids is not None else 0)
    top = group[0]
    if top.rows is not None and (_logged_by_executor(top) or any(
            same_sql(p.sql, top.sql) for p in group[1:])):
        top = group[-1]
    return None if top.final else top


def _logged_by_executor(item: _Pending) -> bool:
    """Is it a SELECT or DML line (class READ or WRITE), which pgAudit writes from the
    executor (at its end with ``pgaudit.log_rows``), unlike a utility statement's?"""
    event = item.event
    return isinstance(event, AuditEvent) and event.audit.class_ in ("READ", "WRITE")


def _waits_for_execution(item: _Pending) -> bool:
    """Is it the parse (and bind) of an extended-protocol statement, still waiting for
    its execution? A client may prepare statements long before it executes them."""
    return item.source == "duration" and not item.final


def _first_to_release(pending: list[_Pending]) -> tuple[_Pending, bool]:
    """The execution to write when a session holds more than it may: the oldest that its
    statement's later lines are not waiting for. Not the first of its statement id (the
    top-level statement: a DO block or a function call, whose duration and other parts
    come after everything it runs, which may be thousands of statements), not a query
    string's own execution (``log_statement``'s), not a parse waiting for its execution;
    the oldest of all if every one is such (then True: it waited for more lines)."""
    seen: set[int] = set()
    for item in pending:
        first = item.ids is not None and item.ids[0] not in seen
        if item.ids is not None:
            seen.add(item.ids[0])
        if not (first or item.query or _waits_for_execution(item)):
            return item, False
    return pending[0], not pending[0].final


def _complete(pending: list[_Pending], but: _Pending | None = None) -> list[_Pending]:
    """The pending executions a new statement of the session completes: all but those
    waiting for their execution (and ``but``)."""
    return [p for p in pending if p is not but and not _waits_for_execution(p)]


def _logged_at_bind(item: _Pending) -> bool:
    """Was the execution's pgAudit line written before the Bind phase ended? An
    extended-protocol SELECT's portal starts (and pgAudit logs it) at Bind, before the
    ``bind`` duration and ``log_statement``'s ``execute`` line; with ``pgaudit.log_rows``
    it is logged when the portal closes instead (see :func:`_logged_at_portal_close`)."""
    if item.source != "audit" or item.query or not isinstance(item.event, AuditEvent):
        return False
    audit = item.event.audit
    # a function the SELECT calls is logged when the executor starts, whatever log_rows
    return (audit.command == "SELECT" and item.rows is None) or (
        (audit.class_, audit.command) == _FUNCTION_CALL)


class _Session:
    __slots__ = ("pending", "last_seen")

    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.last_seen: datetime | None = None


SessionKey = tuple[object, ...]


def session_key(event: Event) -> SessionKey:
    """The session a line belongs to: ``%c`` when known, else pid and session start."""
    if event.session_id:
        return (event.stream, event.session_id)
    return (event.stream, event.pid, event.session_start)


class ExecutionGrouper:
    """Events -> :class:`Execution` objects (one per statement execution) and the other
    events unchanged, in the order they are complete. See the module docstring for the
    grouping rule and the memory bounds."""

    def __init__(self, max_held: int = 10_000, max_per_session: int = 64,
                 max_wait: float = 300.0, max_held_bytes: int = 64 << 20) -> None:
        self.max_held = max_held
        self.max_per_session = max_per_session
        self.max_wait = max_wait
        self.max_held_bytes = max_held_bytes
        self._sessions: OrderedDict[SessionKey, _Session] = OrderedDict()
        #: each stream's log time: the timestamp of its latest line
        self._clocks: dict[str, datetime] = {}
        self._held = 0
        self._held_bytes = 0
        #: Executions released before their other lines came, to stay within the bounds
        #: (max_per_session, max_held, max_held_bytes; docs/memory.md).
        self.released_early = 0
        #: After :meth:`add` of an AuditEvent: was it another line of an execution already
        #: pending (True), or the first pgAudit line of an execution (False)? Counters
        #: (the summary) count executions when they start, without waiting for the end.
        self.joined = False
        #: After :meth:`add` of an AuditEvent that joined an execution: was it a part of it
        #: (see :func:`_part_of`) of a (class, command) none of its lines had (the ``CREATE
        #: TABLE AS`` after its query's ``SELECT``)? Counters per class and command count it.
        self.part = False
        #: sessions whose untimed executions were written for being idle too long
        self._late: OrderedDict[SessionKey, list[str]] = OrderedDict()
        self._late_chars = 0

    # -- public ------------------------------------------------------------------------

    def add(self, event: Event) -> list[Execution | Event]:
        """What is complete after this event: executions and pass-through events."""
        out: list[Execution | Event] = []
        stamp = event.timestamp
        if stamp is not None:
            if self._sessions:
                self._expire(stamp, event, out)
            self._clocks[event.stream] = stamp
        if self._late and not isinstance(event, DurationEvent):
            # the session wrote something else: its late statement ended without a duration
            self._forget_late(session_key(event))
        if isinstance(event, AuditEvent):
            self._audit(event, out)
        elif isinstance(event, DurationEvent):
            self._duration(event, out)
        elif (sql := logged_statement(event)) is not None:
            assert isinstance(event, LogEvent)
            self._logged_statement(event, sql, out)
        else:
            if isinstance(event, ErrorEvent):
                self._failed(event, out)
            elif isinstance(event, DisconnectionEvent) or (
                    isinstance(event, ConnectionEvent)
                    and event.message.startswith("connection received: ")):
                self._release_session(session_key(event), out)
            out.append(event)
        return out

    def flush(self) -> list[Execution]:
        """Release every pending execution."""
        out: list[Execution | Event] = []
        for key in list(self._sessions):
            self._release_session(key, out)
        return out  # type: ignore[return-value]

    def release_held(self, stale: Callable[[str], bool], busy: Set[str] = frozenset()
                     ) -> list[Execution]:
        """Release (whole) every session with a pending execution that holds a line of a
        source for which ``stale`` is true: an acknowledging source that keeps the input
        of held executions un-acknowledged gives up, this way, those it has kept long
        enough (an idle session's last execution, whose duration line may never come).
        Sessions of the ``busy`` streams stay (lines of them are still being assembled,
        and may complete an execution).

        >>> import pgaudit_parse as pp
        >>> p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
        >>> g = ExecutionGrouper()
        >>> from pgaudit_parse.lines import Line
        >>> g.add(next(pp.parse_lines([Line(p + "statement: select 1", "q#m1", 1)])))
        []
        >>> g.release_held(lambda source: source == "q#m2"), g.held_sources()
        ([], {'q#m1'})
        >>> [x.sql for x in g.release_held(lambda source: source == "q#m1")], g.held()
        (['select 1'], 0)
        """
        out: list[Execution | Event] = []
        for key, session in list(self._sessions.items()):
            if key[0] in busy:
                continue
            if any(stale(source) for p in session.pending for source in p.sources):
                self._release_session(key, out)
        return out  # type: ignore[return-value]

    def forget_held(self) -> None:
        """Drop every pending execution without releasing it: the caller reads its lines
        again (from a checkpoint before them)."""
        self._sessions.clear()
        self._held = 0
        self._held_bytes = 0

    def held(self) -> int:
        """How many executions are pending."""
        return self._held

    @property
    def held_bytes(self) -> int:
        """The pending executions' texts (characters: see :func:`_kept`)."""
        return self._held_bytes

    def held_sources(self) -> set[str]:
        """The sources (file, ``queue#message-id``...) of every line a pending execution
        holds: an acknowledging source must not forget them before they are released.

        >>> ExecutionGrouper().held_sources()
        set()
        """
        return {source for s in self._sessions.values() for p in s.pending
                for source in p.sources}

    def oldest_held_line(self) -> int | None:
        """The input line of the earliest line of any pending execution, or None."""
        return min((p.first_line for s in self._sessions.values() for p in s.pending),
                   default=None)

    # -- the rule ----------------------------------------------------------------------

    def _audit(self, event: AuditEvent, out: list[Execution | Event]) -> None:
        audit = event.audit
        statement_id = audit.statement_id
        ids = (statement_id, audit.substatement_id)
        sql = audit.statement or ""
        session = self._session(event)
        pending = session.pending
        self.joined = True
        self.part = False
        part_of: _Pending | None = None
        older: list[_Pending] = []
        reused = False
        for item in pending:
            if item.source == "audit":
                parts = item.parts
                if item.ids == ids or (parts is not None and ids in parts):
                    if not _same_execution(item, event, sql):
                        reused = True  # a new backend on a reused pid
                        break
                    item.take(event)
                    if audit.rows is not None and (item.rows is None or audit.rows > item.rows):
                        item.rows = audit.rows
                    return
                if parts is not None and ((item.ids is not None and item.ids[0] == statement_id)
                                          or (len(parts) > 1 and any(
                                              k[0] == statement_id for k in parts))):
                    if _part_of(item, event, sql):
                        part_of = item  # (the latest)
                elif item.ids and item.ids[0] != statement_id:
                    older.append(item)
        if reused:
            # its predecessor's lines are over
            over, part_of = list(pending), None
        else:
            if part_of is None:
                part_of = next((p for p in older if _rule_action(p, event, sql)), None)
            over = [p for p in older if p is not part_of]
        # A new statement id: the session's earlier pgAudit executions are over.
        self._release(session, over, out)
        if part_of is not None:
            # another part of one statement's execution (CREATE TABLE AS and its query, a
            # function the statement calls): pgAudit gave it a substatement id of its own
            part_of.take(event)
            assert part_of.parts is not None
            part = (audit.class_, audit.command)
            self.part = part not in part_of.parts.values()
            part_of.parts[ids] = part
            if audit.rows is not None and (part_of.rows is None or audit.rows > part_of.rows):
                part_of.rows = audit.rows
            return
        self.joined = False
        for item in session.pending:
            if item.source != "audit" and item.shows(sql):
                item.take(event)
                item.event, item.sql, item.source, item.ids = event, sql, "audit", ids
                item.rows = audit.rows
                item.parts = {ids: (audit.class_, audit.command)}
                return
        self._append(session, _Pending(event, sql, "audit", ids, rows=audit.rows), out)

    def _duration(self, event: DurationEvent, out: list[Execution | Event]) -> None:
        micros = duration_micros(event.duration_ms)
        sql = event.duration_statement
        key = session_key(event)
        session = self._sessions.get(key)
        if sql is None:
            # log_duration: no text; it times the statement that just ran, if any.
            if session is None and self._late:
                self._late_duration(key, None, None)
            if session is not None:
                pending = session.pending
                item = next((p for p in reversed(pending) if not p.final and p.query),
                            None) or _top_level(pending)
                if item is not None:
                    item.add_time(micros)
                    item.final = True
                    item.take(event)
                self._touch(key, session, event)
            return
        phase_match = _PHASE.match(event.message)
        phase = phase_match.group(1) if phase_match else "statement"
        if phase == "plan":
            # auto_explain's plan of a statement that ran: not an execution of its own,
            # and its time (the executor's) is part of the statement's duration line
            if session is not None:
                self._touch(key, session, event)
            return
        if session is None:
            session = self._session(event)
        else:
            self._touch(key, session, event)
        pending = session.pending
        if phase in ("parse", "bind"):
            # These phases come before their execution's pgAudit lines. A parse is the
            # first line of a prepared statement (a driver may prepare several before it
            # executes any: each waits for its own first execution); a bind joins the
            # parse of the same SQL still waiting, or, since a SELECT's portal starts at
            # Bind, the SELECT pgAudit logged just now (without log_rows).
            found = None if phase == "parse" else next(
                (p for p in pending if not p.final and same_sql(p.sql, sql)
                 and (p.source != "audit" or _logged_at_bind(p))), None)
            if found is not None:
                found.add_time(micros)
                found.take(event)
            else:
                self._append(session, _Pending(event, sql, "duration", micros=micros), out)
            return
        open_ = [p for p in pending if not p.final
                 and not (phase == "execute" and _logged_at_portal_close(p))
                 and not (phase == "statement" and _waits_for_execution(p))]
        found = next((p for p in open_ if same_sql(p.sql, sql)), None)
        prepared = prepared_statement(event)
        if found is None and prepared is not None:
            # an SQL-level EXECUTE: pgAudit's lines show the PREPARE text (and, with the
            # MISC class, the EXECUTE has a line of its own, found above)
            found = next((p for p in open_ if p.source == "audit"
                          and same_sql(p.sql, prepared)), None)
        if found is None and self._late and not pending and self._late_duration(
                key, sql, prepared):
            self._drop_if_empty(key, session)
            return
        if found is None:
            found = _Pending(event, sql, "duration", micros=micros, final=True)
            if phase == "statement":
                self._release(session, _complete(pending), out)
                out.append(found.done())
                self._drop_if_empty(key, session)
                return
            # an extended-protocol execute: pgAudit's lines may follow (log_rows)
            self._release(session, [p for p in pending if p.final or p.source == "audit"],
                          out)
            self._append(session, found, out)
            return
        found.add_time(micros)
        found.final = True
        found.take(event)
        if phase == "statement":
            # the query string is over: everything of it (and before it) is complete
            self._release(session, _complete(pending), out)
        else:
            index = pending.index(found)
            self._release(session, [p for p in pending[:index]
                                    if p.final or p.source == "audit"], out)
        self._drop_if_empty(key, session)

    def _logged_statement(self, event: LogEvent, sql: str,
                          out: list[Execution | Event]) -> None:
        session = self._session(event)
        pending = session.pending
        if event.message.startswith("execute "):
            # the execute line of an extended-protocol statement whose parse/bind wait
            found = next((p for p in pending if not p.final and p.source == "duration"
                          and same_sql(p.sql, sql)), None)
            if found is not None:
                self._release(session, _complete(pending, found), out)
                found.take(event)
                found.event, found.source, found.query = event, "statement", True
                found.simple = sql
                return
            # or of a SELECT whose pgAudit line came already (written at Bind)
            found = next((p for p in reversed(pending) if not p.query
                          and _logged_at_bind(p) and same_sql(p.sql, sql)), None)
            if found is not None:
                self._release(session, _complete(pending, found), out)
                found.take(event)
                found.query = True
                return
        # a new statement: what the session had pending belongs to earlier ones
        self._release(session, _complete(pending), out)
        item = _Pending(event, sql, "statement")
        # (an extended-protocol execute line shows one statement; a SELECT's came after
        # its pgAudit line, at Bind, and is not here)
        item.simple = sql
        self._append(session, item, out)

    def _failed(self, event: ErrorEvent, out: list[Execution | Event]) -> None:
        """An error ends the execution its ``STATEMENT:`` line shows, if only
        ``log_statement`` or parse/bind durations showed it (pgAudit's lines would say it
        ran): the error's own record stands for it. An ERROR without a ``STATEMENT:``
        line (``log_min_error_statement`` above ERROR) ends the statement the session was
        running: its latest execution, if that one is still open and has no pgAudit line
        (not a FATAL: that one may end an idle session, after its statement completed).

        What else the session had pending is complete and goes to ``out`` before the
        error (records in the order of the log): no line can join it after an error,
        which ends the query string (a string that fails gets no duration line) or the
        session; only a parse or bind still waits for its execution."""
        key = session_key(event)
        session = self._sessions.get(key)
        if session is None:
            return
        statement = event.statement
        failed: _Pending | None
        if statement is None:
            failed = session.pending[-1] if session.pending else None
            if event.severity != "ERROR" or failed is None or failed.source == "audit" \
                    or failed.final:
                failed = None  # (a FATAL may end an idle session: no statement failed)
        else:
            failed = next((p for p in reversed(session.pending)
                           if p.source != "audit" and not p.final
                           and same_sql(p.sql, statement)), None)
        if failed is not None:
            session.pending.remove(failed)
            self._held -= 1
            self._held_bytes -= failed.size
        self._release(session, _complete(session.pending), out)
        self._drop_if_empty(key, session)

    # -- bookkeeping -----------------------------------------------------------------

    def _session(self, event: Event) -> _Session:
        key = session_key(event)
        sessions = self._sessions
        session = sessions.get(key)
        if session is None:
            session = sessions[key] = _Session()  # new keys go last: no move needed
        else:
            sessions.move_to_end(key)
        if event.timestamp is not None:
            session.last_seen = event.timestamp
        return session

    def _touch(self, key: SessionKey, session: _Session, event: Event) -> None:
        self._sessions.move_to_end(key)
        if event.timestamp is not None:
            session.last_seen = event.timestamp

    def _append(self, session: _Session, item: _Pending, out: list[Execution | Event]) -> None:
        session.pending.append(item)
        self._held += 1
        self._held_bytes += item.size
        if len(session.pending) > self.max_per_session:
            victim, waited = _first_to_release(session.pending)
            if waited:
                self.released_early += 1  # (what a block ran gets no time: not early)
            self._release(session, [victim], out)
        while (self._held > self.max_held or self._held_bytes > self.max_held_bytes) \
                and self._sessions:
            oldest = next(iter(self._sessions))
            self.released_early += len(self._sessions[oldest].pending)
            self._release_session(oldest, out)

    def _release(self, session: _Session, items: list[_Pending],
                 out: list[Execution | Event]) -> None:
        if not items:
            return
        pending = session.pending
        if len(items) == len(pending):
            session.pending = []  # items are always some of pending: here, all of them
        elif len(items) == 1:
            item = items[0]
            session.pending = [p for p in pending if p is not item]
        else:
            gone = {id(item) for item in items}
            session.pending = [p for p in pending if id(p) not in gone]
        self._held -= len(items)
        for item in items:
            self._held_bytes -= item.size
            out.append(item.done())

    def _release_session(self, key: SessionKey, out: list[Execution | Event]) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            self._held -= len(session.pending)
            self._held_bytes -= sum(item.size for item in session.pending)
            out.extend(item.done() for item in session.pending)

    def _drop_if_empty(self, key: SessionKey, session: _Session) -> None:
        if not session.pending:
            self._sessions.pop(key, None)

    def _expire(self, now: datetime, event: Event, out: list[Execution | Event]) -> None:
        """Release sessions that wrote nothing for ``max_wait`` seconds of log time: of
        their own stream's log (``now`` is the time of ``event``, a line of its stream;
        another stream's clock is the time of its latest line). Streams read together need
        not come in time order (CloudWatch's FilterLogEvents gives a slice stream by
        stream): a session is idle only when its own stream has moved on. Not the session
        of ``event``: its line says it is alive, and it may be the duration of a statement
        that ran that long."""
        sessions = self._sessions
        clocks = self._clocks
        stream = event.stream
        current: SessionKey | None = None
        while sessions:
            key, session = next(iter(sessions.items()))
            seen = session.last_seen
            if seen is None:
                return
            at = now if key[0] == stream else clocks.get(key[0], now)  # type: ignore[call-overload]
            try:
                idle = (at - seen).total_seconds()
            except TypeError:  # naive and aware timestamps: cannot compare
                return
            if idle <= self.max_wait:
                return
            if current is None:
                current = session_key(event)
            if key == current:
                sessions.move_to_end(key)
                session.last_seen = now
                continue
            untimed = [p.sql for p in session.pending
                       if not p.final and not _waits_for_execution(p)]
            if untimed:
                self._remember_late(key, untimed)
            self._release_session(key, out)

    def _remember_late(self, key: SessionKey, texts: list[str]) -> None:
        """A session's untimed executions written because it was idle too long: a
        statement may run longer than that, and its duration line then comes after its
        record. Remembered (bounded) so that the line makes no second record of it."""
        late = self._late
        kept = [t for t in texts if len(t) <= _LATE_TEXT_MAX]
        old = late.pop(key, [])
        self._late_chars += sum(map(len, kept)) - sum(map(len, old))
        late[key] = kept
        while late and (len(late) > _LATE_SESSIONS or self._late_chars > _LATE_CHARS):
            _, gone = late.popitem(last=False)
            self._late_chars -= sum(map(len, gone))

    def _late_duration(self, key: SessionKey, sql: str | None, prepared: str | None) -> bool:
        """Is a duration line that joins nothing the duration of an execution written
        already (see :meth:`_remember_late`)? Then it is counted as written early."""
        texts = self._late.get(key)
        if texts is None or (sql is not None and not any(
                same_sql(t, sql) or (prepared is not None and same_sql(t, prepared))
                for t in texts)):
            return False
        self._forget_late(key)
        self.released_early += 1
        return True

    def _forget_late(self, key: SessionKey) -> None:
        gone = self._late.pop(key, None)
        if gone is not None:
            self._late_chars -= sum(map(len, gone))
