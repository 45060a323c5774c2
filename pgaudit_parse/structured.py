"""PostgreSQL's structured logs, csvlog and jsonlog, read into entries.

A csvlog record or a jsonlog line is one whole message with every field in its own
column or key, so no prefix grammar and no assembly are needed: each becomes one
:class:`~pgaudit_parse.entries.LogEntry` shaped exactly like the entry the stderr line of
the same message would give (prefix fields under their escape letters, DETAIL / HINT /
QUERY / CONTEXT / STATEMENT / LOCATION as secondary parts, `` at character N`` appended
to the message as stderr appends it, the session line number counted the way stderr's
``%l`` counts), so the same :class:`~pgaudit_parse.events.EventBuilder`
turns it into the same event.

csvlog columns (PostgreSQL's documentation, "Using CSV-Format Log Output"): 23 up to
PostgreSQL 12; 24 in 13 (``backend_type``); 26 from 14 to 18 (``leader_pid``,
``query_id``). jsonlog keys (15 to 18, "Using JSON-Format Log Output"): ``timestamp``,
``user``, ``dbname``, ``pid``, ``remote_host``, ``remote_port``, ``session_id``,
``line_num``, ``ps``, ``session_start``, ``vxid``, ``txid``, ``error_severity``,
``state_code``, ``message``, ``detail``, ``detail_log``, ``hint``, ``internal_query``,
``internal_position``, ``context``, ``statement``, ``cursor_position``, ``func_name``,
``file_name``, ``file_line_num``, ``application_name``, ``backend_type``, ``leader_pid``,
``query_id``; a key whose value is empty is left out (``state_code`` too when it is
``00000``).

>>> row = ('2026-11-25 16:05:01.120 UTC,"alice","shop",42,"10.0.0.5:50012",6565f1a2.2a,3,'
...        '"SELECT",2026-11-25 16:05:00 UTC,3/7,0,LOG,00000,"AUDIT: SESSION,1,1,READ,SELECT,'
...        ',,select 1,<none>",,,,,,,,,"psql","client backend",,0')
>>> [entry] = csvlog_entries(io.StringIO(row + "\\n"), "pg.csv")
>>> entry.fields["u"], entry.fields["r"], entry.severity, entry.message[:12]
('alice', '10.0.0.5(50012)', 'LOG', 'AUDIT: SESSI')
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import re
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Final, Literal, cast

from .entries import LogEntry
from .lines import Line, Reject, split_message, without_surrogates
from .sources import (
    _CHUNK,
    DEFAULT_MAX_LINE_BYTES,
    InputError,
    PauseFailed,
    Pauses,
    Replayed,
    _open_bytes,
    _open_text,
    crlf_lines,
    read_bytes,
    would_wait_of,
)

__all__ = ["StructuredKind", "sniff_structured", "csvlog_entries", "jsonlog_entries",
           "CSVLOG_COLUMNS", "JSONLOG_KEYS", "read_structured", "structured_kind",
           "starts_csvlog_record", "CsvlogRecords", "CSVLOG_START", "StderrLineNumbers"]

StructuredKind = Literal["csvlog", "jsonlog"]

#: csvlog columns in order; PostgreSQL 13 stops after ``backend_type``, 12 before it.
CSVLOG_COLUMNS: Final = (
    "log_time", "user_name", "database_name", "process_id", "connection_from",
    "session_id", "session_line_num", "command_tag", "session_start_time",
    "virtual_transaction_id", "transaction_id", "error_severity", "sql_state_code",
    "message", "detail", "hint", "internal_query", "internal_query_pos", "context",
    "query", "query_pos", "location", "application_name", "backend_type", "leader_pid",
    "query_id",
)
#: Column counts of the versions: <=12, 13, 14-18.
_CSV_WIDTHS: Final = frozenset({23, 24, 26})
JSONLOG_KEYS: Final = frozenset({
    "timestamp", "user", "dbname", "pid", "remote_host", "remote_port", "session_id",
    "line_num", "ps", "session_start", "vxid", "txid", "error_severity", "state_code",
    "message", "detail", "detail_log", "hint", "internal_query", "internal_position",
    "context", "statement", "cursor_position", "func_name", "file_name", "file_line_num",
    "application_name", "backend_type", "leader_pid", "query_id",
})
_SEVERITIES: Final = frozenset({"DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5", "DEBUG",
                                "INFO", "NOTICE", "WARNING", "ERROR", "LOG", "FATAL",
                                "PANIC"})
#: The csv module refuses fields over 128 KB by default; a statement in a csvlog can be
#: far longer (PostgreSQL logs up to 1 GB), so the limit is raised (it is process-wide).
_FIELD_LIMIT: Final = 1 << 30


def _allow_long_fields() -> None:
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)


#: A csvlog record starts with log_time: ``YYYY-MM-DD HH:MM:SS.mmm ZONE,``.
_CSV_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [^ ,\n]*,")


def sniff_structured(head: str) -> StructuredKind | None:
    """``"csvlog"``, ``"jsonlog"`` or None, from the first characters of an input.

    >>> sniff_structured('{"timestamp":"2026-11-25 16:05:01.120 UTC","pid":7,'
    ...                  '"error_severity":"LOG","message":"hi"}\\n')
    'jsonlog'
    >>> sniff_structured("2026-11-25 16:05:01 UTC::@:[7]:LOG:  hi\\n") is None
    True
    """
    text = head.lstrip("\ufeff")
    if text.startswith("{"):
        first = text.split("\n", 1)[0]
        return "jsonlog" if _jsonlog_object(first) else None
    lines = text.split("\n", 2)
    if len(lines) == 3 and lines[1].startswith("{") and _jsonlog_object(lines[1]):
        return "jsonlog"  # the first line is the end of a line cut off from its start
    if _csv_width(text) is not None or _records_start(text) is not None:
        return "csvlog"
    return None


#: ``\xNN`` beginning an escape: JSON has no such escape, so it is a byte that was not
#: UTF-8, as the reader decoded it (backslashreplace): PostgreSQL's jsonlog writes the
#: bytes a SQL_ASCII database logs raw inside its JSON strings.
_RAW_BYTE = re.compile(r"(?<!\\)((?:\\\\)*)\\(x[0-9a-f]{2})")


def _json_loads(text: str) -> Any:
    r"""``json.loads``, reading a raw byte inside a JSON string (``\xff`` in the decoded
    text) as the text ``\xff``, as the stderr log and the csvlog give it (docs/input.md).

    >>> _json_loads('{"m": "bad \\xff, kept \\\\x41"}')
    {'m': 'bad \\xff, kept \\x41'}
    """
    try:
        return json.loads(text)
    except ValueError:
        if "\\x" not in text:
            raise
        return json.loads(_RAW_BYTE.sub(r"\1\\\\\2", text))


def _jsonlog_object(line: str) -> bool:
    return _as_jsonlog(line) is not None


def _as_jsonlog(line: str) -> dict[str, Any] | None:
    """The object of a jsonlog line, or None when the line is not one."""
    try:
        obj = _json_loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and {"timestamp", "error_severity", "message"} <= set(obj) \
            and set(obj) <= JSONLOG_KEYS:
        return obj
    return None


def _csv_width(text: str, start: int = 0) -> int | None:
    """The column count of the csvlog record that starts at ``start`` of ``text``, or None
    if none does. (Lines are handed to the reader one by one: no copy of the rest.)"""
    if not _CSV_START.match(text, start):
        return None
    _allow_long_fields()
    try:
        record = next(csv.reader(_lines_from(text, start), strict=True))
    except (csv.Error, StopIteration):
        return None
    if len(record) in _CSV_WIDTHS and record[11] in _SEVERITIES:
        return len(record)
    return None


def _lines_from(text: str, start: int) -> Iterator[str]:
    """The lines of ``text`` from ``start`` on, LF kept."""
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


#: How many physical lines the end of a record cut off at the start of an input (a
#: rotated or copied file, ``tail``, a byte range) may span before the first whole record.
_CUT_MAX_LINES: Final = 1000
#: csvlog columns that hold integers (or nothing).
_CSV_NUMBERS: Final = frozenset({"process_id", "session_line_num", "transaction_id",
                                 "internal_query_pos", "query_pos", "leader_pid", "query_id"})
_INTEGER: Final = re.compile(r"-?\d*\Z")


def _is_record_tail(tail: str, width: int) -> bool:
    """Is ``tail`` the end of a csvlog record of ``width`` columns whose start was cut off?

    Cut inside a quoted field, the text holds an odd number of quotes and reads as one
    record from inside that field; cut outside quotes, it is one line. Its fields must be
    the record's last columns: no more of them, numbers where the columns hold numbers,
    the severity where it is one (the first field may be cut anywhere: not checked).
    """
    inside = tail.count('"') % 2 == 1
    if not inside and "\n" in tail:
        return False
    _allow_long_fields()
    try:
        rows = list(csv.reader(io.StringIO('"' + tail if inside else tail), strict=True))
    except csv.Error:
        return False
    if len(rows) != 1 or not 1 <= len(rows[0]) <= width:
        return False
    fields = rows[0]
    columns = CSVLOG_COLUMNS[width - len(fields):width]
    for column, value in list(zip(columns, fields, strict=True))[1:]:
        if column in _CSV_NUMBERS and not _INTEGER.match(value):
            return False
        if column == "error_severity" and value not in _SEVERITIES:
            return False
    return True


def _records_start(text: str) -> int | None:
    """Where the first whole csvlog record starts in ``text`` when ``text`` starts inside a
    record (its end, cut off from its start), or None."""
    if _CSV_START.match(text):
        return None
    start = 0
    for _ in range(_CUT_MAX_LINES):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
        if not _CSV_START.match(text, start):
            continue
        width = _csv_width(text, start)
        if width is not None and _is_record_tail(text[:start - 1], width):
            return start
    return None


def _remote(host: str | None, port: str | None) -> str | None:
    """The ``%r`` text of a client: ``host(port)``, ``[local]``, or None."""
    if not host:
        return None
    return f"{host}({port})" if port else host


def _split_connection(value: str) -> tuple[str | None, str | None]:
    """csvlog ``connection_from``: ``host:port`` (IPv6 too), ``[local]`` or empty."""
    if not value:
        return None, None
    if value == "[local]":
        return value, None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return value, None
    return host, port


def _location(func: str | None, file: str | None, line: str | None) -> str | None:
    """stderr's LOCATION text: ``func, file:line`` (or ``file:line``)."""
    if not file:
        return None
    where = f"{file}:{line}"
    return f"{func}, {where}" if func else where


def _entry(fields: dict[str, str], severity: str, message: str, cursor: str | None,
           internal_cursor: str | None, secondary: list[tuple[str, str | None]],
           raw: str, source: str, number: int, lines: StderrLineNumbers) -> LogEntry:
    # stderr appends the cursor position to the message text; the event builder takes it
    # back off (and keeps N), so the csvlog/jsonlog event is the stderr event.
    position = cursor if cursor and cursor != "0" else internal_cursor
    if position and position != "0":
        message = f"{message} at character {position}"
    parts = tuple((label, text) for label, text in secondary if text is not None)
    _put(fields, "l", lines.number(fields.get("c"), fields.get("l"), len(parts)))
    return LogEntry(fields, severity, message, parts, (Line(raw, source, number),))


class StderrLineNumbers:
    """stderr's ``%l`` numbers every prefixed line of a session, DETAIL / HINT / QUERY /
    CONTEXT / LOCATION / STATEMENT lines included; csvlog's and jsonlog's line number
    counts messages. The stderr number of a message is its csvlog number plus the
    secondary lines of the session's earlier messages, counted from the start of the
    input. One object serves every file of a run (rotated files given together: a
    session the rotation cut in two goes on counting in the next file); a session that
    began in a file not given is numbered as if it began in the first one given.
    Bounded: the oldest sessions are forgotten beyond ``limit``.

    >>> numbers = StderrLineNumbers()
    >>> numbers.number("s1", "1", 2), numbers.number("s1", "2", 0), numbers.number("s1", "3", 0)
    ('1', '4', '5')
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._extra: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def number(self, session: str | None, line: str | None, secondary: int) -> str | None:
        if not session or not line or not line.isdigit():
            return line
        extra = self._extra.pop(session, 0)
        self._extra[session] = extra + secondary
        if len(self._extra) > self._limit:
            self._extra.popitem(last=False)
        return str(int(line) + extra)


#: A SQLSTATE as ``%e`` reads it: five digits or upper-case letters.
_SQLSTATE: Final = re.compile(r"[0-9A-Z]{5}\Z")


def _put(fields: dict[str, str], escape: str, value: str | None) -> None:
    # a column the prefix grammar would have checked: an SQLSTATE that is not one is
    # left out, as a prefix line without %e
    if value and (escape != "e" or _SQLSTATE.match(value)):
        fields[escape] = value


def csvlog_entries(stream: Iterable[str], source: str,
                   on_reject: Callable[[Reject], None] | None = None,
                   numbers: StderrLineNumbers | None = None) -> Iterator[LogEntry]:
    """One entry per csvlog record (quoted fields may hold newlines, CRs, commas).

    A record with the wrong number of columns, or a file that ends inside a quoted
    field, is a :class:`~pgaudit_parse.lines.Reject` with the raw text. ``numbers``:
    the session line numbering shared with the run's other files (a new one by default).
    """
    report = on_reject or (lambda reject: None)
    physical: list[str] = []
    position = [0]
    source_lines: Iterator[str] = iter(stream)
    head: list[str] = []
    for text in source_lines:  # an input that starts inside a record: its end is a reject
        head.append(text)
        if len(head) == 1 and _CSV_START.match(text):
            break
        if len(head) > _CUT_MAX_LINES:
            break
    whole = "".join(head)
    cut = _records_start(whole) if len(head) > 1 else None
    if cut is not None:
        tail = whole[:cut].count("\n")
        report(Reject(source, 1, f"csvlog record cut short: the input starts inside a record "
                                 f"({tail} line(s))", whole[:cut - 1], lines=tail))
        head = head[tail:]
        position[0] = tail
    source_lines = itertools.chain(head, source_lines)

    def lines() -> Iterator[str]:
        for text in source_lines:
            position[0] += 1
            physical.append(text)
            yield text

    _allow_long_fields()
    reader = csv.reader(lines(), strict=True)
    numbers = numbers if numbers is not None else StderrLineNumbers()
    start = position[0] + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw = "".join(physical).rstrip("\n")
            report(Reject(source, start, f"bad csvlog record: {exc}", raw,
                          lines=max(1, len(physical))))
            physical.clear()
            start = position[0] + 1
            continue
        raw = "".join(physical)
        count = len(physical)
        physical.clear()
        number, start = start, position[0] + 1
        if raw.endswith("\n"):
            raw = raw[:-1]
        if len(record) not in _CSV_WIDTHS or record[11] not in _SEVERITIES:
            report(Reject(source, number, f"not a csvlog record ({len(record)} columns)", raw,
                          lines=count))
            continue
        values = dict(zip(CSVLOG_COLUMNS, record, strict=False))
        yield _csv_entry(values, raw, source, number, numbers)


def _csv_entry(v: dict[str, str], raw: str, source: str, number: int,
               numbers: StderrLineNumbers) -> LogEntry:
    fields: dict[str, str] = {"m": v["log_time"], "p": v["process_id"]}
    _put(fields, "u", v["user_name"])
    _put(fields, "d", v["database_name"])
    host, port = _split_connection(v["connection_from"])
    _put(fields, "r", _remote(host, port))
    _put(fields, "c", v["session_id"])
    _put(fields, "l", v["session_line_num"])
    _put(fields, "i", v["command_tag"])
    _put(fields, "s", v["session_start_time"])
    _put(fields, "v", v["virtual_transaction_id"])
    _put(fields, "x", v["transaction_id"])
    _put(fields, "e", v["sql_state_code"])
    _put(fields, "a", v["application_name"])
    _put(fields, "b", v.get("backend_type"))
    _put(fields, "P", v.get("leader_pid"))
    _put(fields, "Q", v.get("query_id"))
    secondary = [("DETAIL", v["detail"] or None), ("HINT", v["hint"] or None),
                 ("QUERY", v["internal_query"] or None), ("CONTEXT", v["context"] or None),
                 ("LOCATION", v["location"] or None), ("STATEMENT", v["query"] or None)]
    return _entry(fields, v["error_severity"], v["message"], v["query_pos"],
                  v["internal_query_pos"], secondary, raw, source, number, numbers)


def starts_csvlog_record(text: str) -> bool:
    """Could this physical line start a csvlog record? (``log_time`` always has
    milliseconds: the slice test keeps this cheap on every line of a plain log.)

    >>> starts_csvlog_record('2026-11-25 16:05:01.120 UTC,"alice","shop",42,')
    True
    >>> starts_csvlog_record("2026-11-25 16:05:01.120 UTC [42] LOG:  hi")
    False
    """
    return text[19:20] == "." and _CSV_START.match(text) is not None


#: A line that starts a csvlog record, after its LF, for scanners of raw bytes
#: (``--jobs``; a leading LF keeps the scan fast).
CSVLOG_START: Final = re.compile(rb"\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [^ ,\n]*,")
#: How many physical lines one csvlog record among plain lines may span.
_OPEN_MAX_LINES: Final = 100_000


class CsvlogRecords:
    """csvlog records (and jsonlog lines) met among the lines of a plain log: a file that
    mixes stderr and csvlog lines (two logs joined with ``cat``), or csvlog records in
    CloudWatch events, where one record may span several events. A record is complete at
    the end of the line where its quotes balance (csv doubles a quote inside a field); its lines are
    held per ``Line.stream`` until then. A complete record that is not a csvlog record,
    or one that never completes, is one reject with its lines.

    >>> records = CsvlogRecords(print)
    >>> records.begin(Line('2026-11-25 16:05:01.120 UTC,"alice","shop",42,,6565f1a2.2a,3,,'
    ...                    '2026-11-25 16:05:00 UTC,3/7,0,LOG,00000,"two', "f", 1))
    []
    >>> [e.message for e in records.add(Line('lines",,,,,,,,,"psql","client backend",,0',
    ...                                      "f", 2))]
    ['two\\nlines']
    """

    def __init__(self, on_reject: Callable[[Reject], None]) -> None:
        self._report = on_reject
        #: Lines of each stream's record still open (its quotes do not balance yet).
        self.open: dict[str, list[Line]] = {}
        self._quotes: dict[str, int] = {}
        self._numbers = StderrLineNumbers()

    def begin(self, line: Line) -> list[LogEntry] | None:
        """Take a line the prefix did not read: None when it does not start a csvlog
        record (nor is a jsonlog line); else the entry it completes (or none yet)."""
        if line.text[:2] == '{"':
            return self._jsonlog(line)
        if not starts_csvlog_record(line.text):
            return None
        quotes = line.text.count('"')
        if quotes % 2 == 0:
            entry = self._entry([line])
            return None if entry is None else [entry]
        self.open[line.stream] = [line]
        self._quotes[line.stream] = quotes
        return []

    def add(self, line: Line) -> list[LogEntry]:
        """Take the next line of a stream whose record is open."""
        stream = line.stream
        held = self.open[stream]
        held.append(line)
        quotes = self._quotes[stream] + line.text.count('"')
        self._quotes[stream] = quotes
        if quotes % 2 == 1:
            if len(held) >= _OPEN_MAX_LINES:
                self._give_up(stream, f"csvlog record not closed after {len(held)} lines")
            return []
        del self.open[stream], self._quotes[stream]
        entry = self._entry(held)
        return [] if entry is None else [entry]

    def _jsonlog(self, line: Line) -> list[LogEntry] | None:
        """A jsonlog line (jsonlog in CloudWatch events) is one whole message."""
        obj = _as_jsonlog(line.text)
        if obj is None or not isinstance(obj["message"], str) \
                or obj["error_severity"] not in _SEVERITIES \
                or not isinstance(obj["timestamp"], str):
            return None
        entry = _json_entry(obj, line.text, line.source, line.number, self._numbers)
        return [LogEntry(entry.fields, entry.severity, entry.message, entry.secondary,
                         (line,))]

    def flush(self) -> None:
        """End of input: each record still open is a reject."""
        for stream in list(self.open):
            self._give_up(stream, "csvlog record cut short (the input ends inside it)")

    def release(self, stale: Callable[[Line], bool]) -> None:
        """Give up the open records holding a ``stale`` line (a source that must move on:
        their other lines did not come): each is a reject."""
        for stream, held in list(self.open.items()):
            if any(stale(line) for line in held):
                self._give_up(stream, "csvlog record cut short (the rest did not come)")

    def pending_lines(self) -> list[Line]:
        return [line for held in self.open.values() for line in held]

    def withdraw(self) -> list[Line]:
        """Forget the open records and return their lines (their source gives them back,
        to be read again with the lines that close them)."""
        lines = self.pending_lines()
        self.open.clear()
        self._quotes.clear()
        return lines

    def _give_up(self, stream: str, reason: str) -> None:
        held = self.open.pop(stream)
        del self._quotes[stream]
        self._report(Reject(held[0].source, held[0].number, reason,
                            "\n".join(line.text for line in held), lines=len(held)))

    def _entry(self, held: list[Line]) -> LogEntry | None:
        """The entry of a complete record; a reject (or None for one plain line: the
        caller rejects it as it would any line) when it is not a csvlog record."""
        _allow_long_fields()
        raw = "\n".join(line.text for line in held)
        try:
            rows = list(csv.reader([line.text + "\n" for line in held], strict=True))
        except csv.Error as exc:
            rows, problem = [], f"bad csvlog record: {exc}"
        else:
            problem = "not a csvlog record"
        if len(rows) == 1 and len(rows[0]) in _CSV_WIDTHS and rows[0][11] in _SEVERITIES:
            first = held[0]
            entry = _csv_entry(dict(zip(CSVLOG_COLUMNS, rows[0], strict=False)), raw,
                               first.source, first.number, self._numbers)
            return LogEntry(entry.fields, entry.severity, entry.message, entry.secondary,
                            tuple(held))
        if len(held) == 1:
            return None
        self._report(Reject(held[0].source, held[0].number, problem, raw, lines=len(held)))
        return None


def jsonlog_entries(stream: Iterable[str], source: str,
                    on_reject: Callable[[Reject], None] | None = None,
                    numbers: StderrLineNumbers | None = None) -> Iterator[LogEntry]:
    """One entry per jsonlog line; a line that is not a jsonlog object is a reject.
    ``numbers`` as for :func:`csvlog_entries`."""
    report = on_reject or (lambda reject: None)
    numbers = numbers if numbers is not None else StderrLineNumbers()
    for number, text in enumerate(stream, start=1):
        raw = text[:-1] if text.endswith("\n") else text
        if not raw.strip():
            continue
        try:
            obj = _json_loads(raw)
        except (ValueError, RecursionError) as exc:
            report(Reject(source, number, f"bad jsonlog line: {exc.args[0]}", raw))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("message"), str) \
                or obj.get("error_severity") not in _SEVERITIES \
                or not isinstance(obj.get("timestamp"), str):
            report(Reject(source, number, "not a jsonlog object", raw))
            continue
        yield _json_entry(obj, raw, source, number, numbers)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    # a JSON string may hold a lone surrogate (a \ud800 escape): no output could write it
    return without_surrogates(str(value))


def _json_entry(o: dict[str, Any], raw: str, source: str, number: int,
                numbers: StderrLineNumbers) -> LogEntry:
    fields: dict[str, str] = {"m": without_surrogates(o["timestamp"])}
    for escape, key in (("p", "pid"), ("u", "user"), ("d", "dbname"), ("c", "session_id"),
                        ("l", "line_num"), ("i", "ps"), ("s", "session_start"),
                        ("v", "vxid"), ("x", "txid"), ("e", "state_code"),
                        ("a", "application_name"), ("b", "backend_type"),
                        ("P", "leader_pid"), ("Q", "query_id")):
        _put(fields, escape, _text(o.get(key)))
    _put(fields, "r", _remote(_text(o.get("remote_host")), _text(o.get("remote_port"))))
    # jsonlog leaves state_code out for successful completion (SQLSTATE 0 = "00000").
    # (a state_code that is not a SQLSTATE is not one: left out, not made 00000)
    if o.get("state_code") in (None, ""):
        fields["e"] = "00000"
    # stderr's DETAIL line is the server-log-only detail when there is one (csvlog too).
    detail = _text(o.get("detail_log")) or _text(o.get("detail"))
    secondary = [("DETAIL", detail), ("HINT", _text(o.get("hint"))),
                 ("QUERY", _text(o.get("internal_query"))), ("CONTEXT", _text(o.get("context"))),
                 ("LOCATION", _location(_text(o.get("func_name")), _text(o.get("file_name")),
                                        _text(o.get("file_line_num")))),
                 ("STATEMENT", _text(o.get("statement")))]
    return _entry(fields, str(o["error_severity"]), without_surrogates(o["message"]),
                  _text(o.get("cursor_position")), _text(o.get("internal_position")),
                  secondary, raw, source, number, numbers)


def read_structured(path: str, on_reject: Callable[[Reject], None] | None = None,
                    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, pauses: Pauses = (),
                    numbers: StderrLineNumbers | None = None
                    ) -> tuple[StructuredKind | None, Iterator[Line] | Iterator[LogEntry]]:
    """Open an input (path, ``.gz``, ``-``) and tell csvlog and jsonlog from the rest by
    content: ``(kind, entries)`` for a csvlog or jsonlog, ``(None, lines)`` otherwise
    (what :func:`~pgaudit_parse.sources.read_input` yields). Unreadable input raises
    :class:`~pgaudit_parse.sources.InputError`, also mid-stream. ``pauses``: what to do
    when a live input (a pipe, a FIFO) goes quiet (docs/live.md); the kind of a live
    input is told from the bytes that have come when it first goes quiet. ``numbers``:
    the :class:`StderrLineNumbers` of the run's earlier csvlog/jsonlog files (rotated
    files read one after the other).
    """
    # Sniffed from the bytes, which are then given back to the reader that follows: a
    # plain log is read from its own bytes (--max-line-bytes counts bytes of input).
    try:
        raw, name, _ = _open_bytes(path, pauses)
    except PauseFailed as exc:
        raise exc.error from None
    if on_reject is not None:
        on_reject = _shielded(on_reject)
    decode = codecs.getincrementaldecoder("utf-8")("backslashreplace").decode
    try:
        data, damage = _read_some(raw, _CHUNK)
        head = decode(data)
        kind = sniff_structured(head)
        while damage is None and kind is None and len(data) < _SNIFF_LIMIT \
                and _cut_first_record(head):
            more, damage = _read_some(raw, len(data))  # a first record longer than that
            if not more:
                break
            data += more
            head += decode(more)
            kind = sniff_structured(head)
    except PauseFailed as exc:
        if path != "-":
            raw.close()
        raise exc.error from None
    except (OSError, EOFError, zlib.error) as exc:
        if path != "-":
            raw.close()
        raise InputError(name, _cause(exc)) from None
    if kind is not None and data.startswith(_BOM_BYTES):
        data = data[len(_BOM_BYTES):]  # a byte-order mark written by an editor or a copy tool
    replayed = Replayed(data, raw, damage)
    closing = cast(IO[Any], raw)
    if kind is None and not _RDS_DOWNLOAD.match(head):
        return None, _guarded(read_bytes(cast(IO[bytes], replayed), name, on_reject,
                                         max_line_bytes), closing, name, path)
    stream = cast(IO[str], io.TextIOWrapper(replayed, encoding="utf-8",
                                            errors="backslashreplace", newline="\n"))
    if kind is None:
        return None, _guarded(_rds_download_lines(stream, name), closing, name, path)
    read = csvlog_entries if kind == "csvlog" else jsonlog_entries
    # (PostgreSQL on Windows writes its log in text mode: every LF, inside a quoted field
    # too, becomes CR LF; the same rule as for plain logs tells such a file)
    lines: Iterable[str] = (_without_crlf(stream) if crlf_lines(head.split("\n")[:-1])
                            else stream)
    return kind, _guarded(read(lines, name, on_reject, numbers), closing, name, path)


def _without_crlf(stream: Iterable[str]) -> Iterator[str]:
    """The lines of a CRLF file with exactly the CR of each CR LF removed (a bare CR in a
    statement is data and stays)."""
    for line in stream:
        yield line[:-2] + "\n" if line.endswith("\r\n") else line


_BOM_BYTES: Final = "\ufeff".encode()


def _read_some(raw: IO[bytes], size: int) -> tuple[bytes, BaseException | None]:
    """Up to ``size`` bytes, in small reads, and the damage met (a truncated ``.gz``)
    after some bytes: the reader that follows meets it there, and says how far it got.
    Damage before any byte raises. A live input (a pipe) gives what has come, up to a
    line end: no read waits once there are whole lines (the kind is told from whole
    lines, never from a line's first bytes)."""
    read = getattr(raw, "read1", None) or raw.read
    would_wait = would_wait_of(raw)
    parts: list[bytes] = []
    total = 0
    while total < size:
        if parts and would_wait is not None and parts[-1].endswith(b"\n") and would_wait():
            break
        try:
            piece = read(min(1 << 13, size - total))
        except (OSError, EOFError, zlib.error) as exc:
            if parts:
                return b"".join(parts), exc
            raise
        if not piece:
            break
        parts.append(piece)
        total += len(piece)
    return b"".join(parts), None


#: How far a first csvlog/jsonlog record may reach before the input is taken for
#: something else.
_SNIFF_LIMIT: Final = 16 << 20


def _cut_first_record(head: str) -> bool:
    """Does ``head`` look like a csvlog/jsonlog whose first record is not complete yet?"""
    text = head.lstrip("\ufeff")
    if _JSON_START.match(text):
        return "\n" not in text
    if not _CSV_START.match(text):
        return False
    _allow_long_fields()
    try:
        next(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        return True  # the data ends inside a quoted field
    except StopIteration:
        return False
    return False


_JSON_START = re.compile(r'\{\s*"timestamp"\s*:\s*"')

#: ``aws rds download-db-log-file-portion`` JSON output (the CLI's default): one object
#: whose ``LogFileData`` is the log text (all portions joined by the CLI's paginator).
_RDS_DOWNLOAD = re.compile(r'\s*\{\s*"(?:LogFileData|AdditionalDataPending|Marker)"\s*:')


def _rds_download_lines(stream: IO[str], name: str) -> Iterator[Line]:
    """The log lines of a ``download-db-log-file-portion`` JSON document (one JSON
    string holds the whole text, so the document is read whole)."""
    try:
        document = json.load(stream)
    except ValueError as exc:
        raise InputError(name, f"invalid JSON: {exc}") from None
    data = document.get("LogFileData") if isinstance(document, dict) else None
    if not isinstance(data, str):
        raise InputError(name, 'JSON document without a "LogFileData" text')
    for number, text in enumerate(split_message(data), start=1):
        yield Line(text, name, number)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        return "not a valid gzip file"
    return str(exc)


class _RejectFailed(Exception):
    """An error of the reject handler (writing a dead letter to a full disk, a closed
    pipe), carried through the reader, which takes an OSError for a failure to read."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def _shielded(on_reject: Callable[[Reject], None]) -> Callable[[Reject], None]:
    def call(reject: Reject) -> None:
        try:
            on_reject(reject)
        except OSError as exc:
            raise _RejectFailed(exc) from None
    return call


def _guarded(items: Iterator[Any], text: IO[Any], name: str, path: str) -> Iterator[Any]:
    try:
        yield from items
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(name, _cause(exc)) from None
    except (_RejectFailed, PauseFailed) as exc:  # the output's error, as it was
        raise exc.error from None
    finally:
        if path != "-":
            text.close()


def structured_kind(path: str) -> StructuredKind | None:
    """The kind of a file on disk (None for stdin, and for anything not csvlog/jsonlog)."""
    if path == "-":
        return None
    try:
        text, _name = _open_text(path)
    except InputError:
        return None
    try:
        return sniff_structured(text.read(_CHUNK))
    except (OSError, EOFError, zlib.error):
        return None
    finally:
        text.close()
