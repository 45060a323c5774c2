"""The input side as it was before the speed round (issue 12): the oracles the fast paths
are property-tested against (tests/test_front_fast_paths.py). Kept verbatim but for names:
the slow, obviously-right code.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

from pgaudit_parse.entries import DEFAULT_WINDOW, LogEntry
from pgaudit_parse.lines import Line, Reject
from pgaudit_parse.prefix import SECONDARY_LABELS, LinePrefix, ParsedLine

_SECONDARY = frozenset(SECONDARY_LABELS)


def parse_start(text: str, prefix: LinePrefix) -> tuple[ParsedLine | None, bool]:
    if text.startswith("\t"):
        return None, False
    parsed = prefix.parse_by_groups(text)
    return parsed, parsed is not None and parsed.severity not in _SECONDARY


class _Building:
    """An entry being assembled (mutable, private to the assembler)."""

    __slots__ = ("fields", "severity", "parts", "secondary", "lines", "key", "last_seq", "closed")

    def __init__(self, fields: Mapping[str, str], severity: str, text: str, line: Line,
                 key: str, seq: int) -> None:
        self.fields = fields
        self.severity = severity
        # the text, then continuation lines as read (TAB included: no copy per line)
        self.parts: list[str] = [text]
        self.secondary: list[tuple[str, list[str]]] = []
        self.lines: list[Line] = [line]
        self.key = key
        self.last_seq = seq
        self.closed = False

    def continue_with(self, text: str, line: Line, seq: int) -> None:
        """Extend the message (or its last secondary line) with a continuation line's
        text as read, its leading TAB included (removed by :func:`_join`)."""
        target = self.secondary[-1][1] if self.secondary else self.parts
        target.append(text)
        self.lines.append(line)
        self.last_seq = seq

    def add_secondary(self, label: str, text: str, line: Line, seq: int) -> None:
        self.secondary.append((label, [text]))
        self.lines.append(line)
        self.last_seq = seq

    def freeze(self) -> LogEntry:
        return LogEntry(
            self.fields,  # read-only already
            self.severity,
            _join(self.parts),
            tuple((label, _join(parts)) for label, parts in self.secondary),
            tuple(self.lines),
        )


def _join(parts: list[str]) -> str:
    """A text and its continuation lines as one text."""
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


class ReferenceAssembler:
    """Streaming assembler: ``feed`` lines, get finished entries back; ``flush`` at the end.

    State is kept per ``Line.stream``; rejects go to ``on_reject``."""

    def __init__(self, prefix: LinePrefix, on_reject: Callable[[Reject], None] | None = None,
                 window: int = DEFAULT_WINDOW) -> None:
        self.prefix = prefix
        self.on_reject = on_reject or (lambda reject: None)
        self.window = window
        self._streams: dict[str, _StreamState] = {}
        self._key_escape = "p" if "p" in prefix.escapes else ("c" if "c" in prefix.escapes else "")

    def feed(self, line: Line) -> list[LogEntry]:
        """Take one physical line; return the entries it completed (possibly none)."""
        state = self._streams.get(line.stream)
        if state is None:
            state = self._streams[line.stream] = _StreamState()
        state.seq += 1
        text = line.text
        parsed, starts = parse_start(text, self.prefix)
        if parsed is None:
            if text.startswith("\t"):
                if state.last is None or state.last.closed:
                    self._reject(line, "continuation line without a message before it")
                else:
                    state.last.continue_with(text, line, state.seq)
                return self._ready(state)
            reason = "empty line" if not text else "line does not match log_line_prefix"
            self._reject(line, reason)
            state.last = None
            return self._ready(state)
        key = parsed.fields.get(self._key_escape, "") if self._key_escape else ""
        if not starts:  # a DETAIL/HINT/STATEMENT... line of the message before it
            owner = state.open.get(key)
            if owner is None or owner.closed:
                self._reject(line, f"{parsed.severity} line without its message")
                state.last = None
            else:
                owner.add_secondary(parsed.severity, parsed.message, line, state.seq)
                state.last = owner
            return self._ready(state)
        previous = state.open.get(key)
        if previous is not None:
            previous.closed = True
        building = _Building(parsed.fields, parsed.severity, parsed.message, line, key, state.seq)
        state.open[key] = building
        state.order.append(building)
        state.last = building
        return self._ready(state)

    def flush(self) -> list[LogEntry]:
        """Emit every entry still open, in the order they started (end of input)."""
        done: list[LogEntry] = []
        for state in self._streams.values():
            while state.order:
                done.append(self._emit(state, state.order.popleft()))
            state.last = None
        return done

    def pending_lines(self) -> list[Line]:
        """The lines of entries not emitted yet (for sources that acknowledge input)."""
        return [line for state in self._streams.values() for b in state.order for line in b.lines]

    def _ready(self, state: _StreamState) -> list[LogEntry]:
        order = state.order
        if not order:
            return []
        head = order[0]
        if not head.closed and state.seq - head.last_seq <= self.window:
            return []
        done: list[LogEntry] = []
        while order:
            head = order[0]
            if not head.closed and state.seq - head.last_seq <= self.window:
                break
            done.append(self._emit(state, order.popleft()))
        return done

    def _emit(self, state: _StreamState, building: _Building) -> LogEntry:
        building.closed = True
        if state.open.get(building.key) is building:
            del state.open[building.key]
        return building.freeze()

    def _reject(self, line: Line, reason: str) -> None:
        self.on_reject(Reject(line.source, line.number, reason, line.text))
