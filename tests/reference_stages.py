"""The stages' plain code, kept as the oracle of their fast paths (tests/test_stage_fast_paths.py).

``ReferenceSqlStage`` is :class:`pgaudit_parse.sql.stage.SqlStage` and ``ReferenceGrouper``
is :class:`pgaudit_parse.formats.executions.ExecutionGrouper` as they were before the
speed round: every event through the matcher and every redaction function, a list
filtered by ``id()`` per release. The helpers they call are the package's own.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from pgaudit_parse.events import (
    AuditEvent,
    ConnectionEvent,
    DisconnectionEvent,
    DurationEvent,
    ErrorEvent,
    Event,
    LogEvent,
)
from pgaudit_parse.formats.executions import (
    _FUNCTION_CALL,
    _PHASE,
    Execution,
    SessionKey,
    _first_to_release,
    _logged_at_portal_close,
    _part_of,
    _Pending,
    _rule_action,
    _same_execution,
    _Session,
    duration_micros,
    logged_statement,
    prepared_statement,
    same_sql,
    session_key,
)
from pgaudit_parse.sql.fingerprint import fingerprint
from pgaudit_parse.sql.redact import (
    REDACT_MODES,
    RedactMode,
    redact,
    redact_parameters,
)
from pgaudit_parse.sql.split import StatementMatcher
from pgaudit_parse.sql.stage import (
    NO_INFO,
    SqlInfo,
    _redact_detail,
    _redacted_payload,
    _replace,
    redact_context,
    redact_echo,
    redact_message,
    statement_of_message,
)


class ReferenceSqlStage:
    """Split, fingerprint and redact events (see the module docstring).

    ``redact`` is ``none``, ``passwords`` or ``literals``; ``fingerprints`` False skips
    them, ``audit_messages`` False leaves the raw ``AUDIT:`` message of an audit event as
    it is (records do not carry either); memory is bounded by ``max_backends``.
    """

    def __init__(self, redact: RedactMode | str = "none", *, fingerprints: bool = True,
                 audit_messages: bool = True, max_backends: int = 4096) -> None:
        if redact not in REDACT_MODES:
            raise ValueError(f"unknown redaction mode {redact!r} (expected one of "
                             f"{', '.join(REDACT_MODES)})")
        self.redact = redact
        self.fingerprints = fingerprints
        self.audit_messages = audit_messages
        self._matcher = StatementMatcher(max_backends)

    def apply(self, event: Event) -> tuple[Event, SqlInfo]:
        """The event with its SQL split and redacted, and what it gained (:class:`SqlInfo`)."""
        if isinstance(event, AuditEvent):
            return self._audit(event)
        mode = self.redact
        sql: str | None
        if isinstance(event, ErrorEvent):
            sql = event.statement
        elif isinstance(event, DurationEvent):
            sql = event.duration_statement
        else:
            sql = statement_of_message(event.message) if event.message[:1] in "sdepb" else None
        info = SqlInfo(fingerprint(sql)) if self.fingerprints and sql else NO_INFO
        if mode == "none":
            return event, info
        changes: dict[str, object] = {}
        for name, value in (("statement", event.statement), ("query", event.query)):
            if value is not None:
                new = redact(value, mode)
                if new != value:
                    changes[name] = new
        if isinstance(event, DurationEvent) and event.duration_statement is not None:
            new = redact(event.duration_statement, mode)
            if new != event.duration_statement:
                changes["duration_statement"] = new
        message = redact_message(event.message, mode)
        if isinstance(event, ErrorEvent) and "statement" in changes:  # (hunt-creds)
            message = redact_echo(message, event.statement, changes["statement"])
        if message != event.message:
            changes["message"] = message
        self._redact_notes(event, changes, sql)  # (its PASSWORD $k: hunt-creds)
        return (_replace(event, changes) if changes else event), info

    def _redact_notes(self, event: Event, changes: dict[str, object],
                      statement: str | None = None) -> None:
        detail = _redact_detail(event.detail, self.redact, statement)
        if detail != event.detail:
            changes["detail"] = detail
        context = redact_context(event.context, self.redact)
        if context != event.context:
            changes["context"] = context

    def _audit(self, event: AuditEvent) -> tuple[Event, SqlInfo]:
        audit = event.audit
        whole = audit.statement
        split = self._matcher.match((event.stream, event.pid), audit.statement_id,
                                    audit.command, whole, audit.audit_type,
                                    audit.substatement_id)
        statement = split.statement if split is not None else whole
        mode = self.redact
        info = SqlInfo(
            fingerprint(statement) if self.fingerprints and statement else None,
            redact(whole, mode) if split is not None else None,
            split.certain if split is not None else None,
        )
        new_statement = redact(statement, mode)
        new_parameter = redact_parameters(audit.parameter, mode, statement)
        if new_statement == whole and new_parameter == audit.parameter and mode == "none":
            return event, info
        changes: dict[str, object] = {}
        if new_statement != whole or new_parameter != audit.parameter:
            new_audit = _replace(audit, {"statement": new_statement, "parameter": new_parameter})
            changes["audit"] = new_audit
            if mode != "none" and self.audit_messages:
                message = _redacted_payload(event.message, audit,
                                            info.statement_full or new_statement, new_parameter)
                if message != event.message:
                    changes["message"] = message
        if mode != "none":
            for name, value in (("statement", event.statement), ("query", event.query)):
                if value is not None:
                    new = redact(value, mode)
                    if new != value:
                        changes[name] = new
            self._redact_notes(event, changes)
        return (_replace(event, changes) if changes else event), info


class ReferenceGrouper:
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
        self._held = 0
        self._held_bytes = 0
        #: Executions released before their other lines came, to stay within the bounds
        #: (max_per_session, max_held, max_held_bytes; docs/memory.md).
        self.released_early = 0
        #: After :meth:`add` of an AuditEvent: was it another line of an execution already
        #: pending (True), or the first pgAudit line of an execution (False)? Counters
        #: (the summary) count executions when they start, without waiting for the end.
        self.joined = False
        #: per session: the untimed executions written for being idle (their SQL)
        self._late: dict[SessionKey, list[str]] = {}

    # -- public ------------------------------------------------------------------------

    def add(self, event: Event) -> list[Execution | Event]:
        """What is complete after this event: executions and pass-through events."""
        out: list[Execution | Event] = []
        stamp = event.timestamp
        if stamp is not None and self._sessions:
            self._expire(stamp, session_key(event), out)
        if not isinstance(event, DurationEvent):
            self._late.pop(session_key(event), None)
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

    def _failed(self, event: ErrorEvent, out: list[Execution | Event]) -> None:
        # the failed statement's log_statement line or parse/bind durations: its error;
        # then what else the session had pending is complete (nothing joins it after an
        # error) but a parse or bind that waits for its execution
        key = session_key(event)
        session = self._sessions.get(key)
        if session is None:
            return
        matching: list[_Pending] = []
        if event.statement is None:
            # log_min_error_statement above ERROR: the statement the session was running
            if event.severity == "ERROR" and session.pending and \
                    session.pending[-1].source != "audit" and not session.pending[-1].final:
                matching = [session.pending[-1]]
        else:
            matching = [p for p in session.pending if p.source != "audit" and not p.final
                        and same_sql(p.sql, event.statement)]
        if matching:
            failed = matching[-1]
            session.pending = [p for p in session.pending if p is not failed]
            self._held -= 1
            self._held_bytes -= failed.size
        self._release(session, [p for p in session.pending
                                if p.source != "duration" or p.final], out)
        self._drop_if_empty(key, session)

    def flush(self) -> list[Execution]:
        """Release every pending execution."""
        out: list[Execution | Event] = []
        for key in list(self._sessions):
            self._release_session(key, out)
        return out  # type: ignore[return-value]

    def held(self) -> int:
        """How many executions are pending."""
        return self._held

    @property
    def held_bytes(self) -> int:
        """The pending executions' SQL (characters)."""
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
        ids = (audit.statement_id, audit.substatement_id)
        sql = audit.statement or ""
        session = self._session(event)
        pending = session.pending
        self.joined = True
        reused = False
        for item in pending:
            if item.source == "audit" and (item.ids == ids or ids in (item.parts or {})):
                if not _same_execution(item, event, sql):
                    reused = True  # a new backend on a reused pid
                    break
                item.take(event)
                if audit.rows is not None and (item.rows is None or audit.rows > item.rows):
                    item.rows = audit.rows
                return
        if reused:
            self._release(session, list(pending), out)
        else:
            # the parts of one execution (the latest that this line is a part of), else a
            # rule's action on an earlier statement
            ours = [p for p in pending if p.source == "audit"
                    and any(k[0] == ids[0] for k in (p.parts or {}))]
            older = [p for p in pending if p.source == "audit" and p not in ours and p.ids
                     and p.ids[0] != ids[0]]
            parts = [p for p in ours if _part_of(p, event, sql)]
            actions = [p for p in older if _rule_action(p, event, sql)]
            part_of = parts[-1] if parts else (actions[0] if actions else None)
            # A new statement id: the session's earlier pgAudit executions are over.
            self._release(session, [p for p in older if p is not part_of], out)
            if part_of is not None:
                part_of.take(event)
                assert part_of.parts is not None
                part_of.parts[ids] = (audit.class_, audit.command)
                if audit.rows is not None and (part_of.rows is None
                                               or audit.rows > part_of.rows):
                    part_of.rows = audit.rows
                return
        self.joined = False
        for item in session.pending:
            shown = same_sql(sql, item.sql) or (item.prepared is not None
                                                 and same_sql(sql, item.prepared))
            if item.source != "audit" and shown:
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
            if session is None and key in self._late:
                del self._late[key]  # a statement's, written before its duration came
                self.released_early += 1
            if session is not None:
                # the query string a log_statement line showed, else the top-level
                # statement of the latest statement id
                queries = [p for p in session.pending if not p.final and p.query]
                others = [p for p in session.pending if not p.final]
                chosen = queries or others
                item = chosen[-1] if chosen else None
                if item is not None and not queries and item.ids is not None:
                    group = sorted((p for p in session.pending
                                    if p.ids is not None and p.ids[0] == item.ids[0]),
                                   key=lambda p: p.ids[1] if p.ids else 0)
                    item = group[0]
                    # log_rows: a SELECT/DML is logged at its executor's end, after what
                    # it ran (a DO or CALL, logged at its start, stays first)
                    first_by_executor = (isinstance(item.event, AuditEvent)
                                         and item.event.audit.class_ in ("READ", "WRITE"))
                    repeated = [p for p in group[1:] if same_sql(p.sql, item.sql)]
                    if item.rows is not None and (first_by_executor or repeated):
                        item = group[-1]
                    if item.final:
                        item = None
                if item is not None:
                    item.add_time(micros)
                    item.final = True
                    item.take(event)
                self._touch(key, session, event)
            return
        phase_match = _PHASE.match(event.message)
        phase = phase_match.group(1) if phase_match else "statement"
        if phase == "plan":  # auto_explain: a plan, no execution and no time
            if session is not None:
                self._touch(key, session, event)
            return
        if session is None:
            session = self._session(event)
        else:
            self._touch(key, session, event)
        pending = session.pending
        if phase in ("parse", "bind"):
            # A parse starts a prepared statement; a bind joins its parse, or the SELECT
            # pgAudit logged at Bind (its portal's start, without log_rows).
            found = None
            if phase == "bind":
                for p in pending:
                    at_bind = (p.source == "audit" and not p.query
                               and isinstance(p.event, AuditEvent)
                               and ((p.event.audit.command == "SELECT" and p.rows is None)
                                    or (p.event.audit.class_, p.event.audit.command)
                                    == _FUNCTION_CALL))
                    if not p.final and same_sql(p.sql, sql) and (p.source != "audit"
                                                                 or at_bind):
                        found = p
                        break
            if found is not None:
                found.add_time(micros)
                found.take(event)
            else:
                self._append(session, _Pending(event, sql, "duration", micros=micros), out)
            return
        waiting = [p for p in pending if p.source == "duration" and not p.final]
        candidates = [p for p in pending if not p.final]
        if phase == "execute":
            candidates = [p for p in candidates if not _logged_at_portal_close(p)]
        if phase == "statement":
            candidates = [p for p in candidates if p not in waiting]
        prepared = prepared_statement(event)
        by_sql = [p for p in candidates if same_sql(p.sql, sql)]
        by_prepared = [p for p in candidates if prepared is not None
                       and p.source == "audit" and same_sql(p.sql, prepared)]
        found = (by_sql or by_prepared or [None])[0]
        late = self._late.get(key)
        if found is None and not pending and late is not None and any(
                same_sql(t, sql) or (prepared is not None and same_sql(t, prepared))
                for t in late):
            del self._late[key]  # a statement's, written before its duration came
            self.released_early += 1
            self._drop_if_empty(key, session)
            return
        if found is None:
            found = _Pending(event, sql, "duration", micros=micros, final=True)
            if phase == "statement":
                self._release(session, [p for p in pending if p not in waiting], out)
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
            self._release(session, [p for p in pending if p not in waiting], out)
        else:
            index = pending.index(found)
            self._release(session, [p for p in pending[:index]
                                    if p.final or p.source == "audit"], out)
        self._drop_if_empty(key, session)

    def _logged_statement(self, event: LogEvent, sql: str,
                          out: list[Execution | Event]) -> None:
        session = self._session(event)
        pending = session.pending
        waiting = [p for p in pending if p.source == "duration" and not p.final]
        if event.message.startswith("execute "):
            # the execute line of an extended-protocol statement whose parse/bind wait
            found = next((p for p in waiting if same_sql(p.sql, sql)), None)
            if found is not None:
                self._release(session, [p for p in pending if p is not found
                                        and p not in waiting], out)
                found.take(event)
                found.event, found.source, found.query = event, "statement", True
                found.simple = sql
                return
            # or of a SELECT pgAudit logged at Bind (or a function it calls)
            selects = [p for p in pending if p.source == "audit" and not p.query
                       and isinstance(p.event, AuditEvent)
                       and ((p.event.audit.command == "SELECT" and p.rows is None)
                            or (p.event.audit.class_, p.event.audit.command) == _FUNCTION_CALL)
                       and same_sql(p.sql, sql)]
            if selects:
                found = selects[-1]
                self._release(session, [p for p in pending if p is not found
                                        and p not in waiting], out)
                found.take(event)
                found.query = True
                return
        # a new statement: what the session had pending belongs to earlier ones
        self._release(session, [p for p in pending if p not in waiting], out)
        item = _Pending(event, sql, "statement")
        item.simple = sql
        self._append(session, item, out)

    # -- bookkeeping -----------------------------------------------------------------

    def _session(self, event: Event) -> _Session:
        key = session_key(event)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = _Session()
        self._touch(key, session, event)
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
            self.released_early += waited
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
        gone = {id(item) for item in items}
        session.pending = [p for p in session.pending if id(p) not in gone]
        self._held -= len(items)
        self._held_bytes -= sum(item.size for item in items)
        out.extend(item.done() for item in items)

    def _release_session(self, key: SessionKey, out: list[Execution | Event]) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            self._held -= len(session.pending)
            self._held_bytes -= sum(item.size for item in session.pending)
            out.extend(item.done() for item in session.pending)

    def _drop_if_empty(self, key: SessionKey, session: _Session) -> None:
        if not session.pending:
            self._sessions.pop(key, None)

    def _expire(self, now: datetime, current: SessionKey, out: list[Execution | Event]
                ) -> None:
        """Release sessions that wrote nothing for ``max_wait`` seconds of log time, but
        the current line's."""
        while self._sessions:
            key, session = next(iter(self._sessions.items()))
            seen = session.last_seen
            if seen is None:
                return
            try:
                idle = (now - seen).total_seconds()
            except TypeError:  # naive and aware timestamps: cannot compare
                return
            if idle <= self.max_wait:
                return
            if key == current:
                self._touch(key, session, _Now(now))
                continue
            untimed = [p.sql for p in session.pending
                       if not p.final and not (p.source == "duration" and not p.final)]
            if untimed:
                self._late.pop(key, None)
                self._late[key] = untimed
            self._release_session(key, out)


class _Now:
    """(what :meth:`ReferenceGrouper._touch` reads of an event: its timestamp)"""

    def __init__(self, timestamp: datetime) -> None:
        self.timestamp = timestamp
