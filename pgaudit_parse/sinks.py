"""Sinks: events -> JSON lines (Guardium records, events, OCSF or ECS), rejects -> dead-letter
lines.

>>> import io
>>> from pgaudit_parse import parse_lines
>>> out = io.StringIO()
>>> sink = OutputSink(out, fmt="events")
>>> for e in parse_lines(["2026-11-25 16:05:01 UTC::@:[77]:LOG:  hi"]):
...     sink.write(e)
>>> json.loads(out.getvalue())["message"]
'hi'
"""

from __future__ import annotations

import base64
import errno
import gzip
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Set
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import IO, Any, Final, Protocol, TypeGuard

from .events import (
    AuditEvent,
    ConnectionEvent,
    DisconnectionEvent,
    DurationEvent,
    ErrorEvent,
    Event,
    LogEvent,
)
from .formats.ecs import to_ecs
from .formats.executions import logged_statement
from .formats.guardium import DEFAULT_HELD_BYTES
from .formats.ocsf import to_ocsf
from .formats.record_template import RecordWriter
from .jsonenc import dumps, fast_dumps, integer, last_text, number, orjson_safe_float, string
from .lines import Reject, stream_name
from .sql.redact import redact_raw
from .sql.stage import NO_INFO, SqlInfo, SqlStage

__all__ = ["FORMATS", "default_redact", "EVENTS_SCHEMA_VERSION", "event_to_json",
           "add_sql_keys", "reject_to_json", "Sink", "HoldingSink", "holds_records",
           "EventSink", "OutputSink", "ListSink", "QueueSink", "encode_record_body",
           "decode_record_body", "MAX_QUEUE_BODY_BYTES"]

#: SQS's limit for one message body (1 MiB since 2025; a queue's MaximumMessageSize may
#: be lower: :class:`QueueSink` takes the queue's limit).
MAX_QUEUE_BODY_BYTES: Final = 1024 * 1024


class Sink(Protocol):
    """Where the pump writes: ``write`` outputs, ``reject`` dead letters, ``flush`` (with
    ``durable``: only return once what was written survives a crash; the pump
    acknowledges input after it), ``close``. ``written``/``rejected``/``skipped`` count."""

    @property
    def written(self) -> int: ...

    @property
    def rejected(self) -> int: ...

    @property
    def skipped(self) -> int: ...

    def write(self, item: Any, instance: str | None = None) -> None: ...

    def reject(self, reject: Reject) -> None: ...

    def flush(self, durable: bool = False) -> None: ...

    def close(self) -> None: ...

FORMATS: Final = ("records", "events", "ocsf", "ecs")
#: ``schema_version`` of the ``--format events`` objects (events.schema.json); a renamed
#: or removed key is a new major version, an added key a new minor one.
EVENTS_SCHEMA_VERSION: Final = "1.0.0"


def default_redact(fmt: str) -> str:
    """The ``--redact`` mode of a format when none is given: ``none`` for events (a
    faithful parse), ``passwords`` for the outputs that go to security tools (records,
    OCSF, OCSF Parquet, ECS: they never carry a password unless asked).

    >>> default_redact("events"), default_redact("ocsf")
    ('none', 'passwords')
    """
    return "none" if fmt == "events" else "passwords"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_to_json(event: Event) -> dict[str, Any]:
    """The ``--format events`` object of an event (DESIGN.md's keys, plus a few more).

    >>> from pgaudit_parse import parse_lines
    >>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  hi"])
    >>> d = event_to_json(e); d["timestamp"], d["client_host"], d["client_port"]
    ('2026-11-25T16:05:01+00:00', '[local]', None)
    """
    out: dict[str, Any] = {
        "kind": event.kind,
        "timestamp": _iso(event.timestamp),
        "severity": event.severity,
        "user": event.user,
        "database": event.database,
        "client_host": event.client_host,
        "client_port": event.client_port,
        "pid": event.pid,
        "message": event.message,
        "detail": event.detail,
        "hint": event.hint,
        "context": event.context,
        "statement": event.statement,
    }
    out["schema_version"] = EVENTS_SCHEMA_VERSION
    if isinstance(event, AuditEvent):
        out["audit"] = event.audit.as_dict()
    out.update(
        query=event.query,
        location=event.location,
        application_name=event.application_name,
        session_id=event.session_id,
        session_line=event.session_line,
        session_start=_iso(event.session_start),
        command_tag=event.command_tag,
        sqlstate=event.sqlstate,
        backend_type=event.backend_type,
        virtual_xid=event.virtual_xid,
        xid=event.xid,
        leader_pid=event.leader_pid,
        query_id=event.query_id,
        cursor_position=event.cursor_position,
        source=event.source,
        line=event.line,
        stream=stream_name(event.stream) or None,  # (the name, not the group's key)
    )
    if isinstance(event, DurationEvent):
        out["duration_ms"] = event.duration_ms
        out["duration_statement"] = event.duration_statement
    if isinstance(event, DisconnectionEvent):
        out["session_time"] = event.session_time
    return out


# -- the events template -------------------------------------------------------------------
# ``--format events`` lines written without their dicts: the keys (in event_to_json's
# order) are text made once per event class, and each value is rendered by the function the
# stdlib encoder uses for its type (jsonenc), so a line is byte for byte
# ``_dumps(add_sql_keys(event_to_json(event), info))`` (tests/test_output_text.py proves it
# on generated events). A value whose type is not the declared one goes to the stdlib: an
# int field holding something else through ``_json``, anything else by the TypeError or
# AttributeError that makes :func:`event_line` fall back to the dicts.

#: What a value is rendered as, by kind: ``{v}`` is the attribute's expression.
_VALUE_CODE: Final = {
    "str": "_s({v})",
    "str?": '("null" if (v := {v}) is None else _s(v))',
    # a stream's name (not its key: :func:`~pgaudit_parse.lines.stream_key`), or null for
    # none (event_to_json's ``x or None``)
    "stream": '(_s(v) if (v := {v}) and (v := _stream_name(v)) else "null")',
    "int": "(_i(v) if (v := {v}).__class__ is int else _json(v))",
    "int?": '("null" if (v := {v}) is None else _i(v) if v.__class__ is int else _json(v))',
    "bool?": '("null" if (v := {v}) is None else "true" if v is True else "false" '
             'if v is False else _json(v))',
    "float": "_f({v})",
    # (``iso``: the caller's isoformat, :func:`last_isoformat` in the sinks)
    "time?": '("null" if (v := {v}) is None else _s({iso}(v)))',
    "stime?": '("null" if (v := {v}) is None else _s({iso}(v)))',
    "strs?": '("null" if (v := {v}) is None else "[" + ",".join(map(_s, v)) + "]")',
}
_HEAD: Final = (("kind", "e.kind", "str"), ("timestamp", "e.timestamp", "time?"),
                ("severity", "e.severity", "str"), ("user", "e.user", "str?"),
                ("database", "e.database", "str?"), ("client_host", "e.client_host", "str?"),
                ("client_port", "e.client_port", "int?"), ("pid", "e.pid", "int?"),
                ("message", "e.message", "str"), ("detail", "e.detail", "str?"),
                ("hint", "e.hint", "str?"), ("context", "e.context", "str?"),
                ("statement", "e.statement", "str?"),
                ("schema_version", string(EVENTS_SCHEMA_VERSION), "json"))
_AUDIT: Final = (("audit_type", "(a := e.audit).audit_type", "str"),
                 ("statement_id", "a.statement_id", "int"),
                 ("substatement_id", "a.substatement_id", "int"),
                 ("class", "a.class_", "str?"), ("command", "a.command", "str?"),
                 ("object_type", "a.object_type", "str?"),
                 ("object_name", "a.object_name", "str?"),
                 ("statement", "a.statement", "str?"), ("parameter", "a.parameter", "strs?"),
                 ("rows", "a.rows", "int?"), ("statement_full", "i.statement_full", "str?"),
                 ("split_certain", "i.split_certain", "bool?"))
_TAIL: Final = (("query", "e.query", "str?"), ("location", "e.location", "str?"),
                ("application_name", "e.application_name", "str?"),
                ("session_id", "e.session_id", "str?"),
                ("session_line", "e.session_line", "int?"),
                ("session_start", "e.session_start", "stime?"),
                ("command_tag", "e.command_tag", "str?"), ("sqlstate", "e.sqlstate", "str?"),
                ("backend_type", "e.backend_type", "str?"),
                ("virtual_xid", "e.virtual_xid", "str?"), ("xid", "e.xid", "int?"),
                ("leader_pid", "e.leader_pid", "int?"), ("query_id", "e.query_id", "int?"),
                ("cursor_position", "e.cursor_position", "int?"),
                ("source", "e.source", "str"), ("line", "e.line", "int"),
                ("stream", "e.stream", "stream"))
#: The keys of each event class after ``stream`` (before ``fingerprint``).
_OWN: Final[dict[type[Event], tuple[tuple[str, str, str], ...]]] = {
    DurationEvent: (("duration_ms", "e.duration_ms", "float"),
                    ("duration_statement", "e.duration_statement", "str?")),
    DisconnectionEvent: (("session_time", "e.session_time", "str?"),),
}
_FINGERPRINT: Final = (("fingerprint", "i.fingerprint", "str?"),)


def _object_code(fields: tuple[tuple[str, str, str], ...]) -> str:
    """f-string source (in ``f'...'``) of a JSON object's members (kind ``json``: the
    value is constant JSON text)."""
    out: list[str] = []
    for n, (key, value, kind) in enumerate(fields):
        literal = ("," if n else "") + string(key) + ":" + (value if kind == "json" else "")
        out.append(literal.replace("{", "{{").replace("}", "}}").replace("'", "\\'"))
        if kind != "json":
            out.append("{" + _VALUE_CODE[kind].format(
                v=value, iso="t" if kind == "time?" else "st") + "}")
    return "".join(out)


#: An event template: (event, SQL info, isoformat of ``timestamp``, of ``session_start``).
EventTemplate = Callable[[Event, SqlInfo, Callable[[datetime], str], Callable[[datetime], str]],
                         str]


def _event_template(cls: type[Event]) -> EventTemplate:
    """The function that writes one ``cls`` event's line (and its newline)."""
    body = _object_code(_HEAD)
    if issubclass(cls, AuditEvent):
        body += ',"audit":{{' + _object_code(_AUDIT) + "}}"
    body += "," + _object_code(_TAIL + _OWN.get(cls, ()) + _FINGERPRINT)
    source = f"def line(e, i, t, st):\n    return f'{{{{{body}}}}}\\n'\n"
    namespace: dict[str, Any] = {"_s": string, "_i": integer, "_f": number, "_json": _dumps,
                                 "_stream_name": stream_name}
    exec(source, namespace)  # noqa: S102 - source made above from constants only
    line: EventTemplate = namespace["line"]
    return line


def last_isoformat() -> Callable[[datetime], str]:
    """``datetime.isoformat`` that keeps the last datetime's text (1.4 us saved per line;
    see :func:`~pgaudit_parse.jsonenc.last_text`).

    >>> iso = last_isoformat(); stamp = datetime(2026, 11, 25, 16, 5, 1)
    >>> iso(stamp), iso(stamp) is iso(stamp)
    ('2026-11-25T16:05:01', True)
    """
    # (an AttributeError for a non-datetime, as datetime.isoformat gave before)
    return last_text(_isoformat_of)


def _isoformat_of(value: datetime) -> str:
    return value.isoformat()


_isoformat: Final = datetime.isoformat


def event_line(event: Event, info: SqlInfo = NO_INFO,
               timestamp_iso: Callable[[datetime], str] = _isoformat,
               session_start_iso: Callable[[datetime], str] = _isoformat) -> str:
    """``_dumps(add_sql_keys(event_to_json(event), info)) + "\\n"``, from the template of
    the event's class (the dicts for classes without one, and for values of other types
    than declared).

    >>> from pgaudit_parse import parse_lines
    >>> [e] = parse_lines(["2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:LOG:  hi"])
    >>> event_line(e) == _dumps(add_sql_keys(event_to_json(e), NO_INFO)) + "\\n"
    True
    """
    template = _EVENT_TEMPLATES.get(event.__class__)
    if template is not None:
        try:
            return template(event, info, timestamp_iso, session_start_iso)
        except (TypeError, AttributeError):
            pass
    return _dumps(add_sql_keys(event_to_json(event), info)) + "\n"


def ocsf_line(rendered: dict[str, Any]) -> str:
    """An OCSF object's line: orjson's text, which is the stdlib's for it (an OCSF object
    holds no float; tests/test_output_text.py checks it on generated events)."""
    return fast_dumps(rendered) + "\n"


def ecs_line(event: Event, rendered: dict[str, Any]) -> str:
    """An ECS document's line: orjson's text where it is the stdlib's (its one float,
    ``pgaudit_parse.log.duration_ms``, is a duration's; others go to the stdlib)."""
    if isinstance(event, DurationEvent) and not orjson_safe_float(event.duration_ms):
        return _dumps(rendered) + "\n"
    return fast_dumps(rendered) + "\n"


def add_sql_keys(out: dict[str, Any], info: SqlInfo) -> dict[str, Any]:
    """The SQL stage's keys: ``fingerprint``; ``audit.statement_full`` and
    ``audit.split_certain`` (the whole multi-statement string, and whether the line's
    ``audit.statement`` is surely its statement; null when the line is one statement)."""
    out["fingerprint"] = info.fingerprint
    audit = out.get("audit")
    if audit is not None:
        audit["statement_full"] = info.statement_full
        audit["split_certain"] = info.split_certain
    return out


def reject_to_json(reject: Reject, redact_mode: str = "none") -> dict[str, Any]:
    """The dead-letter object: ``file`` (and ``source``), ``line``, ``reason``, ``raw``;
    ``raw`` redacted in ``redact_mode`` as the output's SQL is (a line that did not parse
    may still hold a password or, for ``literals``, constants).

    >>> reject_to_json(Reject("f", 1, "bad", "alter role a password 'x"), "passwords")["raw"]
    'alter role a password <REDACTED>'
    """
    out = {"file": reject.source, **reject.as_dict()}
    if redact_mode != "none":
        out["raw"] = redact_raw(reject.raw, redact_mode)
    return out


#: Compact JSON with non-ASCII kept, byte for byte what json.dumps writes.
_dumps: Final = dumps
_EVENT_TEMPLATES: Final[dict[type[Event], EventTemplate]] = {
    cls: _event_template(cls) for cls in (
    AuditEvent, ErrorEvent, ConnectionEvent, DisconnectionEvent, DurationEvent, LogEvent)}


def _copy_file(path: str, stream: IO[str]) -> None:
    """Append a UTF-8 file to a text stream (bytes straight to its buffer when it has one)."""
    if os.path.getsize(path) == 0:
        return
    buffer = getattr(stream, "buffer", None)
    encoding = str(getattr(stream, "encoding", "") or "").lower().replace("-", "")
    with open(path, "rb") as f:
        if buffer is not None and encoding == "utf8":
            stream.flush()
            shutil.copyfileobj(f, buffer, 1 << 20)
            buffer.flush()
        else:
            with io.TextIOWrapper(f, encoding="utf-8") as text:
                shutil.copyfileobj(text, stream, 1 << 20)


class HoldingSink(Sink, Protocol):
    """A sink that can keep records waiting across acknowledgements: the lines of one
    statement execution (pgAudit's lines, then its ``duration:`` line) may come in two
    batches (two SQS receives, two CloudWatch slices), and file mode makes one record of
    them. The pump flushes it within ``keeping_held()`` and the source keeps the input of
    ``held_sources()`` un-acknowledged, so a crash loses nothing;
    ``release_held(stale, busy)`` writes the records of the sessions holding a source kept
    long enough."""

    def held_sources(self) -> set[str]: ...

    def oldest_held_line(self) -> int | None: ...

    def release_held(self, stale: Callable[[str], bool], busy: Set[str] = frozenset()
                     ) -> None: ...

    def keeping_held(self) -> AbstractContextManager[None]: ...

    def forget_held(self) -> None: ...


def holds_records(sink: object) -> TypeGuard[HoldingSink]:
    """Is ``sink`` a :class:`HoldingSink`? (By its methods: a protocol checked at run
    time is not compiled by mypyc.)

    >>> holds_records(OutputSink(io.StringIO())), holds_records(ListSink())
    (True, False)
    """
    return all(callable(getattr(sink, name, None)) for name in _HOLDING)


_HOLDING: Final = ("held_sources", "oldest_held_line", "release_held", "keeping_held",
                    "forget_held")


class EventSink(Sink, Protocol):
    """What file mode writes events through (:class:`OutputSink`, and the Parquet sink of
    :mod:`pgaudit_parse.parquet`): a pump :class:`Sink` that also says how it renders."""

    fmt: str
    account_id: str | None
    instance: str | None
    errors: IO[str] | None
    written: int
    skipped: int
    rejected: int
    @property
    def released_early(self) -> int:
        """Records written before the other lines of their execution came, to stay
        within the state bounds (docs/memory.md); 0 for sinks that hold nothing."""

    def write(self, event: Event, instance: str | None = None) -> None: ...
    def reject(self, reject: Reject) -> None: ...
    def oldest_held_line(self) -> int | None: ...
    def flush(self, durable: bool = False) -> None: ...
    def close(self) -> None: ...


class OutputSink:
    """Writes one JSON object per line; rejects go to the dead-letter stream (if any).

    ``fmt`` is ``"records"`` (Guardium records, one per statement execution: a record waits
    for the other lines of its execution, within bounds, or until :meth:`flush`; events
    without a record are skipped and counted in ``skipped``), ``"events"``, ``"ocsf"``
    (OCSF 1.1.0; events OCSF has no class for are counted in ``skipped``) or ``"ecs"``.
    ``values`` chooses the records' values (``connector``, the default, or ``postgres``;
    see :data:`~pgaudit_parse.formats.guardium.RECORD_VALUES`).
    """

    def __init__(self, out: IO[str], errors: IO[str] | None = None, fmt: str = "records",
                 account_id: str | None = None, instance: str | None = None,
                 owned: tuple[IO[str], ...] = (), values: str = "connector", *,
                 held_bytes: int = DEFAULT_HELD_BYTES, redact: str | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        # The SQL stage: records, OCSF and ECS (security outputs) never carry a password by
        # default; events stay as logged.
        self.redact = redact or default_redact(fmt)
        # (a Guardium record carries neither a fingerprint nor an audit line's raw message;
        # OCSF and ECS carry the raw message, so it is written again redacted)
        # A record never carries a password, whatever --redact says: the record builder
        # hides what one statement shows, and the stage what a session shows (an EXECUTE
        # of a statement PREPAREd with a password place, a RAISE message that echoes one).
        self._sql = SqlStage("passwords" if fmt == "records" and self.redact == "none"
                             else self.redact, fingerprints=fmt == "events",
                             audit_messages=fmt != "records")
        self.out = out
        self.errors = errors
        self.fmt = fmt
        self.account_id = account_id
        self.instance = instance
        self.written = 0
        self.skipped = 0
        self.rejected = 0
        self._owned = owned
        self.values = values
        self.held_bytes = held_bytes
        self._timestamp_iso = last_isoformat()
        self._session_start_iso = last_isoformat()
        # (the stage hides every password of a record's statement: the writer need not look
        # again)
        self._records = RecordWriter(account_id, instance, values=values,
                                     max_held_bytes=held_bytes, redacted=True)
        self._keeping = False  # see keeping_held

    @property
    def released_early(self) -> int:
        """Audit records written before their duration line to stay within
        ``held_bytes`` (see docs/memory.md)."""
        return self._records.released_early

    def write(self, event: Event, instance: str | None = None) -> None:
        """Render and write one event (``instance`` overrides the sink's, per stream)."""
        event, sql_info = self._sql.apply(event)
        fmt = self.fmt
        if fmt == "events":
            self.out.write(event_line(event, sql_info, self._timestamp_iso,
                                      self._session_start_iso))
            self.written += 1
            return
        if fmt == "ocsf":
            rendered = to_ocsf(event, self.account_id, instance or self.instance)
            if rendered is None:
                self.skipped += 1
                return
            self.out.write(ocsf_line(rendered))
            self.written += 1
            return
        if fmt == "ecs":
            self.out.write(ecs_line(event, to_ecs(event, self.account_id,
                                                   instance or self.instance)))
            self.written += 1
            return
        records = self._records.add_lines(event, instance)
        if not records:
            if not isinstance(event, (AuditEvent, DurationEvent)) \
                    and logged_statement(event) is None:
                self.skipped += 1
            return
        self._write_records(records)

    def _write_records(self, records: list[str]) -> None:
        """Write JSON lines of records (each ends with its newline)."""
        self.out.write(records[0] if len(records) == 1 else "".join(records))
        self.written += len(records)

    def write_rendered(self, out_path: str, errors_path: str | None = None) -> None:
        """Append lines rendered elsewhere with this sink's settings (``--jobs`` workers)
        to the output and dead-letter streams, as they are. Counting them is the caller's
        business (the workers return their counts)."""
        held = self._records.flush_lines()  # records held from before come first
        if held:
            self._write_records(held)
        _copy_file(out_path, self.out)
        if self.errors is not None and errors_path is not None:
            _copy_file(errors_path, self.errors)

    def memory_from(self) -> int | None:
        """The earliest input line of what the SQL stage remembers to redact what follows
        (see :meth:`~pgaudit_parse.sql.stage.SqlStage.memory_from`)."""
        return self._sql.memory_from()

    def oldest_held_line(self) -> int | None:
        """The input line of the oldest event whose record waits for its duration line."""
        return self._records.oldest_held_line()

    def held_sources(self) -> set[str]:
        """The sources (``queue#message-id``, file...) of lines whose records are held: an
        acknowledging source that keeps these un-acknowledged, instead of calling
        :meth:`flush` at every acknowledgement, writes the same records as file mode."""
        return self._records.held_sources()

    def release_held(self, stale: Callable[[str], bool], busy: Set[str] = frozenset()
                     ) -> None:
        """Write the held records of every session holding a line of a source for which
        ``stale`` is true (kept un-acknowledged long enough: see :class:`HoldingSink`),
        except sessions of the ``busy`` streams (the parser still holds lines of them,
        which may complete the record)."""
        held = self._records.release_held_lines(stale, busy)
        if held:
            self._write_records(held)

    def forget_held(self) -> None:
        """Drop the held records unwritten: their input was not acknowledged, and is read
        again (a stopped ``rds-logs`` run whose checkpoint is before them)."""
        self._records.forget_held()

    def reject(self, reject: Reject) -> None:
        """Count a reject (the input lines it stands for) and write it to the dead-letter
        stream."""
        self.rejected += reject.lines  # a run of empty lines is one reject of many lines
        if self.errors is not None:
            self.errors.write(_dumps(reject_to_json(reject, self.redact)) + "\n")

    @contextmanager
    def keeping_held(self) -> Iterator[None]:
        """Within the block, :meth:`flush` keeps the records that wait for more lines of
        their execution (the caller keeps their input un-acknowledged:
        :meth:`held_sources`)."""
        self._keeping = True
        try:
            yield
        finally:
            self._keeping = False

    def push(self) -> None:
        """Flush both streams, keeping held records (a live input went quiet: what is
        complete is written, a record waiting for its execution's other lines waits on)."""
        for stream in (self.out, self.errors):
            if stream is not None:
                stream.flush()

    def flush(self, durable: bool = False) -> None:
        """Write held records (unless :meth:`keeping_held`), flush both streams; with
        ``durable``, also fsync real files (call it before acknowledging input)."""
        if not self._keeping:
            held = self._records.flush_lines()
            if held:
                self._write_records(held)
        for stream in (self.out, self.errors):
            if stream is None:
                continue
            stream.flush()
            if durable:
                fsync_if_possible(stream)

    def close(self) -> None:
        """Flush, then close the streams handed over as ``owned`` (never stdout)."""
        self.flush()
        for stream in self._owned:
            stream.close()


#: fsync's answers for a stream that cannot be synced (a pipe, a terminal, /dev/null).
_NOT_SYNCABLE = frozenset({errno.EINVAL, errno.EROFS, errno.ENOTSUP, errno.EOPNOTSUPP})


def fsync_if_possible(stream: IO[str]) -> None:
    """fsync the file under ``stream``; a stream without one (StringIO), or one that
    cannot be synced (pipe, terminal), is flushed and that is all there is. Any other
    failure (EIO, ENOSPC...) is raised: the write is not durable, so the input must not be
    acknowledged.

    >>> import io
    >>> fsync_if_possible(io.StringIO())
    """
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return  # no file under it (io.UnsupportedOperation is both)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NOT_SYNCABLE:
            raise


class ListSink:
    """Keeps what is written in memory (tests, and the summary's event counting).

    ``on_write`` (if given) sees each item instead of the list keeping it.
    """

    def __init__(self, on_write: Callable[[Any], None] | None = None,
                 on_reject: Callable[[Reject], None] | None = None) -> None:
        self.items: list[Any] = []
        self.rejects: list[Reject] = []
        self.written = 0
        self.rejected = 0
        self.skipped = 0
        self._on_write = on_write
        self._on_reject = on_reject

    def write(self, item: Any, instance: str | None = None) -> None:
        self.written += 1
        if self._on_write is not None:
            self._on_write(item)
        else:
            self.items.append(item)

    def reject(self, reject: Reject) -> None:
        self.rejected += 1
        if self._on_reject is not None:
            self._on_reject(reject)
        else:
            self.rejects.append(reject)

    def flush(self, durable: bool = False) -> None:
        return None

    def close(self) -> None:
        return None


#: Characters SQS refuses in a body (InvalidMessageContents): outside #x9 | #xA | #xD |
#: #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF (U+FFFE, U+FFFF, lone surrogates...).
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sqs_text(line: str) -> str:
    """A JSON line with every character SQS refuses written as a JSON ``\\uXXXX`` escape
    (the same JSON value; outside strings JSON text is ASCII).

    >>> print(sqs_text('{"s":"a' + chr(0xFFFF) + chr(0xD800) + 'é"}'))
    {"s":"a\\uffff\\ud800é"}
    """
    if line.isascii():
        return line
    return _NOT_SQS_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def encode_record_body(line: str, limit: int = MAX_QUEUE_BODY_BYTES) -> list[str]:
    """SQS bodies for one JSON line (a record or an event), each within ``limit`` bytes.

    A line that fits is its own body. A larger one is compressed:
    ``{"v":1,"encoding":"gzip+base64","data":...}``; one still too large is split into
    ``{"v":1,"id":SHA256,"part":i,"parts":n,"encoding":"gzip+base64","data":slice}``
    bodies (join the slices of one id in part order, then base64-decode and gunzip).
    Pure: computed before anything is sent, so a body that cannot go out never leaves
    the records before it sent and itself unsent.

    >>> encode_record_body('{"a":1}')
    ['{"a":1}']
    >>> big = json.dumps({"s": os.urandom(300_000).hex()})
    >>> bodies = encode_record_body(big, 256 * 1024)  # a queue's MaximumMessageSize
    >>> len(bodies) > 1 and all(len(b) <= 256 * 1024 for b in bodies)
    True
    >>> decode_record_body(bodies) == json.loads(big)
    True
    """
    line = sqs_text(line)
    if len(line.encode("utf-8")) <= limit:
        return [line]
    data = base64.b64encode(gzip.compress(line.encode("utf-8"), 9, mtime=0)).decode("ascii")
    whole = '{"v":1,"encoding":"gzip+base64","data":"' + data + '"}'
    if len(whole) <= limit:
        return [whole]
    ident = hashlib.sha256(line.encode("utf-8")).hexdigest()
    room = limit - 200
    slices = [data[i:i + room] for i in range(0, len(data), room)]
    return [json.dumps({"v": 1, "id": ident, "part": i, "parts": len(slices),
                        "encoding": "gzip+base64", "data": part}, separators=(",", ":"))
            for i, part in enumerate(slices)]


def decode_record_body(bodies: str | list[str]) -> Any:
    """The record (or event) of :func:`encode_record_body`'s body, or of all its parts."""
    items = [bodies] if isinstance(bodies, str) else list(bodies)
    first = json.loads(items[0])
    if not (isinstance(first, dict) and first.get("encoding") == "gzip+base64"
            and first.get("v") == 1):
        return first
    if "parts" in first:
        parts = sorted((json.loads(b) for b in items), key=lambda p: p["part"])
        data = "".join(p["data"] for p in parts)
    else:
        data = first["data"]
    return json.loads(gzip.decompress(base64.b64decode(data)))


class QueueSink:
    """Records or events as SQS messages (``subscription_handler``'s ``RECORDS_QUEUE``).

    Rendering is :class:`OutputSink`'s (the same :class:`RecordBuilder`: one record per
    execution, passwords redacted); each JSON line becomes a body by
    :func:`encode_record_body`. ``flush(durable=True)`` hands every body to ``send`` (which
    returns once SQS has accepted all of them, e.g. ``BatchSender``); without ``durable``
    nothing is sent. Rejects go to ``errors`` (another sink) or are counted.
    """

    def __init__(self, send: Callable[[list[str]], None], fmt: str = "records",
                 account_id: str | None = None, instance: str | None = None,
                 errors: IO[str] | None = None, limit: int = MAX_QUEUE_BODY_BYTES,
                 redact: str | None = None) -> None:
        self._buffer = io.StringIO()
        self._render = OutputSink(self._buffer, errors, fmt, account_id, instance,
                                  redact=redact)
        self._send = send
        self._limit = limit
        self.sent = 0

    @property
    def written(self) -> int:
        return self._render.written

    @property
    def rejected(self) -> int:
        return self._render.rejected

    @property
    def skipped(self) -> int:
        return self._render.skipped

    def write(self, item: Any, instance: str | None = None) -> None:
        self._render.write(item, instance)

    def reject(self, reject: Reject) -> None:
        self._render.reject(reject)

    def bodies(self) -> list[str]:
        """Render what is held (records waiting for a duration line included) into
        bodies, and forget it; nothing is sent."""
        self._render.flush()
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        out: list[str] = []
        for line in text.split("\n"):
            if line:
                out.extend(encode_record_body(line, self._limit))
        return out

    def flush(self, durable: bool = False) -> None:
        if not durable:
            return
        bodies = self.bodies()
        if bodies:
            self._send(bodies)
            self.sent += len(bodies)

    def close(self) -> None:
        self.flush(durable=True)
