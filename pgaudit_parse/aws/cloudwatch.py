"""CloudWatch Logs source: FilterLogEvents over log groups, checkpointed, lossless.

A :class:`CloudWatchReader` reads each log group in time slices ``[start, end]`` (ms,
inclusive), all pages of each slice (``nextToken``), and feeds every event's lines to one
:class:`~pgaudit_parse.parser.Parser` per group (lines carry ``stream=logStreamName`` and
``ref=eventId``, so each log stream, i.e. each DB instance, is assembled apart). After a
slice, the sink is flushed (fsync for files) and only then the checkpoint is replaced:

* events whose lines the parser still holds (``Parser.pending_lines()``: an ERROR waiting
  for its STATEMENT line) are not done: the checkpoint time moves at most to the oldest
  of them, and the ids of the done events from there on are stored as ``seen``;
* otherwise the checkpoint is the high-water mark: the newest timestamp written and the
  ids written at that millisecond.

A restart re-queries from the checkpoint time and skips ``seen``: nothing is lost, and
what was written twice is at most the slice that was being read when the process died.
Because the checkpoint is the newest event written (not the time the run stopped), an
event ingested after a run but stamped later than everything it wrote, even in the same
millisecond, is read by the next run. An event ingested later still with an older
timestamp is only caught with ``--lag`` (the caller stops reading that far behind now).
Events are not ordered across streams by FilterLogEvents, so a slice is the unit of
progress, never a position inside one. Slices grow when empty and shrink when busy.

>>> slice_end(0, 300_000, 10**12)
299999
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..events import DEFAULT_STATEMENT_CACHE_BYTES
from ..lines import Line, stream_name
from ..parser import Parser
from ..prefix import RDS_PREFIX, LinePrefix
from ..pump import Batch, Hold, ParserStage, Pump, parser_stages
from ..sinks import Sink
from ..sources import lines_from_cloudwatch_events
from .checkpoint import Checkpoint, CheckpointFile, HighWater
from .errors import AwsSetupError, explain
from .naming import instance_for_stream

__all__ = [
    "CloudWatchReader",
    "now_ms",
    "earliest_event_time",
    "start_position",
    "filter_events",
    "next_span",
    "plan_slice",
    "resolve_log_groups",
    "slice_end",
    "first_event_after",
    "INITIAL_SPAN_MS",
    "SETTLED_MS",
]

#: First slice length; doubled (x4) after empty slices, halved after busy ones.
INITIAL_SPAN_MS = 5 * 60 * 1000
_MAX_SPAN_MS = 24 * 3600 * 1000
_MIN_SPAN_MS = 1000
#: A slice with more events than this halves the next slice (bounds re-reads and memory).
_BUSY_SLICE = 5000
#: Empty time older than this before the end of a read is settled: the checkpoint moves
#: through it (so a run stopped early over a long quiet stretch still makes progress).
#: Closer to the end it stays at the newest event written, for events ingested late.
SETTLED_MS = INITIAL_SPAN_MS


def slice_end(start: int, span: int, end: int) -> int:
    """The last millisecond of the slice that begins at ``start`` (never past ``end``).

    >>> slice_end(100, 50, 120)
    120
    """
    return min(end, start + span - 1)


def next_span(span: int, count: int) -> int:
    """The next slice length after a slice of ``span`` ms that held ``count`` events.

    >>> next_span(1000, 0), next_span(1000, 10), next_span(8000, 9000)
    (4000, 1000, 4000)
    """
    if count == 0:
        return min(_MAX_SPAN_MS, span * 4)
    if count > _BUSY_SLICE:
        return max(_MIN_SPAN_MS, span // 2)
    return span


def resolve_log_groups(logs: Any, names: list[str], prefix: str | None) -> list[str]:
    """The log groups to read: ``names`` plus every group whose name starts with ``prefix``.

    Raises :class:`AwsSetupError` when the prefix matches nothing.
    """
    groups = list(dict.fromkeys(names))
    if prefix:
        found: list[str] = []
        try:
            paginator = logs.get_paginator("describe_log_groups")
            for page in paginator.paginate(logGroupNamePrefix=prefix):
                found.extend(g["logGroupName"] for g in page.get("logGroups", []))
        except Exception as exc:
            raise AwsSetupError(explain(exc, f"listing log groups with prefix {prefix}")) from exc
        if not found:
            raise AwsSetupError(f"no log group name starts with {prefix!r}: check the prefix "
                                f"and the region")
        groups.extend(name for name in found if name not in groups)
    return groups


def earliest_event_time(logs: Any, group: str) -> int | None:
    """The oldest ``firstEventTimestamp`` of the group's streams (streams without events
    do not have one), or None when no stream has events.

    Used only where reading starts far back (no checkpoint yet), so that
    ``--from-beginning`` does not walk years of empty slices.
    """
    earliest: int | None = None
    try:
        for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group):
            for stream in page.get("logStreams", []):
                first = stream.get("firstEventTimestamp")
                if isinstance(first, int) and (earliest is None or first < earliest):
                    earliest = first
    except Exception as exc:
        raise AwsSetupError(explain(exc, f"reading log group {group}")) from exc
    return earliest


def start_position(logs: Any, group: str, start_ms: int) -> int:
    """Where to start reading a group without a checkpoint: ``start_ms``, or a day before
    its oldest event when that is later and ``start_ms`` is more than a day back (the
    margin covers events put later with older timestamps)."""
    if now_ms() - start_ms <= _MAX_SPAN_MS:
        return start_ms
    earliest = earliest_event_time(logs, group)
    if earliest is None:
        return max(start_ms, now_ms() - _MAX_SPAN_MS)  # no events at all yet
    return max(start_ms, earliest - _MAX_SPAN_MS)


def plan_slice(logs: Any, group: str, start: int, span: int, end: int, skip_through: int,
               pattern: str | None = None) -> tuple[int, int]:
    """The next slice ``[start, stop]`` and the span to go on with.

    The first slice after a restart covers every id the checkpoint skips. A slice that
    grew long over empty time is first probed (one event): when events lie ahead, the
    slice is cut back to a normal span from the first one found, so that the burst after
    a quiet stretch is not read (and, after a crash, re-read) in one piece.
    """
    floor = min(skip_through, end)
    stop = max(slice_end(start, span, end), floor)
    if stop - start + 1 > INITIAL_SPAN_MS and stop > floor:
        first = next(iter(filter_events(logs, group, start, stop, pattern, page_size=1)), None)
        if first is not None:
            found = max(start, int(first.get("timestamp", start)))
            stop = max(min(stop, found + INITIAL_SPAN_MS - 1), floor)
            span = INITIAL_SPAN_MS
    return stop, span


def first_event_after(logs: Any, group: str, start: int, end: int,
                      pattern: str | None = None) -> int:
    """Where reading should go on after an empty slice that ended at ``start - 1``: the
    timestamp of the first event in ``[start, end]``, or ``end + 1`` when there is none
    (one probe, instead of walking empty slices one by one)."""
    if start > end:
        return start
    first = next(iter(filter_events(logs, group, start, end, pattern, page_size=1)), None)
    if first is None:
        return end + 1
    return max(start, int(first.get("timestamp", start)))


def filter_events(logs: Any, group: str, start: int, end: int, pattern: str | None = None,
                  page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Every event of ``group`` with ``start <= timestamp <= end``, all pages.

    Each event is FilterLogEvents' dict (``eventId``, ``timestamp``, ``logStreamName``,
    ``message``, ...). Client errors become :class:`AwsSetupError` with a one-line reason.
    """
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start, "endTime": end}
    if pattern:
        kwargs["filterPattern"] = pattern
    if page_size:
        kwargs["limit"] = page_size
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            yield from page.get("events", [])
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                return
            kwargs["nextToken"] = token
    except AwsSetupError:
        raise
    except Exception as exc:
        raise AwsSetupError(explain(exc, f"reading log group {group}")) from exc


@dataclass(slots=True)
class _GroupState:
    """Where one log group stands: the durable checkpoint and the in-memory position."""

    checkpoint: Checkpoint
    position: int
    skip: frozenset[str]
    skip_through: int
    span: int = INITIAL_SPAN_MS
    #: eventId -> timestamp of events fed (or skipped) since the last checkpoint, plus
    #: the still-pending events of the slice before.
    inflight: dict[str, int] = field(default_factory=dict)
    #: The newest timestamp of the events done in this run, and the ids done at it.
    high: HighWater = field(default_factory=HighWater)
    #: Ids of events whose records the sink holds after the last slice (see ``Hold``).
    kept: set[str] = field(default_factory=set)


class CloudWatchReader:
    """Reads log groups into a sink with a durable checkpoint (or none).

    ``poll(end)`` reads every group up to ``end`` (ms) and checkpoints after each slice;
    ``finish()`` flushes what the parsers hold (end of input) and checkpoints the end.
    """

    def __init__(self, logs: Any, groups: list[str], sink: Sink, *,
                 prefix: str | LinePrefix = RDS_PREFIX,
                 store: CheckpointFile | None = None,
                 start_ms: int = 0, filter_pattern: str | None = None,
                 page_size: int | None = None, instance: str | None = None,
                 on_slice: Callable[[str, int, int, int], None] | None = None,
                 max_state_bytes: int = DEFAULT_STATEMENT_CACHE_BYTES) -> None:
        self.logs = logs
        self.groups = groups
        self.sink = sink
        self.store = store
        self.filter_pattern = filter_pattern
        self.page_size = page_size
        self.instance = instance
        self.on_slice = on_slice
        self.events_read = 0
        # the groups share the <previously logged> budget (docs/memory.md)
        self.pump: Pump[Line] = Pump(sink, parser_stages(
            prefix, sink, max_state_bytes // max(1, len(groups))))
        saved = store.load() if store is not None else {}
        self._saved: dict[str, Checkpoint] = dict(saved)
        self._states: dict[str, _GroupState] = {}
        for group in groups:
            checkpoint = saved.get(group)
            if checkpoint is None:
                checkpoint = Checkpoint(start_position(logs, group, start_ms))
            through = checkpoint.through if checkpoint.through is not None else checkpoint.time
            self._states[group] = _GroupState(
                checkpoint=checkpoint,
                position=checkpoint.time,
                skip=checkpoint.seen,
                skip_through=through,
            )

    def _parsers(self) -> list[Parser]:
        return [stage.parser for stage in self.pump.stages() if isinstance(stage, ParserStage)]

    @property
    def evicted_statements(self) -> int:
        """Statements the groups' parsers evicted to stay within ``max_state_bytes``."""
        return sum(parser.evicted_statements for parser in self._parsers())

    @property
    def unresolved_statements(self) -> int:
        """Audit lines that kept ``<previously logged>``."""
        return sum(parser.unresolved_statements for parser in self._parsers())

    def position(self, group: str) -> int:
        """The first millisecond of ``group`` not read yet in this run."""
        return self._states[group].position

    def poll(self, end: int, stop: Callable[[], bool] | None = None) -> int:
        """Read every group up to ``end`` (epoch ms, inclusive); returns events read.

        ``stop()`` is asked between slices (a follow mode shutting down).
        """
        total = 0
        for group in self.groups:
            total += self._read_group(group, end, stop)
        return total

    def finish(self) -> None:
        """End of input: emit what the parsers hold, flush, checkpoint every group."""
        for group, state in self._states.items():
            self.pump.process(Batch((), ack=partial(self._finished, group, state),
                                    flush=True, partition=group,
                                    instance=self._instance_of(group)))

    def _finished(self, group: str, state: _GroupState, held: Sequence[Line]) -> None:
        state.high.advance(state.inflight)
        state.inflight = {}
        state.checkpoint = state.high.checkpoint() or state.checkpoint
        self._saved[group] = state.checkpoint
        self._save()

    def _instance_of(self, group: str) -> Callable[[str], str | None]:
        fixed = self.instance
        return lambda key: fixed or instance_for_stream(group, stream_name(key))

    def _read_group(self, group: str, end: int, stop_now: Callable[[], bool] | None) -> int:
        state = self._states[group]
        total = 0
        while state.position <= end:
            if stop_now is not None and stop_now():
                break
            start = state.position
            stop, state.span = plan_slice(self.logs, group, start, state.span, end,
                                          state.skip_through, self.filter_pattern)
            counter = [0]

            def held_before(line: Line, state: _GroupState = state,
                            start: int = start) -> bool:
                # Held since the slice before: no more lines will come for it; emit it
                # so that the checkpoint (and memory) can move on. (Only it: a message
                # begun in this slice may get its STATEMENT line in the next.)
                return state.inflight.get(_ref(line), start) < start

            self.pump.process(Batch(
                self._slice_lines(group, state, start, stop, counter),
                ack=partial(self._slice_done, group, state, start, stop, end, counter),
                release=held_before, partition=group, instance=self._instance_of(group),
                hold=Hold(partial(self._held_before, group, state, start),
                          partial(self._keep, group, state))))
            count = counter[0]
            total += count
            state.span = next_span(state.span, count)
            state.position = stop + 1
            if state.skip and stop >= state.skip_through:
                state.skip = frozenset()
            if count == 0 and not state.inflight:
                state.position = first_event_after(self.logs, group, stop + 1, end,
                                                   self.filter_pattern)
            if self.on_slice is not None:
                self.on_slice(group, start, stop, count)
        return total

    def _slice_lines(self, group: str, state: _GroupState, start: int, stop: int,
                     counter: list[int]) -> Iterator[Line]:
        for event in filter_events(self.logs, group, start, stop, self.filter_pattern,
                                   self.page_size):
            event_id = str(event.get("eventId"))
            state.inflight[event_id] = int(event.get("timestamp", start))
            if event_id in state.skip:
                continue
            counter[0] += 1
            self.events_read += 1
            source = f"{group}/{event.get('logStreamName', '')}#{event_id}"
            # (streams keyed by group and name: two groups' streams of the same name are
            # two instances' logs, apart in the sink's sessions and executions too)
            yield from lines_from_cloudwatch_events([event], source, group=group)

    @staticmethod
    def _held_before(group: str, state: _GroupState, start: int, source: str) -> bool:
        """A record held by the sink (an execution waiting for its ``duration:`` line)
        with a line of an event of this group held since the slice before: no more lines
        are coming for it; write it, so that the checkpoint can move on."""
        if not source.startswith(group + "/"):
            return False  # (another group's: judged when that group is read)
        stamp = state.inflight.get(source.rpartition("#")[2])
        return stamp is None or stamp < start

    @staticmethod
    def _keep(group: str, state: _GroupState, sources: Iterable[str]) -> None:
        """The events of this group whose records the sink still holds: the checkpoint
        stays before them (a restart reads them again), like lines the parser holds."""
        state.kept = {source.rpartition("#")[2] for source in sources
                      if source.startswith(group + "/")}

    def _slice_done(self, group: str, state: _GroupState, start: int, stop: int, end: int,
                    counter: list[int], held: Sequence[Line]) -> None:
        settled_empty = counter[0] == 0 and stop < end - SETTLED_MS
        self._checkpoint(group, state, start, stop, held, settled_empty)

    def _checkpoint(self, group: str, state: _GroupState, start: int, stop: int,
                    held: Sequence[Line], settled_empty: bool) -> None:
        pending = {_ref(line) for line in held}
        pending.update(ref for ref in state.kept if ref in state.inflight)
        state.kept = set()
        done = {eid: ts for eid, ts in state.inflight.items() if eid not in pending}
        state.high.advance(done)
        if pending:
            oldest = min(state.inflight.get(ref, start) for ref in pending)
            seen = frozenset(eid for eid, ts in done.items() if ts >= oldest)
            state.checkpoint = Checkpoint(oldest, seen, stop)
        elif state.high.time is not None and (not settled_empty or state.high.time >= start):
            state.checkpoint = state.high.checkpoint() or state.checkpoint
        elif settled_empty and state.checkpoint.time < start:
            # Nothing pending and [start, stop] empty and settled: everything before
            # ``start`` is done, and the ids seen before it no longer matter.
            state.checkpoint = Checkpoint(start)
        state.inflight = {ref: state.inflight[ref] for ref in pending if ref in state.inflight}
        self._saved[group] = state.checkpoint
        self._save()

    def _save(self) -> None:
        if self.store is not None:
            self.store.save(self._saved)


def _ref(line: Line) -> str:
    return str(line.ref)


def now_ms() -> int:
    """The current time in epoch milliseconds.

    >>> now_ms() > 1_700_000_000_000
    True
    """
    return int(time.time() * 1000)
