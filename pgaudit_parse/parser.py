"""The streaming parser: lines -> entries -> events, with rejects accounted for.

>>> from pgaudit_parse.lines import Line
>>> p = Parser()
>>> p.feed(Line("2026-11-25 16:05:01 UTC::@:[77]:LOG:  checkpoint starting", "f", 1))
[]
>>> [e.message for e in p.flush()]
['checkpoint starting']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from .entries import DEFAULT_WINDOW, PREFIX_CHANGE_MARK, EntryAssembler, LogEntry
from .events import DEFAULT_STATEMENT_CACHE_BYTES, Event, EventBuilder
from .lines import Line, Reject, to_lines
from .prefix import (
    RDS_PREFIX,
    LinePrefix,
    PrefixChoice,
    PrefixError,
    choose_prefix,
    has_session_line,
)
from .structured import CsvlogRecords, read_structured, starts_csvlog_record
from .timestamps import TimestampParser

__all__ = ["Parser", "parse_lines", "parse_entries", "parse_path", "open_with_prefix",
           "resolve_prefix", "read_sample", "RejectCounter", "DEFAULT_STATE_BYTES",
           "split_state_bytes"]

#: Lines ``prefix="auto"`` looks at, at least.
AUTO_SAMPLE_LINES = 200
#: How far ``prefix="auto"`` reads when it has seen only background-process lines.
AUTO_MAX_LINES = 20_000
AUTO_MAX_CHARS = 16 * 1024 * 1024
#: Bytes of per-session state a run keeps by default: the ``<previously logged>`` cache
#: (:class:`Parser`) and the audit records waiting for their ``duration:`` line
#: (:class:`~pgaudit_parse.formats.guardium.RecordBuilder`). See docs/memory.md.
DEFAULT_STATE_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


def split_state_bytes(total: int) -> tuple[int, int]:
    """Share a state budget: (``<previously logged>`` cache, held Guardium records).

    The cache gets three quarters: it holds up to 256 statements per session, while a
    session holds the records of one statement at a time.

    >>> split_state_bytes(64 * 1024 * 1024)
    (50331648, 16777216)
    """
    if total < 0:
        raise ValueError("a state budget cannot be negative")
    cache = total * 3 // 4
    return cache, total - cache


class RejectCounter:
    """The default ``on_reject``: counts rejects and keeps the first few.

    >>> c = RejectCounter(); c(Reject("f", 1, "bad", "x")); c.count
    1
    """

    def __init__(self, keep: int = 100) -> None:
        self.count = 0
        self.keep = keep
        self.first: list[Reject] = []

    def __call__(self, reject: Reject) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(reject)


class Parser:
    """Feed :class:`Line`\\ s, get :class:`Event`\\ s; ``flush()`` at the end of input.

    State (open entries, pgAudit statements) is kept per ``Line.stream``, so one parser
    can take interleaved lines of several CloudWatch log streams. ``timezone`` (an IANA
    name) is the log's zone, for ambiguous abbreviations such as ``CST``; without it such
    an abbreviation takes its default meaning and ``on_ambiguous_zone`` (default: an
    :class:`~pgaudit_parse.timestamps.AmbiguousZoneWarning`) hears of it once.

    The ``<previously logged>`` cache holds at most ``max_state_bytes`` (``state_bytes``
    now); statements it evicted are counted in ``evicted_statements``, and audit lines
    that kept the marker because their statement was not (or no longer) known in
    ``unresolved_statements`` (docs/memory.md).
    """

    def __init__(self, prefix: str | LinePrefix = RDS_PREFIX,
                 on_reject: Callable[[Reject], None] | None = None,
                 window: int = DEFAULT_WINDOW, timezone: str | None = None,
                 on_ambiguous_zone: Callable[[str], None] | None = None,
                 max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES,
                 previous: LinePrefix | None = None) -> None:
        if not isinstance(prefix, LinePrefix):
            prefix = LinePrefix(prefix, timezone=timezone)
        elif timezone is not None and timezone != prefix.timezone:
            prefix = LinePrefix(prefix.spec, timezone=timezone)
        self.prefix = prefix
        self.reject_count = 0
        self._on_reject = on_reject if on_reject is not None else RejectCounter()
        # csvlog records among the lines (a file that mixes stderr and csvlog, a csvlog
        # in CloudWatch events): read as csvlog, whatever the prefix
        self._csv = CsvlogRecords(self._reject)
        self._csv_open = self._csv.open
        self._csv_done: list[LogEntry] = []
        self._assembler = EntryAssembler(self.prefix, self._reject, window,
                                         on_prefix_change=self._prefix_changed,
                                         on_unmatched=self._csvlog_line,
                                         previous=previous)
        # One timestamp reader per parser: it warns once about an ambiguous zone
        # abbreviation (an AmbiguousZoneWarning, or a call of on_ambiguous_zone).
        timestamps = TimestampParser(self.prefix.timezone, on_ambiguous_zone)
        self._builder = EventBuilder(self._reject, timestamps=timestamps, prefix=self.prefix,
                                     max_state_bytes=max_state_bytes)
        self.entry_count = 0

    @property
    def max_state_bytes(self) -> int:
        """The byte budget of the ``<previously logged>`` cache."""
        return self._builder.max_state_bytes

    @property
    def state_bytes(self) -> int:
        """Bytes the ``<previously logged>`` cache and session facts hold now."""
        return self._builder.state_bytes

    @property
    def evicted_statements(self) -> int:
        """Statements dropped from the cache to stay within ``max_state_bytes``."""
        return self._builder.evicted_statements

    @property
    def unresolved_statements(self) -> int:
        """Audit lines that kept ``<previously logged>`` (earlier line unknown)."""
        return self._builder.unresolved_statements

    @property
    def previous_prefix(self) -> LinePrefix | None:
        """The prefix before the last change the log announced, or None: with
        :attr:`prefix`, what the next file of the same log starts with
        (``Parser(parser.prefix, previous=parser.previous_prefix)``)."""
        return self._assembler.previous_prefix

    def _prefix_changed(self, prefix: LinePrefix) -> None:
        """A reload changed ``log_line_prefix`` (the log says so): lines from there on are
        read with the new one (see :class:`~pgaudit_parse.entries.EntryAssembler`)."""
        self.prefix = prefix
        self._builder.use_prefix(prefix)

    def _reject(self, reject: Reject) -> None:
        self.reject_count += 1
        self._on_reject(reject)

    def feed(self, line: Line) -> list[Event]:
        """Take one line; return the events it completed."""
        if self._csv_open and line.stream in self._csv_open:
            return self._events(self._csv.add(line))
        entries = self._assembler.feed(line)
        if self._csv_done:
            entries, self._csv_done = entries + self._csv_done, []
        return self._events(entries) if entries else []

    def _csvlog_line(self, line: Line) -> bool:
        """A line the prefix does not read: does it start a csvlog record?"""
        entries = self._csv.begin(line)
        if entries is None:
            return False
        # the stderr messages held so far came before it (a file of stderr lines, then
        # csvlog records): they go first
        self._csv_done += self._assembler.flush() + entries
        return True

    def feed_entry(self, entry: LogEntry) -> Event | None:
        """Take one whole message (a csvlog or jsonlog record); return its event, or None
        when it is rejected (reported to ``on_reject``)."""
        self.entry_count += 1
        return self._builder.build(entry)

    def flush(self) -> list[Event]:
        """Emit all events still held (end of input, or a pause in a follow mode)."""
        self._csv.flush()
        return self._events(self._assembler.flush())

    def release(self, stale: Callable[[Line], bool]) -> list[Event]:
        """Emit the held messages that hold a ``stale`` line (and, per stream, those that
        began before them); messages begun after them stay held (see
        :meth:`~pgaudit_parse.entries.EntryAssembler.release`)."""
        self._csv.release(stale)
        return self._events(self._assembler.release(stale))

    def withdraw(self) -> tuple[list[Event], list[Line]]:
        """Forget, per stream, the message the last line went to and those begun after
        it (their source gives them back, to be read again with what completes them), and
        emit the held messages before it: returns those events and the forgotten lines
        (see :meth:`~pgaudit_parse.entries.EntryAssembler.withdraw`)."""
        entries, lines = self._assembler.withdraw()
        return self._events(entries), lines + self._csv.withdraw()

    def pending_lines(self) -> list[Line]:
        """Lines read but not yet part of an emitted event."""
        return self._assembler.pending_lines() + self._csv.pending_lines()

    def _events(self, entries: list[LogEntry]) -> list[Event]:
        events = []
        build = self._builder.build
        self.entry_count += len(entries)
        for entry in entries:
            event = build(entry)
            if event is not None:
                events.append(event)
        return events


def resolve_prefix(prefix: str | LinePrefix, sample: list[str],
                   timezone: str | None = None,
                   on_choice: Callable[[PrefixChoice], None] | None = None) -> LinePrefix:
    """Compile ``prefix``; ``"auto"`` picks a known prefix that fits the sample lines
    (see :func:`~pgaudit_parse.prefix.choose_prefix`) and tells ``on_choice`` which, and
    how well it fits. With no line to look at, ``"auto"`` is the default prefix, so an
    empty input reads the same with and without it.

    >>> resolve_prefix("auto", ["2026-11-25 16:05:01.120 UTC [7] LOG:  hi"]).spec
    '%m [%p] '
    >>> resolve_prefix("auto", []).spec == RDS_PREFIX  # an empty input is not an error
    True
    """
    if isinstance(prefix, LinePrefix):
        if timezone is not None and timezone != prefix.timezone:
            return LinePrefix(prefix.spec, timezone=timezone)
        return prefix
    if prefix == "auto":
        if not any(line and not line.startswith("\t") for line in sample):
            return LinePrefix(RDS_PREFIX, timezone=timezone)
        choice = choose_prefix(_before_prefix_change(sample))
        if choice is None and any(starts_csvlog_record(line) or line[:2] == '{"'
                                  for line in sample):
            # csvlog records or jsonlog lines (in CloudWatch events, say) need no prefix:
            # the parser reads them whatever the prefix
            return LinePrefix(RDS_PREFIX, timezone=timezone)
        if choice is None:
            raise PrefixError("no known log_line_prefix fits the first lines; pass --prefix")
        if on_choice is not None:
            on_choice(choice)
        return LinePrefix(choice.spec, timezone=timezone)
    return LinePrefix(prefix, timezone=timezone)


def _before_prefix_change(sample: list[str]) -> list[str]:
    """The lines written before a reload changed ``log_line_prefix`` (the prefix to start
    with; the parser follows the change), or all of them when none did or nothing came
    before it."""
    for index, line in enumerate(sample):
        if PREFIX_CHANGE_MARK in line and any(
                text and not text.startswith("\t") for text in sample[:index]):
            return sample[:index]
    return sample


def read_sample(stream: Iterator[T], text: Callable[[T], str], head: list[T] | None = None,
                enough: Callable[[], bool] | None = None) -> list[T]:
    """The first lines of a stream that ``"auto"`` looks at (the caller keeps them).

    :data:`AUTO_SAMPLE_LINES` lines; when those hold only background-process lines (a
    server's start, checkpoints: they cannot tell prefixes apart), reading goes on, in
    steps of that size, until a line of a client's session is seen, up to
    :data:`AUTO_MAX_LINES` lines or :data:`AUTO_MAX_CHARS` characters. The lines go into
    ``head`` (a new list if None) as they are read; reading stops early once ``enough()``
    says so (a live input went quiet and the prefix was chosen with what had come).
    """
    if head is None:
        head = []
    size = 0
    checked = 0
    limit = AUTO_SAMPLE_LINES
    for item in stream:
        head.append(item)
        if enough is not None and enough():
            break
        size += len(text(item))
        if len(head) < limit:
            continue
        if (has_session_line([text(i) for i in head[checked:]])
                or len(head) >= AUTO_MAX_LINES or size >= AUTO_MAX_CHARS):
            break
        checked = len(head)
        limit += AUTO_SAMPLE_LINES
    return head


def open_with_prefix(lines: Iterable[str | Line], prefix: str | LinePrefix,
                     timezone: str | None = None,
                     on_choice: Callable[[PrefixChoice], None] | None = None,
                     head: list[Line] | None = None,
                     chosen: Callable[[], LinePrefix | None] | None = None
                     ) -> tuple[LinePrefix, Iterator[Line]]:
    """Compile ``prefix`` for these lines; ``"auto"`` looks at the first ones (which are
    kept, so the returned iterator still yields every line) and tells ``on_choice``.
    ``head`` receives the sample as it is read; ``chosen()``, when it gives a prefix,
    ends the sample: that prefix was chosen already (with the lines a live input had
    given when it went quiet).

    >>> compiled, lines = open_with_prefix(["x [1] LOG:  a"], "x [%p] ")
    >>> compiled.spec, [line.text for line in lines]
    ('x [%p] ', ['x [1] LOG:  a'])
    """
    stream = to_lines(lines)
    if prefix != "auto":
        return resolve_prefix(prefix, [], timezone), stream
    enough = None if chosen is None else (lambda: chosen() is not None)
    head = read_sample(stream, _text_of, head, enough)
    early = None if chosen is None else chosen()
    compiled = early if early is not None else resolve_prefix(
        "auto", [line.text for line in head], timezone, on_choice)
    return compiled, _chain(head, stream)


def _text_of(line: Line) -> str:
    return line.text


def parse_lines(lines: Iterable[str | Line], prefix: str | LinePrefix = RDS_PREFIX,
                on_reject: Callable[[Reject], None] | None = None,
                timezone: str | None = None,
                max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES) -> Iterator[Event]:
    """Parse any iterable of lines (strings or :class:`Line`) into events, lazily.

    ``timezone`` is the server's ``log_timezone`` (an IANA name), for zone abbreviations
    that name several zones (``CST``, ``IST``); see :mod:`pgaudit_parse.timestamps`.
    ``max_state_bytes`` bounds the per-session state (docs/memory.md).

    >>> [e.kind for e in parse_lines(["2026-11-25 16:05:01 UTC::@:[77]:LOG:  hi"])]
    ['log']
    """
    compiled, stream = open_with_prefix(lines, prefix, timezone)
    parser = Parser(compiled, on_reject, max_state_bytes=max_state_bytes)
    for line in stream:
        events = parser.feed(line)
        if events:
            yield from events
    yield from parser.flush()


def parse_entries(entries: Iterable[LogEntry],
                  on_reject: Callable[[Reject], None] | None = None,
                  timezone: str | None = None,
                  max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES) -> Iterator[Event]:
    """Events of whole messages (csvlog or jsonlog entries), lazily; ``timezone`` and
    ``max_state_bytes`` as for :func:`parse_lines` (csvlog times carry the same zone
    abbreviations)."""
    parser = Parser(RDS_PREFIX, on_reject, timezone=timezone, max_state_bytes=max_state_bytes)
    for entry in entries:
        event = parser.feed_entry(entry)
        if event is not None:
            yield event


def parse_path(path: str, prefix: str | LinePrefix = RDS_PREFIX,
               on_reject: Callable[[Reject], None] | None = None,
               timezone: str | None = None,
               max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES) -> Iterator[Event]:
    """Events of one input, whatever its kind: a server log (``prefix`` applies), a
    csvlog or jsonlog (recognised by content; no prefix needed), a CloudWatch export or
    SQS bodies; plain or gzip; ``-`` for stdin. Lazy: the file is opened on first use."""
    counter = RejectCounter() if on_reject is None else on_reject
    kind, items = read_structured(path, counter)
    if kind is None:
        yield from parse_lines(items, prefix=prefix, on_reject=counter,  # type: ignore[arg-type]
                               timezone=timezone, max_state_bytes=max_state_bytes)
    else:
        yield from parse_entries(items, counter, timezone,  # type: ignore[arg-type]
                                 max_state_bytes)


def _chain(head: list[Line], rest: Iterator[Line]) -> Iterator[Line]:
    yield from head
    yield from rest
