"""The pump: every command and Lambda handler moves data the same way.

A *source* yields :class:`Batch`\\ es of items (log lines, or CloudWatch events for the
forwarder) with an acknowledgement; a *stage* turns items into outputs (the
:class:`~pgaudit_parse.parser.Parser`: lines -> events; or a pass-through); a *sink*
writes the outputs (files, stdout, SQS). The invariant, as in Vector's end-to-end
acknowledgements:

    a source forgets input (deletes an SQS message, saves a checkpoint, lets a Lambda
    invocation succeed) only after the sink's durable flush of everything made from it.

After each batch the pump asks the stage which items it still holds (an ERROR waiting for
its STATEMENT line), lets the batch decide whether to flush them now (``flush``) or give
up only those held since an earlier batch (``release``: a message begun in this batch
may get its STATEMENT line in the next, and is not cut), or, when the source gives held
input back to be read again (``withdraw``: a FIFO queue, where a message kept in flight
would hold back the message that completes it), makes the stage forget the messages that
may still be completed (and write the others); flushes
the sink durably (fsync for files, SendMessageBatch accepted for SQS) and then calls
``ack(held)``: the source acknowledges everything except the held items, which it keeps
(a message stays in flight, a checkpoint stays before them) until a later batch. With a
``hold``, the same goes for the records a :class:`~pgaudit_parse.sinks.HoldingSink` holds
(an execution whose ``duration:`` line is in the next batch): the sink keeps them through
its durable flush, and the source keeps their input until they are written.

>>> from pgaudit_parse.lines import Line
>>> from pgaudit_parse.sinks import ListSink
>>> acked = []
>>> sink = ListSink()
>>> pump = Pump(sink, parser_stages("%t:%r:%u@%d:[%p]:", sink))
>>> line = Line("2026-11-25 16:05:01 UTC::@:[7]:LOG:  hi", "f", 1)
>>> pump.process(Batch([line], ack=acked.append, flush=True))
>>> [e.message for e in sink.items], acked
(['hi'], [[]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .entries import LogEntry
from .events import Event
from .lines import Line, Reject
from .parser import Parser
from .prefix import LinePrefix
from .sinks import Sink, holds_records

__all__ = ["Batch", "Hold", "Source", "Stage", "Pump", "ParserStage", "EntryStage", "PassThrough",
           "parser_stages", "OneBatch"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """Items read together, and how to acknowledge them.

    ``items`` may be a generator (read while the pump writes); ``ack(held)`` is called
    after the sink's durable flush with the items the stage still holds; ``flush`` says
    whether the stage must give up what it holds before that (True, or a predicate on the
    held items); ``partition`` picks the stage (one parser per log group); ``rejects`` are
    inputs the source could not decode (dead letters); ``instance`` names the DB instance
    of a stream for the sink; ``release`` says which held items to give up now (held since
    an earlier batch) without giving up the messages begun after them, which a whole
    ``flush`` would cut (an ERROR whose STATEMENT line comes in the next batch);
    ``withdraw`` says that the source gives what is still held back to its input (to be
    read again with what completes it): the stage gives up what nothing more will complete,
    forgets the rest, and ``ack(held)`` names what it forgot; ``hold`` says that the
    source can keep the input of records the sink holds (a statement execution waiting
    for its ``duration:`` line) un-acknowledged, so the sink need not write them cut at
    this acknowledgement (see :class:`Hold`).
    """

    items: Iterable[T]
    ack: Callable[[Sequence[T]], None] = field(default=lambda held: None)
    flush: bool | Callable[[Sequence[T]], bool] = False
    partition: str = ""
    rejects: Sequence[Reject] = ()
    instance: Callable[[str], str | None] | None = None
    release: Callable[[T], bool] | None = None
    withdraw: bool = False
    hold: Hold | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """How a source keeps the input of records the sink holds (an execution waiting for
    its ``duration:`` line in a later batch) un-acknowledged, instead of having the sink
    write them, cut, at every acknowledgement (see :class:`~pgaudit_parse.sinks.HoldingSink`).

    ``stale(source)``: the input named ``source`` (a line's ``source``: ``queue#message``,
    ``group/stream#eventId``) has been kept long enough: the records holding it are
    written now. ``keep(sources)`` is called after the sink's durable flush, before
    ``ack``, with the sources of every record the sink still holds: the source must not
    forget them (no SQS delete, checkpoint before them).
    """

    stale: Callable[[str], bool]
    keep: Callable[[Iterable[str]], None]
    #: The source gives the input of the held records back (a consumer stopping: the next
    #: one reads it again, whole): after ``keep``, the sink forgets them unwritten.
    forget: bool = False


class Source(Protocol[T]):
    """Anything that yields batches; it stops when its input ends (or is told to)."""

    def batches(self) -> Iterator[Batch[T]]: ...


class OneBatch(Generic[T]):
    """A source of one batch: all items of an input (a file), flushed at its end; nothing
    to acknowledge (reading a file consumes nothing)."""

    def __init__(self, items: Iterable[T]) -> None:
        self.items = items

    def batches(self) -> Iterator[Batch[T]]:
        yield Batch(self.items, flush=True)


class Stage(Protocol[T]):
    """Turns items into outputs, possibly holding some items back."""

    def feed(self, item: T) -> list[Any]: ...

    def flush(self) -> list[Any]: ...

    def pending(self) -> list[T]: ...

    def release(self, stale: Callable[[T], bool]) -> list[Any]:
        """Give up the held items for which ``stale`` is true (and what must go with
        them); keep the rest."""
        ...

    def withdraw(self) -> tuple[list[Any], list[T]]:
        """Give up the held items that nothing more will complete (their outputs), and
        forget the others, which the source delivers again (their items)."""
        ...


class ParserStage:
    """The parser as a stage: lines in, events out; held lines are ``pending()``."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser
        self.feed = parser.feed
        self.flush = parser.flush
        self.release = parser.release

    def pending(self) -> list[Line]:
        return self.parser.pending_lines()

    def withdraw(self) -> tuple[list[Event], list[Line]]:
        return self.parser.withdraw()


class EntryStage:
    """The parser as a stage for whole messages (csvlog and jsonlog records): entries in,
    events out; nothing is held."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser

    def feed(self, entry: LogEntry) -> list[Event]:
        event = self.parser.feed_entry(entry)
        return [] if event is None else [event]

    def flush(self) -> list[Any]:
        return []

    def pending(self) -> list[LogEntry]:
        return []

    def release(self, stale: Callable[[LogEntry], bool]) -> list[Any]:
        return []

    def withdraw(self) -> tuple[list[Any], list[Any]]:
        return [], []


class PassThrough:
    """Items go to the sink as they are (the forwarder: CloudWatch events -> SQS)."""

    def feed(self, item: Any) -> list[Any]:
        return [item]

    def flush(self) -> list[Any]:
        return []

    def pending(self) -> list[Any]:
        return []

    def release(self, stale: Callable[[Any], bool]) -> list[Any]:
        return []

    def withdraw(self) -> tuple[list[Any], list[Any]]:
        return [], []


def parser_stages(prefix: str | LinePrefix, sink: Sink, max_state_bytes: int | None = None
                  ) -> Callable[[str], Stage[Line]]:
    """A stage factory: one parser per partition, rejects to the sink's dead letters
    (``max_state_bytes``: each parser's budget for ``<previously logged>`` statements)."""
    compiled = prefix if isinstance(prefix, LinePrefix) else LinePrefix(prefix)
    if max_state_bytes is None:
        return lambda partition: ParserStage(Parser(compiled, on_reject=sink.reject))
    return lambda partition: ParserStage(Parser(compiled, on_reject=sink.reject,
                                                max_state_bytes=max_state_bytes))


class Pump(Generic[T]):
    """Moves batches from a source through stages into one sink; see the module text."""

    def __init__(self, sink: Sink, stages: Callable[[str], Stage[T]]) -> None:
        self.sink = sink
        self._make_stage = stages
        self._stages: dict[str, Stage[T]] = {}
        self.batches = 0
        self.items = 0

    def stage(self, partition: str = "") -> Stage[T]:
        """The stage of a partition (made on first use)."""
        found = self._stages.get(partition)
        if found is None:
            found = self._stages[partition] = self._make_stage(partition)
        return found

    def stages(self) -> list[Stage[T]]:
        """The stages made so far (one per partition seen)."""
        return list(self._stages.values())

    def process(self, batch: Batch[T]) -> None:
        """Feed one batch, flush the sink durably, then acknowledge it."""
        sink = self.sink
        stage = self.stage(batch.partition)
        for reject in batch.rejects:
            sink.reject(reject)
        name = batch.instance
        feed = stage.feed
        count = 0
        for item in batch.items:
            count += 1
            out = feed(item)
            if out:
                self._write(out, name)
        held = stage.pending()
        flush = batch.flush
        if flush is True or (held and callable(flush) and flush(held)):
            self._write(stage.flush(), name)
            held = []
            flush = True
        elif held and batch.release is not None:
            released = stage.release(batch.release)
            if released:
                self._write(released, name)
            held = stage.pending()
        if held and batch.withdraw:
            released, held = stage.withdraw()
            if released:
                self._write(released, name)
        hold = batch.hold
        if hold is not None and flush is not True and holds_records(sink):
            # (records of executions still gathering lines stay held; their input stays
            # un-acknowledged: the same records as file mode, and nothing lost on a crash)
            busy = {stream for stream in (getattr(item, "stream", None) for item in held)
                    if isinstance(stream, str)}
            sink.release_held(hold.stale, busy)
            with sink.keeping_held():
                sink.flush(durable=True)
            hold.keep(sink.held_sources())
            if hold.forget:
                sink.forget_held()
        else:
            sink.flush(durable=True)
        batch.ack(held)
        self.batches += 1
        self.items += count

    def _write(self, out: list[Any], name: Callable[[str], str | None] | None) -> None:
        write = self.sink.write
        if name is None:
            for item in out:
                write(item)
        else:
            for item in out:
                write(item, name(item.stream))

    def run(self, source: Source[T]) -> int:
        """Process every batch of the source; returns the number of items."""
        before = self.items
        for batch in source.batches():
            self.process(batch)
        return self.items - before
