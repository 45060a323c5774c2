"""The SQL stage of the pipeline: events in, events redacted and annotated out.

One :class:`SqlStage` per output stream (it remembers, per backend, which statement of a
multi-statement string the last audit line was about). For each event it

1. gives a multi-statement audit line its own statement (:class:`StatementMatcher`);
2. computes the fingerprint of the event's statement (before redaction: a fingerprint
   does not depend on constants anyway);
3. redacts every field that carries SQL or data in the chosen mode: the audit statement,
   parameter and message (the raw ``AUDIT:`` payload is written again from the redacted
   fields), ERROR ``STATEMENT`` and ``QUERY``, ``statement:``/``execute``/``duration:``
   messages, DETAIL (row values, ``parameters: $1 = '...'``) and CONTEXT
   (``SQL statement "..."``);
4. remembers, per backend, what a later line of the session needs to stay redacted: the
   statements it PREPAREd with a credential parameter (``EXECUTE q('...')``), the values
   its last statement's redaction hid, and (for every backend) the patterns of RAISE
   messages that carry a credential (:mod:`.echo`); bounded like the splits.

What the events have no field for comes back in :class:`SqlInfo` (the ``fingerprint``,
and for a split line the whole string and whether the split is certain); the events
sink adds them as keys of their own.

>>> from pgaudit_parse import parse_lines
>>> p = "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  "
>>> sql = '"select 1; update t set pw = \\'x\\'"'
>>> stage = SqlStage("literals")
>>> events = parse_lines([p + "AUDIT: SESSION,1,1,READ,SELECT,,," + sql + ",<none>",
...                       p + "AUDIT: SESSION,2,1,WRITE,UPDATE,TABLE,t," + sql + ",<none>"])
>>> [(e.audit.statement, i.statement_full, i.split_certain) for e, i in map(stage.apply, events)]
[('select $1', 'select $1; update t set pw = $2', True), \
('update t set pw = $1', 'select $1; update t set pw = $2', True)]
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, TypeVar

import msgspec

from ..events import AuditEvent, DisconnectionEvent, DurationEvent, ErrorEvent, Event, replace
from ..payload import (
    AUDIT_MARKER,
    NO_PARAMETERS,
    NOT_LOGGED,
    PREVIOUSLY_LOGGED,
    AuditFields,
    PayloadError,
    parse_audit_payload,
)
from .echo import EchoPattern, hide_by_patterns, hide_values, raise_patterns
from .fingerprint import fingerprint
from .redact import (
    REDACT_MODES,
    REDACTED,
    Prepared,
    RedactMode,
    calls_function,
    credential_name,
    credential_value,
    function_parameters,
    has_credentials,
    hidden_values,
    may_hold_credential,
    names_credential,
    names_credential_key,
    password_parameters,
    prepared_parameters,
    quoted_value_span,
    redact,
    redact_detail,
    redact_echo,
    redact_parameters,
    redact_quoted_value,
    string_constants,
    unquoted_value,
)
from .split import Split, StatementMatcher

__all__ = ["SqlInfo", "SqlStage", "redact_context", "redact_message", "redact_echo",
           "NO_INFO"]


@dataclass(frozen=True, slots=True)
class SqlInfo:
    """What the SQL stage adds to an event beyond its own fields."""

    fingerprint: str | None = None
    statement_full: str | None = None   # the whole multi-statement string (redacted)
    split_certain: bool | None = None   # None: not a multi-statement audit line

    def as_dict(self) -> dict[str, object]:
        """Keys for the ``--format events`` JSON (``statement_full``/``split_certain``
        go in the ``audit`` object)."""
        return {"fingerprint": self.fingerprint}


NO_INFO: Final = SqlInfo()
T = TypeVar("T", bound=msgspec.Struct)

# Messages that carry a statement after a fixed head (log_statement, log_duration,
# log_min_duration_statement, extended-protocol steps).
_SQL_MESSAGE = re.compile(
    r"(?P<head>(?:duration: \d+(?:\.\d+)? ms  )?"
    r"(?:statement|(?:execute|parse|bind) [^:]*|plan)): ?(?P<sql>.*)\Z", re.DOTALL)
# CONTEXT entries that quote SQL (PostgreSQL 14+ writes expressions and assignments of
# PL/pgSQL as their own), the first words of any entry (to find where a quoted SQL with
# newlines ends), and the entries that quote data.
_CONTEXT_SQL_HEAD = re.compile(r'(?:SQL statement|SQL expression|PL/pgSQL assignment) "')
_CONTEXT_ENTRY = re.compile(
    r'(?:PL/pgSQL |SQL |COPY |JSON data|while |parallel worker|automatic |extended '
    r'statistics|unnamed portal|portal |external |processing |writing block|[^ "]+ function )')
_CONTEXT_DATA = (
    re.compile(r'COPY .*?, line [0-9]+(?:, column (?P<column>.*?))?: "(?P<value>.*)"\Z'),
    re.compile(r'JSON data, line [0-9]+: (?P<value>.*)\Z'),
)
_PARAMETERS_DETAIL = re.compile(r"parameters: (?P<list>.*)\Z", re.DOTALL)
# The CONTEXT of an error in an extended-protocol step (log_parameter_max_length_on_error):
# the bind parameters, to the end of the CONTEXT (a value may hold newlines).
_PORTAL_PARAMETERS = re.compile(
    r'(?:unnamed portal|portal ".*?") (?:with parameters: |parameter (?=\$[0-9]+ = ))')
_PARAMETER_VALUE = re.compile(r"(\$[0-9]+ = )('(?:[^']|'')*'|NULL)")
_CSV_SPECIAL = re.compile(r'[,"\r\n]')
_PREVIOUSLY_LOGGED_LIST: Final = (PREVIOUSLY_LOGGED,)


def statement_of_message(message: str) -> str | None:
    """The SQL of a ``statement:``/``execute ...:``/``duration: ... statement:`` message.

    >>> statement_of_message("duration: 0.5 ms  execute S_1: select $1")
    'select $1'
    """
    m = _SQL_MESSAGE.match(message)
    return m.group("sql") if m else None


def redact_message(message: str, mode: RedactMode | str,
                   prepared: Prepared | None = None) -> str:
    """A ``statement:``/``execute``/``duration:`` message with its SQL redacted
    (``prepared``: the session's prepared statements)."""
    m = _SQL_MESSAGE.match(message)
    if m is None or mode == "none":
        return message
    sql = m.group("sql")
    return message[:m.start("sql")] + (redact(sql, mode, prepared) or "")


def redact_context(context: str | None, mode: RedactMode | str,
                   statement: str | None = None,
                   hidden: list[str] | None = None) -> str | None:
    """CONTEXT lines with what they quote redacted: the SQL of ``SQL statement "..."``,
    ``SQL expression "..."`` and ``PL/pgSQL assignment "..."`` (over several lines when
    the SQL has newlines), the data of ``COPY t, line 1, column c: "..."`` and ``JSON
    data, line 1: ...``, and the row values other lines echo.

    >>> redact_context('SQL statement "alter role a password \\'x\\'"\\nPL/pgSQL function '
    ...                'inline_code_block line 1 at SQL statement', "passwords")
    'SQL statement "alter role a password <REDACTED>"\\nPL/pgSQL function inline_code_block \
line 1 at SQL statement'
    >>> redact_context('COPY u, line 1, column password: "s3cret"', "passwords")
    'COPY u, line 1, column password: "<REDACTED>"'
    >>> redact_context('COPY u, line 1: "bob\ts3cret"', "passwords", "COPY u (n, pw) FROM STDIN")
    'COPY u, line 1: "<REDACTED>"'
    >>> redact_context("unnamed portal with parameters: $1 = 'bob', $2 = 's3cret'", "passwords",
    ...                "update u set name = $1, password = $2")
    "unnamed portal with parameters: $1 = 'bob', $2 = <REDACTED>"

    ``hidden``, when given, gets the values hidden that the message of the same event may
    quote: bind parameters, and (``passwords``) what the SQL's redaction hid.
    """
    if context is None or mode == "none":
        return context
    rows_hold_credential = statement is not None and "COPY" in context \
        and names_credential(statement)
    lines = context.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        p = _PORTAL_PARAMETERS.match(line)
        if p is not None:
            rest = "\n".join(lines[i:])
            out.append(rest[:p.end()] + _redact_parameter_list(rest[p.end():], mode,
                                                               statement, hidden))
            break
        m = _CONTEXT_SQL_HEAD.match(line)
        if m is None:
            out.append(_redact_context_line(line, mode, rows_hold_credential))
            i += 1
            continue
        # The SQL runs to the line that ends with '"' before the next entry (or the end).
        end = i
        while end + 1 < len(lines) and not (
                lines[end].endswith('"') and (len(lines[end]) > m.end() or end > i)
                and _CONTEXT_ENTRY.match(lines[end + 1])):
            end += 1
        text = "\n".join(lines[i:end + 1])[m.end():]
        closed = text.endswith('"')
        sql = text[:-1] if closed else text
        new = redact(sql, mode) or ""
        if hidden is not None and mode == "passwords" and new != sql:
            hidden.extend(hidden_values(sql))
        out.append(m.group() + new + ('"' if closed else ""))
        i = end + 1
    return "\n".join(out)


def _redact_context_line(line: str, mode: RedactMode | str,
                          rows_hold_credential: bool = False) -> str:
    """One CONTEXT line that quotes no SQL: COPY's and JSON's data (all of it when the
    statement writes a credential column), or row values."""
    for pattern in _CONTEXT_DATA:
        m = pattern.match(line)
        if m is not None:
            column = m.groupdict().get("column")
            if mode == "literals" or rows_hold_credential \
                    or credential_value(m.group("value")) or (
                    column is not None and credential_name(column)):
                return line[:m.start("value")] + REDACTED + line[m.end("value"):]
            return line
    return redact_detail(line, mode) or ""


def _redact_detail(detail: str | None, mode: RedactMode | str,
                   statement: str | None = None) -> str | None:
    """DETAIL: row values, or the ``parameters: $1 = '...'`` of an extended-protocol step
    (of ``statement``: a value that stands where it expects a password is one)."""
    if detail is None or mode == "none":
        return detail
    if detail.startswith("prepare: "):
        # (log_statement's DETAIL of an EXECUTE: the PREPARE it runs, SQL)
        return "prepare: " + (redact(detail[9:], mode) or "")
    m = _PARAMETERS_DETAIL.match(detail)
    if m is not None:
        return "parameters: " + _redact_parameter_list(m.group("list"), mode, statement)
    if mode == "passwords" and statement and (has_credentials(statement)
                                              or names_credential(statement)):
        # The row of a statement that carries a password holds it: hide its values.
        return redact_detail(detail, "literals")
    return redact_detail(detail, mode)


def _redact_parameter_list(text: str, mode: RedactMode | str, statement: str | None,
                           hidden: list[str] | None = None) -> str:
    """``$1 = '...', $2 = NULL`` (a ``parameters:`` DETAIL, a portal's CONTEXT) with the
    values hidden: all in ``literals``, in ``passwords`` those that stand where
    ``statement`` expects a credential or that hold one. ``hidden`` gets their values."""
    secret = password_parameters(statement) if statement and mode == "passwords" \
        else frozenset()

    def one(v: re.Match[str]) -> str:
        value = v.group(2)
        if value == "NULL":
            return v.group(0)
        if not (mode == "literals" or secret and int(v.group(1)[1:-3]) in secret
                or redact_detail(value, mode) != value):
            return v.group(0)
        if hidden is not None:
            inner = value[1:-1].replace("''", "'")
            hidden.append(inner[:-3] if inner.endswith("...") else inner)
        return v.group(1) + REDACTED
    return _PARAMETER_VALUE.sub(one, text)


def _csv_field(value: str | None) -> str:
    if value is None:
        return ""
    if _CSV_SPECIAL.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def render_audit_message(audit: AuditFields) -> str:
    """The ``AUDIT:`` payload of these fields, written as pgAudit writes it."""
    parameter = _render_parameter(audit.parameter)
    fields = [audit.audit_type, str(audit.statement_id), str(audit.substatement_id),
              audit.class_, audit.command, audit.object_type, audit.object_name]
    out = ",".join(_csv_field(f) for f in fields)
    out += "," + _csv_field(audit.statement) + "," + parameter
    if audit.rows is not None:
        out += f",{audit.rows}"
    return AUDIT_MARKER + out


def _render_parameter(parameter: Sequence[str] | None) -> str:
    if parameter is None:
        return NOT_LOGGED
    if not parameter:
        return NO_PARAMETERS
    return _csv_field(",".join(_csv_field(v) for v in parameter))


def _redacted_payload(message: str, audit: AuditFields, statement: str | None,
                      parameter: Sequence[str] | None) -> str:
    """The raw ``AUDIT:`` message again, with the redacted statement and parameter (a
    ``<previously logged>`` field stays as it was: it holds nothing).

    The fast way: the message is the fields as pgAudit writes them, so the head (up to
    the statement) and the old statement are found as they are; otherwise the payload is
    parsed again.
    """
    head = AUDIT_MARKER + ",".join(_csv_field(f) for f in (
        audit.audit_type, str(audit.statement_id), str(audit.substatement_id),
        audit.class_, audit.command, audit.object_type, audit.object_name)) + ","
    old = _csv_field(audit.statement) + ","
    if message.startswith(head) and message.startswith(old, len(head)):
        tail = message[len(head) + len(old):]
        rows = f",{audit.rows}" if audit.rows is not None else ""
        if tail == _render_parameter(audit.parameter) + rows:
            return head + _csv_field(statement) + "," + _render_parameter(parameter) + rows
        if tail == PREVIOUSLY_LOGGED + rows:
            return head + _csv_field(statement) + "," + tail
    try:
        raw = parse_audit_payload(message[len(AUDIT_MARKER):])
    except (PayloadError, ValueError):
        return AUDIT_MARKER + REDACTED  # cannot be written again: hide it all
    return render_audit_message(_replace(
        raw,
        {"statement": raw.statement if raw.statement == PREVIOUSLY_LOGGED else statement,
         "parameter": raw.parameter if tuple(raw.parameter or ()) == _PREVIOUSLY_LOGGED_LIST
         else parameter}))


def _replace(obj: T, changes: dict[str, Any]) -> T:
    """A copy of a frozen event (or its audit fields) with ``changes``
    (:func:`pgaudit_parse.events.replace`: msgspec's, in C)."""
    return replace(obj, **changes)


class _Session:
    """What the SQL stage remembers of one backend: the statements it PREPAREd that take
    a credential as a parameter, and the values its statements' redaction hid (a message
    it makes the server write may echo them)."""

    __slots__ = ("prepared", "hidden", "since")

    def __init__(self, since: int) -> None:
        self.prepared: Prepared = {}
        self.hidden: tuple[str, ...] = ()
        #: the input line that made it (what it holds was learned there or later)
        self.since = since


# A hidden value shorter than this is not looked for in other messages (it would hide
# common words); at most this many per statement, and patterns of RAISE messages.
_MIN_ECHO: Final = 4
_MAX_ECHOES: Final = 16
_MAX_PATTERNS: Final = 256
_MAX_PREPARED: Final = 256
_DEALLOCATE = re.compile(r"\s*deallocate\s+(?:prepare\s+)?(?P<name>\w+|\"(?:[^\"]|\"\")+\")",
                         re.IGNORECASE)


@lru_cache(maxsize=4096)  # (a log repeats its statements)
def _session_cue(text: str) -> bool:
    """Does SQL text PREPARE, DEALLOCATE, RAISE or create a function (what the stage
    remembers of a session, or of all)?"""
    low = text.lower()
    return "prepare" in low or "raise" in low or "deallocate" in low or "create" in low and (
        "function" in low or "procedure" in low)


class SqlStage:
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
        self._infos: dict[str, SqlInfo] = {}
        self._max_backends = max_backends
        self._sessions: OrderedDict[tuple[str, object], _Session] = OrderedDict()
        self._patterns: OrderedDict[tuple[str, str], EchoPattern] = OrderedDict()
        #: the input line of the oldest RAISE pattern held (while any is)
        self._patterns_since: int | None = None
        #: functions created with a parameter named as a credential (any backend calls
        #: them), keyed as in a Prepared map (``FUNCTION_KEY + name``), and since when
        self._functions: Prepared = {}
        self._functions_since: int | None = None

    def memory_from(self) -> int | None:
        """The earliest input line of what the stage remembers now (a statement PREPAREd
        with a credential parameter, a value a redaction hid, a RAISE pattern), or None
        when it remembers nothing: a reader that starts after that line (a ``--jobs``
        chunk) must read from it to redact what follows as this stage does.

        >>> from pgaudit_parse import parse_lines
        >>> stage = SqlStage("passwords")
        >>> for event in parse_lines([
        ...         "2026-11-25 16:05:01 UTC::@:[7]:LOG:  statement: select 1",
        ...         "2026-11-25 16:05:01 UTC::@:[7]:LOG:  statement: PREPARE q AS "
        ...         "ALTER ROLE a PASSWORD $1"]):
        ...     _ = stage.apply(event)
        >>> stage.memory_from()
        2
        """
        lines = [session.since for session in self._sessions.values()
                 if session.prepared or session.hidden]
        if self._patterns and self._patterns_since is not None:
            lines.append(self._patterns_since)
        if self._functions and self._functions_since is not None:
            lines.append(self._functions_since)
        return min(lines, default=None)

    def _follow(self, event: Event, texts: Sequence[str]) -> _Session | None:
        """Remember what this event's SQL (``texts``) tells about its session: statements
        it PREPAREs (and DEALLOCATEs) with a credential parameter, RAISE statements whose
        message carries a credential. The session's state, or None when it has none."""
        key = (event.stream, event.pid)
        sessions = self._sessions
        session = sessions.get(key) if sessions else None
        for text in texts:
            if not _session_cue(text):
                continue  # (the common case)
            low = text.lower()
            if "prepare" in low:
                found = prepared_parameters(text)
                if found:
                    if session is None:
                        session = self._new_session(key, event.line)
                    session.prepared.update(found)
                    while len(session.prepared) > _MAX_PREPARED:
                        del session.prepared[next(iter(session.prepared))]
            if session is not None and session.prepared and "deallocate" in low:
                m = _DEALLOCATE.match(text)
                if m is not None:
                    name = m.group("name")
                    if name.lower() == "all":
                        session.prepared.clear()
                    else:
                        session.prepared.pop(name[1:-1].replace('""', '"') if name[0] == '"'
                                             else name.lower(), None)
            if "raise" in low:
                for pattern in raise_patterns(text):
                    if not self._patterns:
                        self._patterns_since = event.line
                    self._patterns[(pattern.field, pattern.regex.pattern)] = pattern
                    if len(self._patterns) > _MAX_PATTERNS:
                        self._patterns.popitem(last=False)
            if "create" in low:
                found = function_parameters(text)
                if found:
                    if not self._functions:
                        self._functions_since = event.line
                    self._functions.update(found)
                    while len(self._functions) > _MAX_PATTERNS:
                        del self._functions[next(iter(self._functions))]
        return session

    def _prepared(self, session: _Session | None, texts: Sequence[str | None]) -> Prepared | None:
        """What redaction must know of the session's prepared statements and of the
        functions created with a credential parameter that ``texts`` call."""
        prepared = session.prepared if session is not None and session.prepared else None
        functions = self._functions
        if functions and any(text and calls_function(text, functions) for text in texts):
            return {**functions, **prepared} if prepared else functions
        return prepared

    def _new_session(self, key: tuple[str, object], line: int) -> _Session:
        session = self._sessions[key] = _Session(line)
        if len(self._sessions) > self._max_backends:
            self._sessions.popitem(last=False)
        return session

    def _remember_hidden(self, event: Event, session: _Session | None, sql: str | None,
                         prepared: Prepared | None) -> _Session | None:
        """A statement was redacted: remember the values it hid, for the messages of the
        session that follow (its sub-statements' audit lines may come between); the
        latest first, at most ``_MAX_ECHOES``."""
        values = tuple(v for v in hidden_values(sql, prepared) if len(v) >= _MIN_ECHO) \
            if sql else ()
        if not values:
            return session
        if session is None:
            session = self._new_session((event.stream, event.pid), event.line)
        session.hidden = tuple(dict.fromkeys(values + session.hidden))[:_MAX_ECHOES]
        return session

    def _hide_echoes(self, event: Event, changes: dict[str, object],
                     session: _Session | None) -> None:
        """Message, DETAIL, HINT and CONTEXT of a non-audit event with what a RAISE
        pattern marks as a credential hidden, and the values the session's statements
        (or a CONTEXT) hid hidden there and in its SQL (``STATEMENT``, ``QUERY``, a
        duration's statement)."""
        context = event.context
        patterns = list(self._patterns.values()) if self._patterns and context \
            and " at RAISE" in context else None
        hidden = session.hidden if session is not None else ()
        if not patterns and not hidden:
            return
        names = ("message", "detail", "hint", "context", "statement", "query",
                 "duration_statement") if hidden else ("message", "detail", "hint", "context")
        for name in names:
            value = changes.get(name, getattr(event, name, None))
            if not isinstance(value, str):
                continue
            new = value
            if patterns and name in ("message", "detail", "hint"):
                new = hide_by_patterns(new, patterns, name)  # type: ignore[arg-type]
            if hidden:
                new = hide_values(new, hidden)
            if new != value:
                changes[name] = new

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
        info = self._info(sql) if self.fingerprints and sql else NO_INFO
        if mode == "none":
            return event, info
        texts = [sql] if sql else []
        if event.detail is not None and event.detail.startswith("prepare: "):
            texts.append(event.detail[9:])
        if isinstance(event, DisconnectionEvent):
            self._sessions.pop((event.stream, event.pid), None)
        session = self._follow(event, texts)
        prepared = self._prepared(session, (sql, event.statement, event.query, event.message)) \
            if mode == "passwords" else None
        if mode == "passwords" and not _may_hold_credential(event) and (
                prepared is None or not _runs_prepared(event, sql, prepared)) \
                and not self._may_echo(event, session):
            return event, info  # nothing here can hold a credential: nothing changes
        changes: dict[str, object] = {}
        for name, value in (("statement", event.statement), ("query", event.query)):
            if value is not None:
                new = redact(value, mode, prepared)
                if new != value:
                    changes[name] = new
        if isinstance(event, DurationEvent) and event.duration_statement is not None:
            new = redact(event.duration_statement, mode, prepared)
            if new != event.duration_statement:
                changes["duration_statement"] = new
        message = redact_message(event.message, mode, prepared)
        if isinstance(event, ErrorEvent) and "statement" in changes:
            message = redact_echo(message, event.statement, changes["statement"])
        if isinstance(event, ErrorEvent) and event.statement \
                and message.startswith("column "):
            # a password left unquoted: UPDATE u SET password = s3cret (a constant to
            # literals mode too, like ALTER ROLE a PASSWORD s3cret)
            shown = changes.get("statement", event.statement)
            found = unquoted_value(message, event.statement, shown) \
                if isinstance(shown, str) else None
            if found is not None:
                changes["statement"], message = found
        if message != event.message:
            changes["message"] = message
        if changes and sql:
            session = self._remember_hidden(event, session, sql, prepared)
        _hide_application(event, changes)
        echoed = self._redact_notes(event, changes, sql)
        if echoed or mode == "literals" or sql and _holds_credential(sql) or (
                mode == "passwords" and isinstance(event, ErrorEvent)
                and _about_credential(event)):
            if mode == "passwords":
                # A value the error quotes is a credential's (the statement, the
                # CONTEXT's SQL or the QUERY holds or names one): hidden wherever the
                # event shows it (the call that passed it: SELECT f('...')), and after.
                for text in (event.message, event.detail):
                    span = quoted_value_span(text) if text else None
                    if text and span is not None:
                        echoed.append(text[span[0]:span[1]])
            self._hide_own_echoes(event, changes, echoed)
            if echoed and mode == "passwords":
                values = tuple(v for v in echoed if len(v) >= _MIN_ECHO)
                if values:
                    if session is None:
                        session = self._new_session((event.stream, event.pid), event.line)
                    session.hidden = tuple(dict.fromkeys(values + session.hidden))[
                        :_MAX_ECHOES]
        self._hide_echoes(event, changes, session)
        return (_replace(event, changes) if changes else event), info

    def _hide_own_echoes(self, event: Event, changes: dict[str, object],
                         echoed: Sequence[str]) -> None:
        """Message, DETAIL and HINT of a non-audit event with the input value they quote
        hidden (``invalid input syntax for type integer: "..."``: a constant, a bind
        parameter or a table's data), and the values its CONTEXT hid (``echoed``: bind
        parameters, the SQL of a PL/pgSQL line) hidden wherever the event shows them."""
        mode = self.redact
        names = ("message", "detail", "hint", "statement", "query") if echoed and (
            mode == "passwords") else ("message", "detail", "hint")
        # literals: a RAISE's message, DETAIL and HINT are made of the constants of the
        # statement that runs it (the server's own messages quote a value in "...":
        # redact_echo, redact_quoted_value; a word of them may be a constant too)
        constants = string_constants(event.statement) if mode == "literals" \
            and event.statement and event.context and " at RAISE" in event.context else ()
        for name in names:
            value = changes.get(name, getattr(event, name))
            if not isinstance(value, str):
                continue
            new = value if name in ("statement", "query") else redact_quoted_value(value)
            if echoed:
                new = _hide_quoted(new, echoed)
                if mode == "passwords":
                    new = hide_values(new, [v for v in echoed if len(v) >= _MIN_ECHO])
            if constants and name in ("message", "detail", "hint"):
                new = hide_values(new, constants)
            if new != value:
                changes[name] = new

    def _may_echo(self, event: Event, session: _Session | None) -> bool:
        """May this event's texts echo a credential its session's statement hid, or that
        a RAISE pattern marks?"""
        return session is not None and bool(session.hidden) or bool(self._patterns) and (
            event.context is not None and " at RAISE" in event.context)

    def _info(self, sql: str) -> SqlInfo:
        """``SqlInfo(fingerprint(sql))``, one object per fingerprint (at most 4096 kept)."""
        fp = fingerprint(sql)
        info = self._infos.get(fp)
        if info is None:
            if len(self._infos) >= 4096:
                self._infos.clear()
            info = self._infos[fp] = SqlInfo(fp)
        return info

    def _redact_notes(self, event: Event, changes: dict[str, object],
                      statement: str | None = None) -> list[str]:
        """DETAIL and CONTEXT redacted; the values the CONTEXT hid that the rest of the
        event may quote (see :func:`redact_context`)."""
        detail = _redact_detail(event.detail, self.redact, statement)
        if detail != event.detail:
            changes["detail"] = detail
        hidden: list[str] = []
        context = redact_context(event.context, self.redact, statement, hidden)
        if context != event.context:
            changes["context"] = context
        return hidden

    def _audit(self, event: AuditEvent) -> tuple[Event, SqlInfo]:
        audit = event.audit
        whole = audit.statement
        mode = self.redact
        session = self._follow(event, (whole,)) if mode != "none" and whole and (
            self._sessions or _session_cue(whole)) else None
        prepared = self._prepared(session, (whole,)) if mode == "passwords" and (
            session is not None or self._functions) else None
        if not whole or ";" not in whole.rstrip().rstrip(";"):
            # One statement (the matcher keeps nothing for it): the common case, and in
            # ``none`` or (without a credential anywhere) ``passwords`` mode nothing changes.
            info = self._info(whole) if self.fingerprints and whole else NO_INFO
            if mode == "none" or (mode == "passwords" and not _may_hold_credential(event) and (
                    prepared is None or not _runs_prepared(event, whole, prepared))):
                return event, info
            return self._audit_redact(event, whole, None, info, session, prepared)
        split = self._matcher.match((event.stream, event.pid), audit.statement_id,
                                    audit.command, whole, audit.audit_type,
                                    audit.substatement_id)
        statement = split.statement if split is not None else whole
        info = SqlInfo(
            fingerprint(statement) if self.fingerprints and statement else None,
            redact(whole, mode, prepared) if split is not None else None,
            split.certain if split is not None else None,
        )
        return self._audit_redact(event, statement, split, info, session, prepared)

    def _audit_redact(self, event: AuditEvent, statement: str | None, split: Split | None,
                      info: SqlInfo, session: _Session | None = None,
                      prepared: Prepared | None = None) -> tuple[Event, SqlInfo]:
        """An audit event's statement (``split``'s, if any), parameter, raw message and
        other fields redacted (``prepared``: the session's prepared statements)."""
        audit = event.audit
        whole = audit.statement
        mode = self.redact
        new_statement = redact(statement, mode, prepared)
        if mode != "none" and whole and new_statement != statement:
            self._remember_hidden(event, session, whole, prepared)
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
                    new = redact(value, mode, prepared)
                    if new != value:
                        changes[name] = new
            self._redact_notes(event, changes)
            _hide_application(event, changes)
        return (_replace(event, changes) if changes else event), info


def _runs_prepared(event: Event, sql: str | None, prepared: Prepared) -> bool:
    """Does the event's SQL EXECUTE a prepared statement or call a function ``prepared``
    knows?"""
    if sql and ("execute" in sql.lower() or calls_function(sql, prepared)):
        return True
    return event.statement is not None and calls_function(event.statement, prepared)


@lru_cache(maxsize=256)  # (a session's lines repeat its application name)
def _credential_application(name: str) -> bool:
    """Does an application name hold a credential (a connection string or URI with a
    password, a ``--password=`` option: what a misconfigured client passes as
    ``application_name``)?"""
    return may_hold_credential(name) and credential_value(name)


_AUTHORIZED_APPLICATION = re.compile(
    r"(?P<head>connection authorized: .*? application_name=)(?P<name>.*?)"
    r"(?P<tail> SSL enabled \(.*| GSS \(.*)?\Z", re.DOTALL)


def _hide_application(event: Event, changes: dict[str, object]) -> None:
    """An application name that holds a credential hidden in the event's field and in the
    ``connection authorized:`` message that names it."""
    name = event.application_name
    if name is not None and _credential_application(name):
        changes["application_name"] = REDACTED
    message = changes.get("message", event.message)
    if isinstance(message, str) and message.startswith("connection authorized: "):
        m = _AUTHORIZED_APPLICATION.match(message)
        if m is not None and _credential_application(m.group("name")):
            changes["message"] = m.group("head") + REDACTED + (m.group("tail") or "")


@lru_cache(maxsize=4096)  # (a log repeats its statements)
def _holds_credential(statement: str) -> bool:
    """Does a statement hold, name or take as a parameter a credential (so the value an
    error message quotes may be one)?"""
    return may_hold_credential(statement) and (
        has_credentials(statement) or names_credential(statement)
        or names_credential_key(statement) or bool(password_parameters(statement)))


def _about_credential(event: ErrorEvent) -> bool:
    """Does an error's CONTEXT or QUERY hold or name a credential (``SQL statement
    "SELECT password::int"``, ``PL/pgSQL function set_password(text)``)?"""
    context, query = event.context, event.query
    return context is not None and may_hold_credential(context) and (
        names_credential(context) or has_credentials(context)) or (
        query is not None and _holds_credential(query))


_QUOTED_NAME = re.compile(r'"([^"\n]+)"')


def _hide_quoted(text: str, values: Sequence[str]) -> str:
    """``text`` with every ``"..."`` that quotes one of ``values`` (case aside: the
    server lower-cases names) hidden."""
    if '"' not in text:
        return text
    lows = {v.lower() for v in values}
    return _QUOTED_NAME.sub(lambda q: '"' + REDACTED + '"' if q.group(1).lower() in lows
                            else q.group(0), text)


def _may_hold_credential(event: Event) -> bool:
    """Could ``passwords`` mode change anything in this event? False only when none of its
    texts holds a cue of a credential (:func:`~.redact.may_hold_credential`): then every
    redaction of it (statement, parameters, message, DETAIL, CONTEXT) keeps it as it is.
    (Text found inside the message has no cue when the message has none.)"""
    message = event.message
    if may_hold_credential(message):
        return True
    name = event.application_name
    if name is not None and _credential_application(name):
        return True
    for text in (event.statement, event.query, event.detail, event.context):
        if text is not None and may_hold_credential(text):
            return True
    if isinstance(event, AuditEvent):
        audit = event.audit
        statement = audit.statement
        if statement and statement not in message and may_hold_credential(statement):
            return True
        if audit.parameter:
            return any(value not in message and may_hold_credential(value)
                       for value in audit.parameter)
    elif isinstance(event, DurationEvent) and event.duration_statement is not None:
        return may_hold_credential(event.duration_statement)
    return False
