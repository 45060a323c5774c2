"""Entry assembly: physical lines -> one :class:`LogEntry` per PostgreSQL message.

PostgreSQL writes a message as its ``SEVERITY:  text`` line, continuation lines for every
newline inside the text (each starting with a TAB that is not part of the text), then the
prefixed DETAIL / HINT / QUERY / CONTEXT / LOCATION / STATEMENT lines of the same backend.

The assembler keeps one open entry per backend (keyed by ``%p``, else ``%c``) and emits
entries in the order they started. An entry closes when its backend starts a new message,
or when ``window`` lines have passed without it growing (PostgreSQL writes a whole message
at once, so its lines are adjacent; the window tolerates interleaving while bounding
memory). Lines that fit nowhere become :class:`~pgaudit_parse.lines.Reject`\\ s.

>>> from pgaudit_parse.prefix import LinePrefix
>>> lines = ["2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:ERROR:  boom",
...          "2026-11-25 16:05:01 UTC:[local]:bob@db:[7]:STATEMENT:  select",
...          "\\t1/0"]
>>> [(e.severity, e.message, e.secondary) for e in assemble_entries(lines, LinePrefix())]
[('ERROR', 'boom', (('STATEMENT', 'select\\n1/0'),))]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from .lines import Line, Reject, slot_constructor, slot_filler, to_lines
from .prefix import POSTGRES_DEFAULT_PREFIX, SECONDARY_LABELS, LinePrefix, ParsedLine, PrefixError

__all__ = ["LogEntry", "EntryAssembler", "assemble_entries", "DEFAULT_WINDOW",
           "parse_start", "starts_message", "prefix_change", "PREFIX_CHANGE_MARK"]

#: What the postmaster's message starts with when a reload changes ``log_line_prefix``
#: (PostgreSQL applies the new value, then logs it; backends follow as they reload).
PREFIX_CHANGE_MARK = 'parameter "log_line_prefix" '
_CHANGED_TO = 'changed to "'
_RESET = "removed from configuration file, reset to default"


def prefix_change(message: str) -> str | None:
    """The ``log_line_prefix`` a reload put in force, read off the postmaster's message.

    >>> prefix_change('parameter "log_line_prefix" changed to "%m [%p] %q%u@%d "')
    '%m [%p] %q%u@%d '
    >>> prefix_change('parameter "log_line_prefix" removed from configuration file, '
    ...               'reset to default')
    '%m [%p] '
    >>> prefix_change('parameter "work_mem" changed to "8MB"') is None
    True
    """
    if not message.startswith(PREFIX_CHANGE_MARK):
        return None
    rest = message[len(PREFIX_CHANGE_MARK):]
    if rest.startswith(_CHANGED_TO) and rest.endswith('"') and len(rest) > len(_CHANGED_TO):
        return rest[len(_CHANGED_TO):-1]
    if rest == _RESET:
        return POSTGRES_DEFAULT_PREFIX
    return None

#: Lines an open entry waits for more of its lines before it is emitted.
DEFAULT_WINDOW = 64

_SECONDARY = frozenset(SECONDARY_LABELS)


def parse_start(text: str, prefix: LinePrefix) -> tuple[ParsedLine | None, bool]:
    """The one rule for "this line starts a message": the line's prefix parse (None for a
    TAB continuation or a line the prefix does not match) and whether it starts a new
    message (a prefixed line whose severity is not a DETAIL/HINT/QUERY/CONTEXT/LOCATION/
    STATEMENT label). The assembler, ``--jobs`` chunking and the forwarder all use it.

    >>> parsed, starts = parse_start("2026-11-25 16:05:01 UTC::@:[7]:DETAIL:  x", LinePrefix())
    >>> parsed.severity, starts
    ('DETAIL', False)
    >>> parse_start("\tcontinued", LinePrefix())
    (None, False)
    """
    if text.startswith("\t"):
        return None, False
    parsed = prefix.parse(text)
    return parsed, parsed is not None and parsed.severity not in _SECONDARY


def starts_message(text: str, prefix: LinePrefix) -> bool:
    """Whether the physical line ``text`` starts a new PostgreSQL message (see
    :func:`parse_start`).

    >>> starts_message("2026-11-25 16:05:01 UTC::@:[7]:ERROR:  boom", LinePrefix())
    True
    """
    return parse_start(text, prefix)[1]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One PostgreSQL message with its continuation and secondary lines.

    ``fields`` holds the prefix values of the first line (escape letter -> text; a
    read-only mapping, so the frozen entry holds nothing mutable);
    ``secondary`` holds ``(label, text)`` pairs such as ``("STATEMENT", "select 1")``;
    ``lines`` are the physical lines the entry was built from, in input order.
    """

    fields: Mapping[str, str]
    severity: str
    message: str
    secondary: tuple[tuple[str, str], ...]
    lines: tuple[Line, ...]

    def __init__(self, fields: Mapping[str, str], severity: str, message: str,
                 secondary: tuple[tuple[str, str], ...], lines: tuple[Line, ...]) -> None:
        # One entry per message: same signature, same frozen object, filled through the
        # slots' setters (see lines.slot_filler).
        _fill_entry(self, fields, severity, message, secondary, lines)

    @property
    def source(self) -> str:
        """Where the first line came from."""
        return self.lines[0].source

    @property
    def line(self) -> int:
        """The first line's number."""
        return self.lines[0].number

    @property
    def stream(self) -> str:
        """The stream (e.g. CloudWatch log stream) the entry was assembled in."""
        return self.lines[0].stream

    def get(self, label: str) -> str | None:
        """The text of the first secondary line with this label, or None.

        >>> from types import MappingProxyType
        >>> LogEntry(MappingProxyType({}), "ERROR", "x", (("DETAIL", "d"),), ()).get("DETAIL")
        'd'
        """
        for name, text in self.secondary:
            if name == label:
                return text
        return None


_fill_entry = slot_filler(LogEntry)
#: ``_entry(fields, severity, message, secondary, lines) == LogEntry(...)`` for the
#: assembler: a plain function call, without the C-level call of ``__init__``.
_entry: Callable[[Mapping[str, str], str, str, tuple[tuple[str, str], ...], tuple[Line, ...]],
                 LogEntry] = slot_constructor(LogEntry)


class _Building:
    """An entry being assembled (mutable, private to the assembler).

    Most messages are one line: their text and line are kept as they are, and the lists
    for continuation and secondary lines are made only when such a line comes."""

    __slots__ = ("fields", "severity", "text", "parts", "secondary", "line", "more", "key",
                 "last_seq", "closed")

    def __init__(self, fields: Mapping[str, str], severity: str, text: str, line: Line,
                 key: str, seq: int) -> None:
        self.fields = fields
        self.severity = severity
        self.text = text
        # continuation lines of the message as read (TAB included: no copy per line)
        self.parts: list[str] | None = None
        self.secondary: list[tuple[str, list[str]]] | None = None
        self.line = line
        self.more: list[Line] | None = None  # the lines after the first
        self.key = key
        self.last_seq = seq
        self.closed = False

    @property
    def lines(self) -> list[Line]:
        """Every line of the entry so far, in input order."""
        return [self.line] if self.more is None else [self.line, *self.more]

    def continue_with(self, text: str, line: Line, seq: int) -> None:
        """Extend the message (or its last secondary line) with a continuation line's
        text as read, its leading TAB included (removed by :func:`_join`)."""
        if self.secondary:
            self.secondary[-1][1].append(text)
        elif self.parts is None:
            self.parts = [self.text, text]
        else:
            self.parts.append(text)
        if self.more is None:
            self.more = [line]
        else:
            self.more.append(line)
        self.last_seq = seq

    def add_secondary(self, label: str, text: str, line: Line, seq: int) -> None:
        if self.secondary is None:
            self.secondary = [(label, [text])]
        else:
            self.secondary.append((label, [text]))
        if self.more is None:
            self.more = [line]
        else:
            self.more.append(line)
        self.last_seq = seq

    def freeze(self) -> LogEntry:
        if self.more is None:
            return _entry(self.fields, self.severity, self.text, (), (self.line,))
        return _entry(
            self.fields,  # read-only already (LinePrefix.split's fields)
            self.severity,
            self.text if self.parts is None else _join(self.parts),
            () if self.secondary is None else
            tuple((label, _join(parts)) for label, parts in self.secondary),
            (self.line, *self.more),
        )


def _join(parts: list[str]) -> str:
    """A text and its continuation lines (each starting with PostgreSQL's TAB) as one
    text: no line holds a LF, so every LF + TAB of the joined text is a line start.

    >>> _join(["select", "\\t1,", "\\t\\t2"])
    'select\\n1,\\n\\t2'
    """
    if len(parts) == 1:
        return parts[0]
    return "\n".join(parts).replace("\n\t", "\n")


class _StreamState:
    __slots__ = ("open", "order", "last", "seq")

    def __init__(self) -> None:
        self.open: dict[str, _Building] = {}
        self.order: deque[_Building] = deque()
        self.last: _Building | None = None
        self.seq = 0


def _announces_prefix(split: tuple[Mapping[str, str], str, str]) -> bool:
    """Is this the postmaster's LOG line telling a new ``log_line_prefix``? (Not a
    client's: a session's line, such as a ``RAISE LOG`` of the same text, has a user
    when the prefix shows one.)"""
    fields, severity, message = split
    return severity == "LOG" and not fields.get("u") and prefix_change(message) is not None


class EntryAssembler:
    """Streaming assembler: ``feed`` lines, get finished entries back; ``flush`` at the end.

    State is kept per ``Line.stream``; rejects go to ``on_reject``.

    >>> from pgaudit_parse.prefix import LinePrefix
    >>> asm = EntryAssembler(LinePrefix("%m [%p] "), on_reject=print)
    >>> asm.feed(Line("junk", "f", 1))
    Reject(source='f', line=1, reason='line does not match log_line_prefix', raw='junk')
    []
    """

    def __init__(self, prefix: LinePrefix, on_reject: Callable[[Reject], None] | None = None,
                 window: int = DEFAULT_WINDOW,
                 on_prefix_change: Callable[[LinePrefix], None] | None = None,
                 on_unmatched: Callable[[Line], bool] | None = None,
                 previous: LinePrefix | None = None) -> None:
        self.prefix = prefix
        self.on_reject = on_reject or (lambda reject: None)
        self.window = window
        self._streams: dict[str, _StreamState] = {}
        self._key_escape = "p" if "p" in prefix.escapes else ("c" if "c" in prefix.escapes else "")
        self._split = prefix.split
        # A reload that changes log_line_prefix is followed (the postmaster logs the new
        # value); a backend that has not reloaded yet still writes the one before it
        # (``previous``: a change logged in an earlier file of the same log).
        self._previous: LinePrefix | None = previous
        self._on_prefix_change = on_prefix_change
        # Offered each line the prefix does not read before it is rejected (the parser
        # takes csvlog records among plain lines): True when it took the line.
        self._on_unmatched = on_unmatched

    @property
    def previous_prefix(self) -> LinePrefix | None:
        """The prefix in use before the last change the log announced (lines the
        current one does not read are read with it), or None."""
        return self._previous

    def _use_prefix(self, spec: str) -> LinePrefix | None:
        """Switch to the prefix ``spec`` (None when it is the one in use or not valid)."""
        if spec == self.prefix.spec:
            return None
        try:
            new = LinePrefix(spec, timezone=self.prefix.timezone)
        except PrefixError:
            return None
        self._previous, self.prefix, self._split = self.prefix, new, new.split
        self._key_escape = "p" if "p" in new.escapes else ("c" if "c" in new.escapes else "")
        if self._on_prefix_change is not None:
            self._on_prefix_change(new)
        return new

    def _split_unmatched(self, text: str) -> tuple[Mapping[str, str], str, str] | None:
        """A line the prefix in use does not read: the postmaster's own line announcing a
        new prefix (written in it), or a line of a backend still on the previous one."""
        start = text.find(PREFIX_CHANGE_MARK)
        spec = prefix_change(text[start:]) if start >= 0 else None
        if spec is not None:
            try:
                split = LinePrefix(spec, timezone=self.prefix.timezone).split(text)
            except PrefixError:
                split = None
            if split is not None and _announces_prefix(split) \
                    and self._use_prefix(spec) is not None:
                return split
        if self._previous is not None:
            return self._previous.split(text)
        return None

    def feed(self, line: Line) -> list[LogEntry]:
        """Take one physical line; return the entries it completed (possibly none)."""
        # The one rule of parse_start(), inlined: this runs once per physical line.
        state = self._streams.get(line.stream)
        if state is None:
            state = self._streams[line.stream] = _StreamState()
        seq = state.seq = state.seq + 1
        text = line.text
        split = None if text[:1] == "\t" else self._split(text)
        if split is None:
            if text[:1] == "\t":
                last = state.last
                if last is None or last.closed:
                    self._reject(line, "continuation line without a message before it")
                else:
                    last.continue_with(text, line, seq)
                return self._ready(state)
            split = self._split_unmatched(text) if text else None
            if split is None:
                if text and self._on_unmatched is not None and self._on_unmatched(line):
                    state.last = None
                    return self._ready(state)
                reason = "empty line" if not text else "line does not match log_line_prefix"
                self._reject(line, reason)
                state.last = None
                return self._ready(state)
        fields, severity, message = split
        if message[:10] == "parameter " and _announces_prefix(split) \
                and self._use_prefix(prefix_change(message) or self.prefix.spec) is not None:
            # the line itself is written in the new prefix (the old one may read it too)
            fields, severity, message = self._split(text) or split
        key = fields.get(self._key_escape, "") if self._key_escape else ""
        if severity in _SECONDARY:  # a DETAIL/HINT/STATEMENT... line of the message before it
            owner = state.open.get(key)
            if owner is None or owner.closed:
                self._reject(line, f"{severity} line without its message")
                state.last = None
            else:
                owner.add_secondary(severity, message, line, seq)
                state.last = owner
            return self._ready(state)
        open_ = state.open
        previous = open_.get(key)
        if previous is not None:
            previous.closed = True
        building = _Building(fields, severity, message, line, key, seq)
        open_[key] = building
        order = state.order
        order.append(building)
        state.last = building
        head = order[0]
        if head.closed or seq - head.last_seq > self.window:
            return self._ready(state)
        return []

    def flush(self) -> list[LogEntry]:
        """Emit every entry still open, in the order they started (end of input)."""
        done: list[LogEntry] = []
        for state in self._streams.values():
            while state.order:
                done.append(self._emit(state, state.order.popleft()))
            state.last = None
        return done

    def release(self, stale: Callable[[Line], bool]) -> list[LogEntry]:
        """Emit, per stream, the open entries up to the last one that holds a ``stale``
        line, in the order they started; the entries after it stay open. A source gives
        up what it has held since an earlier batch this way without cutting a message
        that is still being read (an ERROR whose STATEMENT line comes next).

        >>> from pgaudit_parse.prefix import LinePrefix
        >>> asm = EntryAssembler(LinePrefix("%m [%p] "))
        >>> _ = asm.feed(Line("2026-11-25 16:05:01.120 UTC [7] LOG:  old", "f", 1))
        >>> _ = asm.feed(Line("2026-11-25 16:05:02.120 UTC [8] ERROR:  new", "f", 2))
        >>> [e.message for e in asm.release(lambda line: line.number == 1)]
        ['old']
        >>> [line.number for line in asm.pending_lines()]
        [2]
        """
        done: list[LogEntry] = []
        for state in self._streams.values():
            order = state.order
            last = -1
            for index, building in enumerate(order):
                if any(stale(line) for line in building.lines):
                    last = index
            for _ in range(last + 1):
                building = order.popleft()
                done.append(self._emit(state, building))
                if state.last is building:
                    state.last = None
        return done

    def withdraw(self) -> tuple[list[LogEntry], list[Line]]:
        """Per stream, forget the entry its last line went to (the one the next lines may
        still complete: PostgreSQL writes a message's lines one after the other) and the
        entries begun after it, and emit the held entries before it. Returns the emitted
        entries and the forgotten lines: their source gives that input back (a FIFO
        queue's message made visible again), to be read anew with what completes it.

        >>> from pgaudit_parse.prefix import LinePrefix
        >>> asm = EntryAssembler(LinePrefix("%m [%p] "))
        >>> _ = asm.feed(Line("2026-11-25 16:05:01.120 UTC [7] LOG:  old", "f", 1))
        >>> _ = asm.feed(Line("2026-11-25 16:05:02.120 UTC [8] ERROR:  new", "f", 2))
        >>> done, lines = asm.withdraw()
        >>> [e.message for e in done], [line.number for line in lines], asm.flush()
        (['old'], [2], [])
        """
        done: list[LogEntry] = []
        lines: list[Line] = []
        for state in self._streams.values():
            order = state.order
            tail = state.last
            keep = len(order)
            if tail is not None:
                for index, building in enumerate(order):
                    if building is tail:
                        keep = index
                        break
            for _ in range(keep):
                done.append(self._emit(state, order.popleft()))
            for building in order:
                lines.extend(building.lines)
                building.closed = True
                if state.open.get(building.key) is building:
                    del state.open[building.key]
            order.clear()
            state.last = None
        return done, lines

    def pending_lines(self) -> list[Line]:
        """The lines of entries not emitted yet (for sources that acknowledge input)."""
        return [line for state in self._streams.values() for b in state.order for line in b.lines]

    def _ready(self, state: _StreamState) -> list[LogEntry]:
        order = state.order
        if not order:
            return []
        head = order[0]
        seq = state.seq
        window = self.window
        if not head.closed and seq - head.last_seq <= window:
            return []
        done: list[LogEntry] = []
        open_ = state.open
        while order:
            head = order[0]
            if not head.closed and seq - head.last_seq <= window:
                break
            order.popleft()
            head.closed = True
            if open_.get(head.key) is head:
                del open_[head.key]
            done.append(head.freeze() if head.more is not None else
                        _entry(head.fields, head.severity, head.text, (), (head.line,)))
        return done

    def _emit(self, state: _StreamState, building: _Building) -> LogEntry:
        building.closed = True
        if state.open.get(building.key) is building:
            del state.open[building.key]
        return building.freeze()

    def _reject(self, line: Line, reason: str) -> None:
        self.on_reject(Reject(line.source, line.number, reason, line.text))


def assemble_entries(
    lines: Iterable[str | Line],
    prefix: LinePrefix,
    on_reject: Callable[[Reject], None] | None = None,
    window: int = DEFAULT_WINDOW,
) -> Iterator[LogEntry]:
    """Assemble an iterable of lines into entries (a generator; streams its input).

    >>> from pgaudit_parse.prefix import LinePrefix
    >>> [e.message for e in assemble_entries(["x [1] LOG:  a"], LinePrefix("x [%p] "))]
    ['a']
    """
    assembler = EntryAssembler(prefix, on_reject, window)
    for line in to_lines(lines):
        yield from assembler.feed(line)
    yield from assembler.flush()
