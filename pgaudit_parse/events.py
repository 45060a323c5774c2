"""Typed, frozen events built from entries.

Kinds: ``audit`` (pgAudit SESSION/OBJECT), ``error`` (ERROR, FATAL, PANIC),
``login_failed`` (an :class:`ErrorEvent` for a failed authentication), ``connection``,
``disconnection``, ``duration`` and ``log`` (everything else).

Which kind a message is, is decided by a table of recognisers (:data:`RECOGNISERS`: message
shape -> builder function), tried in order, the way sqlglot maps tokens to parse functions.
Per-session state (``<previously logged>`` statements, who the session is) lives in
:mod:`pgaudit_parse.sessions`, bounded in bytes (see docs/memory.md).

>>> from pgaudit_parse import parse_lines
>>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:10.1.2.3(5000):bob@shop:[9]:FATAL:  "
...                    'password authentication failed for user "bob"'])
>>> e.kind, e.user, e.client_port
('login_failed', 'bob', 5000)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, TypeVar

import msgspec

from .entries import LogEntry
from .lines import Reject
from .payload import AUDIT_MARKER, AuditFields, PayloadError, parse_audit_payload
from .prefix import LinePrefix
from .sessions import (
    DEFAULT_STATEMENT_CACHE_BYTES,
    Key,
    Session,
    SessionTable,
    ambiguous_neighbours,
    resplit,
)
from .timestamps import TimestampError, TimestampParser, parse_epoch, parse_timestamp

__all__ = [
    "Event",
    "EventKind",
    "EventFields",
    "AuditEvent",
    "ErrorEvent",
    "ConnectionEvent",
    "DisconnectionEvent",
    "DurationEvent",
    "LogEvent",
    "EventBuilder",
    "Recogniser",
    "RECOGNISERS",
    "ERROR_SEVERITIES",
    "DEFAULT_STATEMENT_CACHE_BYTES",
    "event_fields",
    "replace",
]

ERROR_SEVERITIES: Final = frozenset({"ERROR", "FATAL", "PANIC"})
UNKNOWN: Final = "[unknown]"

EventKind = Literal["audit", "error", "login_failed", "connection", "disconnection",
                    "duration", "log"]


class Event(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What every event has; attribute names follow the ``--format events`` JSON keys.

    Events are frozen ``msgspec.Struct``\\ s (C-implemented construction, equality,
    hashing and repr; keyword-only like the dataclasses they were). Use
    :func:`event_fields` and :func:`replace` where ``dataclasses.fields``/``replace``
    were used. ``gc=False``: an event holds only strings, numbers, datetimes and frozen
    pgAudit fields, so it can never be part of a reference cycle.
    """

    kind: EventKind
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


class AuditEvent(Event, frozen=True, kw_only=True, gc=False):
    """A pgAudit line: ``audit`` holds the parsed fields (required: no audit event without).

    ``audit.statement`` and ``audit.parameter`` are resolved when pgAudit wrote
    ``<previously logged>`` and the earlier line of the same session was seen.
    """

    kind: Literal["audit"] = "audit"
    audit: AuditFields


class ErrorEvent(Event, frozen=True, kw_only=True, gc=False):
    """ERROR, FATAL or PANIC; ``kind`` is ``"login_failed"`` for failed authentication."""

    kind: Literal["error", "login_failed"] = "error"


class ConnectionEvent(Event, frozen=True, kw_only=True, gc=False):
    """``connection received`` / ``authenticated`` / ``authorized`` (log_connections)."""

    kind: Literal["connection"] = "connection"


class DisconnectionEvent(Event, frozen=True, kw_only=True, gc=False):
    """``disconnection: session time: ...`` (log_disconnections)."""

    kind: Literal["disconnection"] = "disconnection"
    session_time: str | None = None


class DurationEvent(Event, frozen=True, kw_only=True, gc=False):
    """``duration: N ms`` with the statement it timed, if logged on the same line."""

    kind: Literal["duration"] = "duration"
    duration_ms: float = 0.0
    duration_statement: str | None = None


class LogEvent(Event, frozen=True, kw_only=True, gc=False):
    """Any other message."""

    kind: Literal["log"] = "log"


_S = TypeVar("_S", bound=msgspec.Struct)


def event_fields(cls: type[msgspec.Struct] | msgspec.Struct) -> tuple[str, ...]:
    """The field names of an event class (or event, or :class:`AuditFields`), in order:
    what ``dataclasses.fields`` gave before events became ``msgspec.Struct``\\ s.

    >>> event_fields(LogEvent)[:4]
    ('kind', 'timestamp', 'severity', 'message')
    """
    return cls.__struct_fields__


def replace(obj: _S, /, **changes: Any) -> _S:
    """A copy of an event (or :class:`AuditFields`) with ``changes``: what
    ``dataclasses.replace`` did before events became ``msgspec.Struct``\\ s (in C).

    >>> e = LogEvent(timestamp=None, severity="LOG", message="hi")
    >>> replace(e, message="bye").message, e.message
    ('bye', 'hi')
    """
    return msgspec.structs.replace(obj, **changes)


class EventFields(TypedDict):
    """The keyword arguments every event class takes besides ``kind`` and its own fields
    (what :class:`EventBuilder` reads off an entry before it knows the message's kind)."""

    timestamp: datetime | None
    severity: str
    message: str
    cursor_position: int | None
    user: str | None
    database: str | None
    client_host: str | None
    client_port: int | None
    pid: int | None
    detail: str | None
    hint: str | None
    context: str | None
    statement: str | None
    query: str | None
    location: str | None
    application_name: str | None
    session_id: str | None
    session_line: int | None
    session_start: datetime | None
    command_tag: str | None
    sqlstate: str | None
    backend_type: str | None
    virtual_xid: str | None
    xid: int | None
    leader_pid: int | None
    query_id: int | None
    source: str
    line: int
    stream: str


# -- facts about messages ------------------------------------------------------------------

# At most 308 integer digits: every such value is a finite double. A longer number is no
# duration PostgreSQL wrote (it writes %.3f); the line stays a plain log message.
_DURATION = re.compile(
    r"duration: (?P<ms>\d{1,308}(?:\.\d+)?) ms(?:  (?P<what>statement|(?:execute|parse|bind) [^:]*|"
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
#: stderr (unlike csvlog) appends the error cursor position to the message.
_CURSOR = re.compile(r" at character (\d+)\Z")
_VERBOSE_SQLSTATE = re.compile(r"([0-9A-Z]{5}): ")
#: SQLSTATE classes PostgreSQL defines (errcodes.txt); "AUDIT: " must not look like one.
_SQLSTATE_CLASSES: Final = frozenset(
    "00 01 02 03 08 09 0A 0B 0F 0L 0P 0Z 20 21 22 23 24 25 26 27 28 2B 2D 2F 34 38 39 3B 3D "
    "3F 40 42 44 53 54 55 57 58 72 F0 HV P0 XX".split())
_KEY_VALUES = re.compile(r"(\w+)=(\S*)")
_LOGIN_USER = re.compile(r'(?:for user|role) "((?:[^"]|"")*)"')
_CONNECTION_RECEIVED: Final = "connection received: "
_DISCONNECTION: Final = "disconnection: session time: "


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
#: Prefix escapes the audit fast path reads first; any other one present is read as well.
_USUAL_ESCAPES: Final = frozenset("mtnrhudpc")


def _none_if_unknown(value: str | None) -> str | None:
    return None if value in _UNKNOWN_VALUES else value


def _int_or_none(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


#: PostgreSQL's pids are C ints (``MyProcPid``): a larger number is not a pid, and
#: OCSF's ``process.pid`` (integer_t, Parquet int32) could not carry it.
_MAX_PID: Final = 2**31 - 1


def _pid_or_none(value: str | None) -> int | None:
    """A process id, or None when the text is not one (not a number, or not a C int)."""
    pid = _int_or_none(value)
    return pid if pid is not None and 0 <= pid <= _MAX_PID else None


def _port_or_none(value: str | None) -> int | None:
    """A client's TCP port, or None when the text is not one (not a number, or outside
    0..65535: no TCP port, and no output format could carry it)."""
    port = _int_or_none(value)
    return port if port is not None and 0 <= port <= 65535 else None


@lru_cache(maxsize=4096)
def _split_remote(remote: str | None) -> tuple[str | None, int | None]:
    """``host(port)`` -> (host, port); ``[local]`` -> ("[local]", None)."""
    if not remote:
        return None, None
    if remote.endswith(")") and "(" in remote:
        host, _, port = remote[:-1].rpartition("(")
        return host or None, _port_or_none(port)
    return remote, None


#: What a session's connection/disconnection text says, by escape (``user=`` -> ``u``).
_SAID_KEYS: Final = (("user", "u"), ("database", "d"), ("application_name", "a"),
                     ("host", "h"))


# -- recognisers: message shape -> builder ------------------------------------------------

_Build = Callable[["EventBuilder", LogEntry, EventFields, "re.Match[str] | None"],
                  "Event | None"]


@dataclass(frozen=True, slots=True)
class Recogniser:
    """One message shape and the function that builds its event.

    A message is the recogniser's when its severity is one of ``severities`` (if given),
    it starts with one of ``starts`` (if given) and ``shape`` matches it (if given; the
    match goes to ``build``). ``build`` returns the event, or None after reporting a
    reject.
    """

    name: str
    build: _Build
    severities: frozenset[str] | None = None
    starts: tuple[str, ...] = ()
    shape: re.Pattern[str] | None = None

    def match(self, severity: str, message: str) -> re.Match[str] | bool:
        """A match object or True when the message is this recogniser's, else False."""
        if self.severities is not None and severity not in self.severities:
            return False
        if self.starts and not message.startswith(self.starts):
            return False
        if self.shape is not None:
            return self.shape.match(message) or False
        return True


def _build_audit(b: EventBuilder, entry: LogEntry, common: EventFields,
                 match: re.Match[str] | None) -> Event | None:
    try:
        audit = parse_audit_payload(common["message"][len(AUDIT_MARKER):])
    except PayloadError as exc:
        b.reject(entry, f"torn pgAudit payload: {exc}")
        return None
    key = _key(entry, common)
    sessions = b.sessions
    session = sessions.get(key)
    if session is not None and audit.statement_id < session.last_statement_id:
        # pgAudit numbers a session's statements upwards from 1: a lower id is a new
        # session on a reused pid, whose <previously logged> must not find the old SQL.
        sessions.forget(key)
        session = None
    common, session = b.attribute(entry, common, key, session)
    audit = sessions.resolve(key, session, common["session_id"], audit)
    return AuditEvent(audit=audit, **common)


def _build_error(b: EventBuilder, entry: LogEntry, common: EventFields,
                 match: re.Match[str] | None) -> Event | None:
    key = _key(entry, common)
    severity, message = common["severity"], common["message"]
    if is_login_failure(severity, message, common["sqlstate"]):
        # The message names the role that tried to log in: it settles an ambiguous split.
        named = _LOGIN_USER.search(message)
        user = named.group(1).replace('""', '"') if named else None
        common = b.attribute(entry, common, key, b.sessions.get(key),
                             said={"u": user} if user else None)[0]
        if common["user"] is None:
            common["user"] = user
        return ErrorEvent(kind="login_failed", **common)
    common = b.attribute(entry, common, key, b.sessions.get(key))[0]
    return ErrorEvent(kind="error", **common)


def _build_duration(b: EventBuilder, entry: LogEntry, common: EventFields,
                    match: re.Match[str] | None) -> Event | None:
    assert match is not None
    key = _key(entry, common)
    common = b.attribute(entry, common, key, b.sessions.get(key))[0]
    return DurationEvent(duration_ms=float(match.group("ms")),
                         duration_statement=match.group("sql"), **common)


def _build_connection(b: EventBuilder, entry: LogEntry, common: EventFields,
                      match: re.Match[str] | None) -> Event | None:
    message = common["message"]
    key = _key(entry, common)
    sessions = b.sessions
    said = _said(message)
    received = message.startswith(_CONNECTION_RECEIVED)
    # Every connection line opens a session: a reused pid's earlier SQL is not its own.
    sessions.new_session(key, common["session_id"], keep_known=not received)
    own = sessions.get(key)
    # (what the backend's earlier lines said holds too: the client host of its
    # ``connection received`` on its ``connection authenticated`` line)
    known_said = {**own.said, **said} if own is not None and not received else said
    common = b.attribute(entry, common, key, own, said=known_said, fill=not received)[0]
    merged = _from_message(common, message)
    session = sessions.remember(key, merged["session_id"], said, fresh=received)
    session.known.update(merged["user"], merged["database"], merged["client_host"],
                         merged["client_port"])
    return ConnectionEvent(**merged)


def _build_disconnection(b: EventBuilder, entry: LogEntry, common: EventFields,
                         match: re.Match[str] | None) -> Event | None:
    message = common["message"]
    key = _key(entry, common)
    common = b.attribute(entry, common, key, b.sessions.get(key), said=_said(message))[0]
    session_time = message[len(_DISCONNECTION):].split(" ", 1)[0]
    b.sessions.forget(key)
    return DisconnectionEvent(session_time=session_time, **_from_message(common, message))


def _build_log(b: EventBuilder, entry: LogEntry, common: EventFields,
               match: re.Match[str] | None) -> Event | None:
    key = _key(entry, common)
    return LogEvent(**b.attribute(entry, common, key, b.sessions.get(key))[0])


#: Message shapes, tried in order; the first that claims a message builds its event
#: (a ``duration:`` text that does not fit the shape falls through to ``log``).
RECOGNISERS: Final[tuple[Recogniser, ...]] = (
    Recogniser("pgAudit", _build_audit, starts=(AUDIT_MARKER,)),
    Recogniser("error", _build_error, severities=ERROR_SEVERITIES),
    Recogniser("duration", _build_duration, starts=("duration: ",), shape=_DURATION),
    Recogniser("connection", _build_connection,
               starts=(_CONNECTION_RECEIVED, "connection authorized: ",
                       "connection authenticated: ", "replication connection authorized: ")),
    Recogniser("disconnection", _build_disconnection, starts=(_DISCONNECTION,)),
    Recogniser("log", _build_log),
)


def _key(entry: LogEntry, common: EventFields) -> Key:
    """The session key: (stream, pid), or (stream, %c) when the prefix has no pid."""
    pid = common["pid"]
    return (entry.stream, str(pid if pid is not None else common["session_id"]))


def _said(message: str) -> dict[str, str]:
    """What a connection/disconnection text says of the session, by prefix escape.

    ``connection authenticated: identity="U" method=scram-sha-256`` names the role for
    the password methods (any other method's identity is the external one: a
    certificate's CN, an OS or Kerberos user).

    >>> _said('connection authenticated: identity="al@ice" method=md5 (pg_hba.conf:4)')
    {'u': 'al@ice'}
    >>> _said('connection authenticated: identity="CN=al" method=cert (pg_hba.conf:4)')
    {}
    """
    if message.startswith(_AUTHENTICATED):
        identity, found, rest = message[len(_AUTHENTICATED):].rpartition('" method=')
        method = rest.split(" ", 1)[0]
        return {"u": identity} if found and method in _PASSWORD_METHODS else {}
    values = message_values(message)
    return {escape: values[key] for key, escape in _SAID_KEYS if values.get(key)}


_AUTHENTICATED: Final = 'connection authenticated: identity="'
#: Authentication methods whose identity is the role name (auth.c's set_authn_id).
_PASSWORD_METHODS: Final = frozenset({"password", "md5", "scram-sha-256"})


#: Where ``connection authorized`` puts what follows its names (postinit.c).
_AUTHORIZED_STARTS: Final = ("connection authorized: user=",
                             "replication connection authorized: user=")
_AUTHORIZED_KEYS: Final = ("database", "application_name")
_AUTHORIZED_TAILS: Final = (" SSL enabled (protocol=", " GSS (authenticated=")


def message_values(message: str) -> dict[str, str]:
    """The ``key=value`` pairs of a connection or disconnection text.

    ``connection authorized: user=U database=D application_name=A`` and ``disconnection:
    session time: T user=U database=D host=H port=P`` write each name as it is, spaces
    included, so a value ends where the next key of that message begins; other texts
    (``connection received: host=H port=P``) are read word by word.

    >>> message_values("connection authorized: user=al ice database=sh Zö "
    ...                "application_name=my app")
    {'user': 'al ice', 'database': 'sh Zö', 'application_name': 'my app'}
    >>> message_values("disconnection: session time: 0:00:01.000 user=bob "
    ...                "database=sh op host=::1 port=5000")
    {'user': 'bob', 'database': 'sh op', 'host': '::1', 'port': '5000'}
    >>> message_values("connection received: host=10.0.0.5 port=5000")
    {'host': '10.0.0.5', 'port': '5000'}
    """
    if message.startswith(_AUTHORIZED_STARTS):
        rest = message.split(": user=", 1)[1]
        values: dict[str, str] = {}
        key = "user"
        for following in _AUTHORIZED_KEYS:
            value, found, after = rest.partition(f" {following}=")
            if found:
                values[key], rest, key = value, after, following
        for tail in _AUTHORIZED_TAILS:  # (after the last name: TLS and GSS details)
            rest = rest.partition(tail)[0]
        values[key] = rest
        return values
    if message.startswith(_DISCONNECTION):
        user, found, rest = message.partition(" user=")[2].partition(" database=")
        database, found_host, client = rest.rpartition(" host=")
        if found and found_host:
            host, _, port = client.partition(" port=")
            values = {"user": user, "database": database, "host": host}
            if port:
                values["port"] = port
            return values
    return dict(_KEY_VALUES.findall(message))


def _from_message(common: EventFields, message: str) -> EventFields:
    """Fill user/database/host/port from ``key=value`` text when the prefix lacks them."""
    values = message_values(message)
    merged = common.copy()
    if merged["user"] is None and values.get("user"):
        merged["user"] = values["user"]
    if merged["database"] is None and values.get("database"):
        merged["database"] = values["database"]
    if merged["client_host"] is None and values.get("host"):
        merged["client_host"] = values["host"]
    if merged["client_port"] is None:
        merged["client_port"] = _port_or_none(values.get("port"))
    return merged


class EventBuilder:
    """Turns entries into events through :data:`RECOGNISERS`, with per-session state in a
    :class:`~pgaudit_parse.sessions.SessionTable`: pgAudit statements for ``<previously
    logged>``, and who each session is (for prefixes without ``%u``/``%d``, and to settle
    an ambiguous split such as ``alice@example.com@shop``). The state holds at most
    ``max_backends`` sessions and ``max_state_bytes`` bytes (see docs/memory.md).

    >>> from types import MappingProxyType
    >>> from pgaudit_parse.lines import Line
    >>> b = EventBuilder()
    >>> b.build(LogEntry(MappingProxyType({"p": "7"}), "LOG", "checkpoint starting", (),
    ...                  (Line(""),))).kind
    'log'
    """

    def __init__(self, on_reject: Callable[[Reject], None] | None = None,
                 max_backends: int = 10_000, prefix: LinePrefix | None = None,
                 max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES,
                 timestamps: Callable[[str], datetime] | None = None) -> None:
        self.on_reject = on_reject or (lambda reject: None)
        # Reads %t/%m/%s (a TimestampParser knows the log's zone for CST, IST...).
        self._timestamp = timestamps if timestamps is not None else parse_timestamp
        # Reads %n: in the log's zone when it is known (else UTC, or %t's offset).
        self._epoch_in_zone = isinstance(timestamps, TimestampParser) \
            and timestamps.zone is not None
        self._epoch = timestamps.from_epoch if isinstance(timestamps, TimestampParser) \
            else parse_epoch
        self.sessions = SessionTable(max_state_bytes, max_backends)
        self._neighbours = ambiguous_neighbours(prefix) if prefix is not None else ()

    def use_prefix(self, prefix: LinePrefix) -> None:
        """Read the entries of a new ``log_line_prefix`` (a reload changed it)."""
        self._neighbours = ambiguous_neighbours(prefix)

    @property
    def max_state_bytes(self) -> int:
        """The byte budget of the per-session state."""
        return self.sessions.max_bytes

    @property
    def state_bytes(self) -> int:
        """Bytes the per-session state holds now."""
        return self.sessions.bytes

    @property
    def evicted_statements(self) -> int:
        """Statements dropped to stay within ``max_state_bytes``."""
        return self.sessions.evicted_statements

    @property
    def unresolved_statements(self) -> int:
        """Audit lines that kept ``<previously logged>`` (their statement was unknown)."""
        return self.sessions.unresolved_statements

    def build(self, entry: LogEntry) -> Event | None:
        """The event for one entry, or None (after reporting a reject) if it is torn.

        A one-line ``AUDIT:`` message (93% of a pgAudit log) takes :meth:`_build_audit_line`,
        which builds the event straight from the entry's fields; every other entry, and
        the results that path must equal (property-tested), come from
        :meth:`build_with_table`.
        """
        message = entry.message
        if not entry.secondary and message.startswith(AUDIT_MARKER):
            return self._build_audit_line(entry, message)
        return self.build_with_table(entry)

    def build_with_table(self, entry: LogEntry) -> Event | None:
        """:meth:`build` the reference way: the common fields, then the first recogniser of
        :data:`RECOGNISERS` that claims the message."""
        try:
            common = self._common(entry, entry.fields)
        except TimestampError as exc:
            self.reject(entry, str(exc))
            return None
        severity, message = entry.severity, common["message"]
        for recogniser in RECOGNISERS:
            found = recogniser.match(severity, message)
            if found is not False:
                return recogniser.build(self, entry, common,
                                        found if isinstance(found, re.Match) else None)
        raise AssertionError("the last recogniser takes every message")

    def _build_audit_line(self, entry: LogEntry, message: str) -> Event | None:
        """What ``_common`` + ``_build_audit`` make of a one-line ``AUDIT:`` message, without
        the common-fields dict: values the prefix lacks are not looked up at all (the
        ``AUDIT:`` text cannot carry a verbose SQLSTATE or, without a STATEMENT line, a
        cursor position), and the event is made from keywords in one C call. An ambiguous
        prefix split goes the reference way (nothing is changed before that test)."""
        f = entry.fields
        for _, literal, right in self._neighbours:
            second = f.get(right)
            if second is not None and literal in second:
                return self.build_with_table(entry)
        get = f.get
        rare = not f.keys() <= _USUAL_ESCAPES
        session_start = None
        try:
            timestamp = self._time_of(f)
            if rare:
                start_text = get("s")
                if start_text:
                    session_start = self._timestamp(start_text)
        except TimestampError as exc:
            self.reject(entry, str(exc))
            return None
        try:
            audit = parse_audit_payload(message[7:])  # (len(AUDIT_MARKER))
        except PayloadError as exc:
            self.reject(entry, f"torn pgAudit payload: {exc}")
            return None
        remote = get("r")
        host, port = _split_remote(remote) if remote else (None, None)
        if host is None:
            host = get("h")
            if host in _UNKNOWN_VALUES:
                host = None
        user = get("u")
        if user in _UNKNOWN_VALUES:
            user = None
        database = get("d")
        if database in _UNKNOWN_VALUES:
            database = None
        pid = _pid_or_none(get("p"))
        session_id = get("c") or None
        stream = entry.stream
        key = (stream, str(pid if pid is not None else session_id))

        sessions = self.sessions
        session = sessions.get(key)
        if session is not None:
            if audit.statement_id < session.last_statement_id:
                # a new session on a reused pid (see _build_audit)
                sessions.forget(key)
                session = None
            elif session_id is not None and session.session_id is not None \
                    and session.session_id != session_id:
                sessions.forget(key)  # a new %c: the pid's earlier session ended
                session = None
            elif (user is None or database is None or not remote and (
                    host is None or port is None)) and (
                    pid is not None or session_id is not None):  # (see attribute)
                known = session.known
                if user is None:
                    user = known.user
                if database is None:
                    database = known.database
                if not remote:  # (a line that names its client keeps it: see attribute)
                    if host is None:
                        host = known.client_host
                    if port is None:
                        port = known.client_port
        audit = sessions.resolve(key, session, session_id, audit)
        if not rare:
            return AuditEvent(audit=audit, timestamp=timestamp, severity=entry.severity,
                              message=message, user=user, database=database,
                              client_host=host, client_port=port, pid=pid,
                              session_id=session_id, source=entry.source, line=entry.line,
                              stream=stream)
        application = get("a")
        return AuditEvent(audit=audit, timestamp=timestamp, severity=entry.severity,
                          message=message, user=user, database=database,
                          client_host=host, client_port=port, pid=pid,
                          application_name=None if application in _UNKNOWN_VALUES
                          else application,
                          session_id=session_id, session_line=_int_or_none(get("l")),
                          session_start=session_start, command_tag=get("i") or None,
                          sqlstate=get("e") or None, backend_type=get("b") or None,
                          virtual_xid=get("v") or None, xid=_int_or_none(get("x")),
                          leader_pid=_pid_or_none(get("P")),
                          query_id=_int_or_none(get("Q")), source=entry.source,
                          line=entry.line, stream=stream)

    def attribute(self, entry: LogEntry, common: EventFields, key: Key,
                  session: Session | None, said: Mapping[str, str] | None = None,
                  fill: bool = True) -> tuple[EventFields, Session | None]:
        """``common`` with who the line belongs to settled, and the line's session (if
        kept): a new ``%c`` ends the pid's earlier session; ambiguous prefix splits follow
        what the session's lines ``said``; fields the prefix lacks come from its connection
        lines (``fill``). A line with neither ``%p`` nor ``%c`` names no backend: it takes
        nothing from a session (a checkpoint is not the last connected client's)."""
        if session is not None and common["session_id"] is not None \
                and session.session_id is not None \
                and session.session_id != common["session_id"]:
            self.sessions.forget(key)
            session = None
        # (the session, if any, still goes back to the caller: <previously logged>)
        own = session if common["pid"] is not None or common["session_id"] is not None \
            else None
        fields = entry.fields
        for _, literal, right in self._neighbours:
            second = fields.get(right)
            if second is not None and literal in second:  # (rare: checked inline)
                known_said = said if said is not None else (
                    own.said if own is not None else {})
                resplit_fields = resplit(fields, self._neighbours, known_said)
                if resplit_fields is not fields:
                    common = self._common(entry, resplit_fields)
                break
        # A line whose %r names its client keeps it: ``[local]`` has no port, and a port
        # the session's lines said belongs to an earlier session on the same pid.
        client = not fields.get("r")
        if fill and own is not None and (
                common["user"] is None or common["database"] is None
                or client and (common["client_host"] is None
                               or common["client_port"] is None)):
            known = own.known
            if common["user"] is None:
                common["user"] = known.user
            if common["database"] is None:
                common["database"] = known.database
            if client:
                if common["client_host"] is None:
                    common["client_host"] = known.client_host
                if common["client_port"] is None:
                    common["client_port"] = known.client_port
        return common, session

    def reject(self, entry: LogEntry, reason: str) -> None:
        """Report an entry that cannot be an event."""
        raw = "\n".join(line.text for line in entry.lines)
        self.on_reject(Reject(entry.source, entry.line, reason, raw))

    def _time_of(self, f: Mapping[str, str]) -> datetime | None:
        """The entry's time: ``%m``, else ``%n``, else ``%t`` (raises TimestampError).

        ``%n`` is the message's time to the millisecond (the csvlog's, as ``%m``), where
        ``%t`` is a whole second read from a clock of its own; ``%n`` is written in the
        log's zone (``--timezone``) or else in the offset ``%t`` was written in (else UTC).
        """
        if "m" in f:
            return self._timestamp(f["m"])
        if "n" in f:
            moment = self._epoch(f["n"])
            if "t" in f and not self._epoch_in_zone:
                stamp = self._timestamp(f["t"])
                return moment.astimezone(stamp.tzinfo)
            return moment
        if "t" in f:
            return self._timestamp(f["t"])
        return None

    def _common(self, entry: LogEntry, f: Mapping[str, str]) -> EventFields:
        # The hottest function of the parser: fields absent from the prefix cost one
        # dict lookup each, and an entry without secondary lines skips their search.
        get = f.get
        timestamp = self._time_of(f)
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
            "pid": _pid_or_none(pid),
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
            "leader_pid": _pid_or_none(get("P")),
            "query_id": _int_or_none(get("Q")),
            "source": entry.source,
            "line": entry.line,
            "stream": entry.stream,
        }


if TYPE_CHECKING:  # the builders fit the table's type
    _BUILDERS: tuple[_Build, ...] = (_build_audit, _build_error, _build_duration,
                                     _build_connection, _build_disconnection, _build_log)
