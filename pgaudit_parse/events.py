"""Typed, frozen events built from entries.

Kinds: ``audit`` (pgAudit SESSION/OBJECT), ``error`` (ERROR, FATAL, PANIC),
``login_failed`` (an :class:`ErrorEvent` for a failed authentication), ``connection``,
``disconnection``, ``duration`` and ``log`` (everything else).

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.1.2.3(5000):bob@shop:[9]:FATAL:  "
...                    'password authentication failed for user "bob"'])
>>> e.kind, e.user, e.client_port
('login_failed', 'bob', 5000)
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Final

from .entries import LogEntry
from .lines import Reject
from .payload import (
    AUDIT_MARKER,
    PREVIOUSLY_LOGGED,
    AuditFields,
    PayloadError,
    parse_audit_payload,
)
from .timestamps import TimestampError, parse_epoch, parse_timestamp

__all__ = [
    "Event",
    "AuditEvent",
    "ErrorEvent",
    "ConnectionEvent",
    "DisconnectionEvent",
    "DurationEvent",
    "LogEvent",
    "EventBuilder",
    "ERROR_SEVERITIES",
]

ERROR_SEVERITIES: Final = frozenset({"ERROR", "FATAL", "PANIC"})
UNKNOWN: Final = "[unknown]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event has; attribute names follow the ``--format events`` JSON keys."""

    kind: str
    timestamp: datetime | None
    severity: str
    message: str
    user: str | None = None
    database: str | None = None
    client_host: str | None = None
    client_port: int | None = None
    pid: int | None = None
    detail: str | None = None
    hint: str | None = None
    context: str | None = None
    statement: str | None = None
    query: str | None = None
    location: str | None = None
    application_name: str | None = None
    session_id: str | None = None
    session_line: int | None = None
    session_start: datetime | None = None
    command_tag: str | None = None
    sqlstate: str | None = None
    backend_type: str | None = None
    virtual_xid: str | None = None
    xid: int | None = None
    leader_pid: int | None = None
    query_id: int | None = None
    cursor_position: int | None = None
    source: str = "<lines>"
    line: int = 0
    stream: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent(Event):
    """A pgAudit line: ``audit`` holds the parsed fields.

    ``audit.statement`` and ``audit.parameter`` are resolved when pgAudit wrote
    ``<previously logged>`` and the earlier line of the same backend was seen.
    """

    kind: str = "audit"
    audit: AuditFields = field(default=None)  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(Event):
    """ERROR, FATAL or PANIC; ``kind`` is ``"login_failed"`` for failed authentication."""

    kind: str = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionEvent(Event):
    """``connection received`` / ``authenticated`` / ``authorized`` (log_connections)."""

    kind: str = "connection"


@dataclass(frozen=True, slots=True, kw_only=True)
class DisconnectionEvent(Event):
    """``disconnection: session time: ...`` (log_disconnections)."""

    kind: str = "disconnection"
    session_time: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DurationEvent(Event):
    """``duration: N ms`` with the statement it timed, if logged on the same line."""

    kind: str = "duration"
    duration_ms: float = 0.0
    duration_statement: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEvent(Event):
    """Any other message."""

    kind: str = "log"


def _fast_init(cls: type[Event]) -> None:
    """Give an event class an ``__init__`` that fills its slots through their descriptors
    instead of the ``object.__setattr__`` call per field a frozen dataclass's ``__init__``
    makes: same signature, defaults and result, in about half the time (the parser builds
    one 31-field event per log message; see bench/PROFILE.md).
    """
    names = [f.name for f in fields(cls)]
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
    body = "".join(f"    _s_{n}(self, {n})\n" for n in names)
    namespace: dict[str, object] = {f"_d_{n}": v for n, v in defaults.items()}
    namespace.update({f"_s_{n}": getattr(cls, n).__set__ for n in names})
    exec(f"def __init__(self, *, {params}):\n{body}", namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[method-assign]


for _event_class in (AuditEvent, ErrorEvent, ConnectionEvent, DisconnectionEvent,
                     DurationEvent, LogEvent):
    _fast_init(_event_class)


# -- recognising messages ----------------------------------------------------------------

_DURATION = re.compile(
    r"duration: (?P<ms>\d+(?:\.\d+)?) ms(?:  (?P<what>statement|(?:execute|parse|bind) [^:]*|"
    r"fastpath function call|plan): ?(?P<sql>.*))?\Z",
    re.DOTALL,
)
_LOGIN_FAILED = re.compile(
    r"(?:\w+ )?authentication failed for user |no pg_hba\.conf entry for |"
    r"pg_hba\.conf rejects connection for |role \".*\" does not exist\Z|"
    r"role \".*\" is not permitted to log in\Z|password authentication failed",
    re.DOTALL,
)
_LOGIN_SQLSTATES: Final = frozenset({"28000", "28P01"})
#: Statement/sub-statement texts remembered per backend for ``<previously logged>``.
_STATEMENTS_PER_BACKEND: Final = 256
_Logged = tuple[str | None, list[str] | None]
_PREVIOUSLY_LOGGED_LIST: Final = [PREVIOUSLY_LOGGED]  # compared with, never changed
#: stderr (unlike csvlog) appends the error cursor position to the message.
_CURSOR = re.compile(r" at character (\d+)\Z")
#: Filled from a backend's connection lines when the prefix does not carry them.
_SESSION_FIELDS: Final = ("user", "database", "client_host", "client_port")
_VERBOSE_SQLSTATE = re.compile(r"([0-9A-Z]{5}): ")
#: SQLSTATE classes PostgreSQL defines (errcodes.txt); "AUDIT: " must not look like one.
_SQLSTATE_CLASSES: Final = frozenset(
    "00 01 02 03 08 09 0A 0B 0F 0L 0P 0Z 20 21 22 23 24 25 26 27 28 2B 2D 2F 34 38 39 3B 3D "
    "3F 40 42 44 53 54 55 57 58 72 F0 HV P0 XX".split())
_KEY_VALUES = re.compile(r"(\w+)=(\S*)")
_LOGIN_USER = re.compile(r'(?:for user|role) "((?:[^"]|"")*)"')


def is_login_failure(severity: str, message: str, sqlstate: str | None) -> bool:
    """True for a FATAL that refuses a connection (bad password, no pg_hba entry...).

    >>> is_login_failure("FATAL", 'password authentication failed for user "x"', None)
    True
    >>> is_login_failure("ERROR", 'role "x" does not exist', None)
    False
    """
    if severity != "FATAL":
        return False
    if sqlstate is not None:
        return sqlstate in _LOGIN_SQLSTATES
    return _LOGIN_FAILED.match(message) is not None


_UNKNOWN_VALUES: Final = frozenset({None, "", UNKNOWN})


def _none_if_unknown(value: str | None) -> str | None:
    return None if value in _UNKNOWN_VALUES else value


def _int_or_none(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _split_remote(remote: str | None) -> tuple[str | None, int | None]:
    """``host(port)`` -> (host, port); ``[local]`` -> ("[local]", None)."""
    if not remote:
        return None, None
    if remote.endswith(")") and "(" in remote:
        host, _, port = remote[:-1].rpartition("(")
        return host or None, _int_or_none(port)
    return remote, None


class EventBuilder:
    """Turns entries into events, keeping per-backend state: pgAudit statements for
    ``<previously logged>``, and, when the prefix lacks them, the user, database and client
    named by the backend's connection lines. Bounded: at most ``max_backends`` backends.

    >>> from pgaudit_parse.entries import LogEntry
    >>> from pgaudit_parse.lines import Line
    >>> b = EventBuilder()
    >>> b.build(LogEntry({"p": "7"}, "LOG", "checkpoint starting", (), (Line(""),))).kind
    'log'
    """

    def __init__(self, on_reject: Callable[[Reject], None] | None = None,
                 max_backends: int = 10_000,
                 timestamps: Callable[[str], datetime] | None = None) -> None:
        self.on_reject = on_reject or (lambda reject: None)
        # Reads %t/%m/%s (a TimestampParser knows the log's zone for CST, IST...).
        self._timestamp = timestamps if timestamps is not None else parse_timestamp
        self.max_backends = max_backends
        # (stream, pid) -> ((statement_id, substatement_id) -> (statement, parameter))
        self._statements: OrderedDict[tuple[str, str], OrderedDict[tuple[int, int], _Logged]]
        self._statements = OrderedDict()
        # (stream, pid) -> user/database/client of the backend, from its connection lines
        self._sessions: OrderedDict[tuple[str, str], dict[str, object]] = OrderedDict()

    def build(self, entry: LogEntry) -> Event | None:
        """The event for one entry, or None (after reporting a reject) if it is torn."""
        try:
            common = self._common(entry)
        except TimestampError as exc:
            self._reject(entry, str(exc))
            return None
        if self._sessions and (common["user"] is None or common["database"] is None
                               or common["client_host"] is None
                               or common["client_port"] is None) \
                and not entry.message.startswith("connection received: "):
            # (a new backend: what was known of an earlier one with its pid is not its)
            self._fill_session(entry, common)
        message = common["message"]
        assert isinstance(message, str)
        severity = entry.severity
        if message.startswith(AUDIT_MARKER):
            try:
                audit = parse_audit_payload(message[len(AUDIT_MARKER):])
            except PayloadError as exc:
                self._reject(entry, f"torn pgAudit payload: {exc}")
                return None
            audit = self._resolve(entry, common, audit)
            return AuditEvent(audit=audit, **common)
        if severity in ERROR_SEVERITIES:
            if is_login_failure(severity, message, common["sqlstate"]):
                if common["user"] is None:
                    named = _LOGIN_USER.search(message)
                    common["user"] = named.group(1).replace('""', '"') if named else None
                return ErrorEvent(kind="login_failed", **common)
            return ErrorEvent(kind="error", **common)
        if message.startswith("duration: "):
            match = _DURATION.match(message)
            if match:
                return DurationEvent(duration_ms=float(match.group("ms")),
                                     duration_statement=match.group("sql"), **common)
        if message.startswith(("connection received: ", "connection authorized: ",
                               "connection authenticated: ",
                               "replication connection authorized: ")):
            merged = self._from_message(common, message)
            self._remember_session(entry, merged)
            return ConnectionEvent(**merged)
        if message.startswith("disconnection: session time: "):
            session_time = message[len("disconnection: session time: "):].split(" ", 1)[0]
            self._forget(entry, common)
            return DisconnectionEvent(session_time=session_time,
                                      **self._from_message(common, message))
        return LogEvent(**common)

    def _remember_session(self, entry: LogEntry, values: dict[str, object]) -> None:
        """Keep who a backend is (from its connection lines) for prefixes that lack it."""
        key = self._backend(entry, values)
        known = self._sessions.pop(key, {})
        if entry.message.startswith("connection received: "):
            known = {}  # a new backend (pids are reused)
        for name in _SESSION_FIELDS:
            if values[name] is not None:
                known[name] = values[name]
        self._sessions[key] = known
        while len(self._sessions) > self.max_backends:
            self._sessions.popitem(last=False)

    def _fill_session(self, entry: LogEntry, common: dict[str, object]) -> None:
        known = self._sessions.get(self._backend(entry, common))
        if known:
            for name, value in known.items():
                if common[name] is None:
                    common[name] = value

    # -- helpers ---------------------------------------------------------------------

    def _common(self, entry: LogEntry) -> dict[str, object]:
        # The hottest function of the parser: fields absent from the prefix cost one
        # dict lookup each, and an entry without secondary lines skips their search.
        f = entry.fields
        get = f.get
        if "m" in f:
            timestamp: datetime | None = self._timestamp(f["m"])
        elif "t" in f:
            timestamp = self._timestamp(f["t"])
        elif "n" in f:
            timestamp = parse_epoch(f["n"])
        else:
            timestamp = None
        remote = get("r")
        host, port = _split_remote(remote) if remote else (None, None)
        if host is None:
            host = _none_if_unknown(get("h"))
        session_start = get("s")
        message = entry.message
        sqlstate = get("e") or None
        # log_error_verbosity=verbose puts the SQLSTATE before the message text.
        if message[5:7] == ": ":
            verbose = _VERBOSE_SQLSTATE.match(message)
            if verbose and verbose.group(1)[:2] in _SQLSTATE_CLASSES:
                sqlstate = sqlstate or verbose.group(1)
                message = message[verbose.end():]
        cursor = None
        if entry.secondary:
            lookup = entry.get
            detail, hint, context = lookup("DETAIL"), lookup("HINT"), lookup("CONTEXT")
            statement, query, location = lookup("STATEMENT"), lookup("QUERY"), lookup("LOCATION")
            if " at character " in message and (statement is not None or query is not None):
                # Only a message with a query can carry a cursor position.
                found = _CURSOR.search(message)
                if found:
                    message = message[: found.start()]
                    cursor = int(found.group(1))
        else:
            detail = hint = context = statement = query = location = None
        user = get("u")
        database = get("d")
        pid = get("p")
        application = get("a")
        return {
            "timestamp": timestamp,
            "severity": entry.severity,
            "message": message,
            "cursor_position": cursor,
            "user": None if user in _UNKNOWN_VALUES else user,
            "database": None if database in _UNKNOWN_VALUES else database,
            "client_host": host,
            "client_port": port,
            "pid": _int_or_none(pid) if pid is not None else None,
            "detail": detail,
            "hint": hint,
            "context": context,
            "statement": statement,
            "query": query,
            "location": location,
            "application_name": None if application in _UNKNOWN_VALUES else application,
            "session_id": get("c") or None,
            "session_line": _int_or_none(get("l")),
            "session_start": self._timestamp(session_start) if session_start else None,
            "command_tag": get("i") or None,
            "sqlstate": sqlstate,
            "backend_type": get("b") or None,
            "virtual_xid": get("v") or None,
            "xid": _int_or_none(get("x")),
            "leader_pid": _int_or_none(get("P")),
            "query_id": _int_or_none(get("Q")),
            "source": entry.source,
            "line": entry.line,
            "stream": entry.stream,
        }

    @staticmethod
    def _from_message(common: dict[str, object], message: str) -> dict[str, object]:
        """Fill user/database/host/port from ``key=value`` text when the prefix lacks them."""
        values = dict(_KEY_VALUES.findall(message))
        merged = dict(common)
        for key, name in (("user", "user"), ("database", "database"), ("host", "client_host")):
            if merged[name] is None and values.get(key):
                merged[name] = values[key]
        if merged["client_port"] is None and values.get("port", "").isdigit():
            merged["client_port"] = int(values["port"])
        return merged

    def _backend(self, entry: LogEntry, common: dict[str, object]) -> tuple[str, str]:
        return (entry.stream, str(common["pid"] if common["pid"] is not None
                                  else common["session_id"]))

    def _resolve(self, entry: LogEntry, common: dict[str, object],
                 audit: AuditFields) -> AuditFields:
        key = self._backend(entry, common)
        ids = (audit.statement_id, audit.substatement_id)
        statements = self._statements
        known = statements.get(key)
        statement, parameter = audit.statement, audit.parameter
        if statement == PREVIOUSLY_LOGGED or parameter == _PREVIOUSLY_LOGGED_LIST:
            earlier = known.get(ids) if known is not None else None
            if earlier is None:
                return audit  # the earlier line is not in this input: keep the marker
            if statement == PREVIOUSLY_LOGGED:
                statement = earlier[0]
            if parameter == _PREVIOUSLY_LOGGED_LIST:
                parameter = earlier[1]
            return AuditFields(audit.audit_type, audit.statement_id, audit.substatement_id,
                               audit.class_, audit.command, audit.object_type,
                               audit.object_name, statement, parameter, audit.rows)
        if known is None:
            known = statements[key] = OrderedDict()
            while len(statements) > self.max_backends:
                statements.popitem(last=False)
        else:
            statements.move_to_end(key)
        if ids in known:
            known.move_to_end(ids)
        known[ids] = (statement, parameter)
        if len(known) > _STATEMENTS_PER_BACKEND:
            known.popitem(last=False)
        return audit

    def _forget(self, entry: LogEntry, common: dict[str, object]) -> None:
        key = self._backend(entry, common)
        self._statements.pop(key, None)
        self._sessions.pop(key, None)

    def _reject(self, entry: LogEntry, reason: str) -> None:
        raw = "\n".join(line.text for line in entry.lines)
        self.on_reject(Reject(entry.source, entry.line, reason, raw))
