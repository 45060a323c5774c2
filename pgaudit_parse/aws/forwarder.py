"""The forwarder: CloudWatch Logs -> SQS, checkpointed in an SSM parameter.

One :meth:`Forwarder.run` is one invocation of the seed's scheduled Lambda, done right:

1. read the checkpoint (SSM parameter; the seed's bare ``LastExecutionTimestamp`` value is
   read as a start time) or start at ``start_ms``;
2. read the log group from there up to *now minus a safety lag* (CloudWatch may still be
   ingesting the last seconds), in time slices, all pages of each;
3. pack the events into JSON bodies (:mod:`~pgaudit_parse.aws.messages`) and send them
   with SendMessageBatch, retrying the entries SQS reports as failed;
4. after a slice is completely sent, store the checkpoint: the newest timestamp sent and
   the ids sent at that millisecond.

Window edges are exact: a slice ``[a, b]`` includes both ends, and the next run queries
again from the newest timestamp sent, skipping the ids it already sent there, so two
consecutive runs neither skip nor repeat an event, even one ingested after the first run
in the millisecond where it stopped. A run that dies mid-slice re-sends at most that
slice.

A PostgreSQL message is never split by a run boundary: at the end of its window a run
holds back, per log stream, the last message if it began within ``hold_ms``
(:data:`DEFAULT_HOLD_MS`) of the end (an ERROR whose STATEMENT line is not in CloudWatch
yet, a pgAudit statement whose ``<previously logged>`` lines may follow), together with
everything after the earliest such start, and stops its checkpoint before them; the next
run sends them with the lines that complete them, in one message. Which event starts a
message is :class:`~pgaudit_parse.aws.messages.EntryBoundary`'s rule.

Every run is a pump (:mod:`pgaudit_parse.pump`): a slice of CloudWatch events is a batch,
the sink packs and sends them (:class:`ForwardSink`), and only when SQS has accepted every
message of the slice is the checkpoint saved. Through empty time that is settled (more than
:data:`~pgaudit_parse.aws.cloudwatch.SETTLED_MS` before the end) the checkpoint moves on,
and the run jumps to the next event with one probe.

Debug logging (``--debug``, ``ENABLE_DEBUG``) names slices, counts and ids; never
credentials, never log text.

>>> BatchSender.fits([], "x" * 10)
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..lines import Reject
from ..prefix import RDS_PREFIX
from ..pump import Batch, PassThrough, Pump
from .checkpoint import Checkpoint, HighWater, ParameterCheckpoint
from .cloudwatch import (
    INITIAL_SPAN_MS,
    SETTLED_MS,
    filter_events,
    first_event_after,
    next_span,
    plan_slice,
    start_position,
)
from .errors import AwsSetupError, explain
from .messages import LEGACY_BODY_BYTES, MAX_BODY_BYTES, EntryBoundary, MessagePacker

__all__ = ["Forwarder", "ForwardResult", "BatchSender", "ForwardSink", "DEFAULT_LAG_MS",
           "DEFAULT_HOLD_MS", "held_tail", "queue_message_limit", "MIN_MESSAGE_BYTES"]

#: The smallest body limit a queue can have (SQS's lower bound of MaximumMessageSize).
MIN_MESSAGE_BYTES = 1024

#: How far behind "now" a run stops: CloudWatch may still be ingesting the last seconds.
DEFAULT_LAG_MS = 30_000
#: A stream's last PostgreSQL message that began this close to the end of a run's window
#: waits for the next run (its STATEMENT/DETAIL lines may not be in CloudWatch yet).
DEFAULT_HOLD_MS = 10_000
_BATCH_ENTRIES = 10
_SEND_ATTEMPTS = 6
#: SSM standard parameters hold 4 KB.
_MAX_PARAMETER_CHARS = 4000

log = logging.getLogger("pgaudit_parse.forward")


@dataclass(frozen=True, slots=True)
class ForwardResult:
    """What one run did: events read, messages sent, and the window ``[start, end]`` (ms).

    >>> ForwardResult(3, 1, 0, 9, 10).complete
    True
    """

    events: int
    messages: int
    start: int
    end: int
    checkpoint: int

    @property
    def complete(self) -> bool:
        """True when the run reached the end of its window (not stopped by a deadline)."""
        return self.checkpoint > self.end


def queue_message_limit(sqs: Any, queue_url: str) -> int:
    """The largest body ``queue_url`` accepts: its MaximumMessageSize (at most SQS's
    :data:`~pgaudit_parse.aws.messages.MAX_BODY_BYTES`), or
    :data:`~pgaudit_parse.aws.messages.LEGACY_BODY_BYTES`, which every queue accepts, when
    the attribute cannot be read (a role without ``sqs:GetQueueAttributes``)."""
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"])["Attributes"]
        value = int(attributes["MaximumMessageSize"])
    except Exception as exc:  # noqa: BLE001 - a safe default instead
        log.debug("cannot read MaximumMessageSize of the queue (%s); messages of at most "
                  "%d bytes", type(exc).__name__, LEGACY_BODY_BYTES)
        return LEGACY_BODY_BYTES
    return max(MIN_MESSAGE_BYTES, min(MAX_BODY_BYTES, value))


def _size_hint(text: str) -> str:
    """What to do when SQS refuses a body for its size (the queue's MaximumMessageSize is
    below the limit we packed to)."""
    if "shorter than" in text or "MaximumMessageSize" in text or "too long" in text:
        return ("; the queue takes smaller messages: give --max-message-bytes (the Lambda's "
                "MAX_MESSAGE_BYTES) its MaximumMessageSize")
    return ""


class BatchSender:
    """Sends bodies with SendMessageBatch (10 entries and 1 MiB per call at most; each
    body at most ``limit``, the queue's MaximumMessageSize).

    Entries SQS reports as failed are re-sent with backoff; entries that can never
    succeed (``SenderFault``) or still fail after several attempts raise AwsSetupError.
    With ``defer``, nothing goes out before :meth:`flush` (so every body has been built,
    and its size checked, before the first is sent). On a FIFO queue (``.fifo``) each
    message carries a deduplication id made from its body: a retried invocation that
    sends the same bodies again within SQS's five-minute window sends nothing twice. Bodies
    that may be the same text for distinct inputs (two executions rendered as the same
    record) need ``dedup_key``, a text naming the input (the same on a retry, another for
    other input): the id is then made from it and the body's place in the sequence.
    """

    def __init__(self, sqs: Any, queue_url: str,
                 sleep: Callable[[float], None] = time.sleep, defer: bool = False,
                 group_id: str = "pgaudit-parse", dedup_key: str | None = None,
                 limit: int = MAX_BODY_BYTES) -> None:
        self.sqs = sqs
        self.limit = limit
        self.dedup_key = dedup_key
        self._count = 0  # bodies queued so far: each one's place in the sequence
        self.queue_url = queue_url
        self.sent = 0
        self.defer = defer
        self.fifo = queue_url.endswith(".fifo")
        self.group_id = group_id
        self._bodies: list[tuple[str, int]] = []  # (body, its place)
        self._waiting: list[str] = []
        self._sleep = sleep

    def _entry(self, key: str, body: str, place: int) -> dict[str, str]:
        entry = {"Id": key, "MessageBody": body}
        if self.fifo:
            entry["MessageGroupId"] = self.group_id
            named = body if self.dedup_key is None else f"{self.dedup_key}\n{place}"
            entry["MessageDeduplicationId"] = hashlib.sha256(named.encode("utf-8")).hexdigest()
        return entry

    @staticmethod
    def fits(bodies: list[str], body: str) -> bool:
        """True when ``body`` can join ``bodies`` in one SendMessageBatch call."""
        size = sum(len(b.encode("utf-8")) for b in bodies) + len(body.encode("utf-8"))
        return len(bodies) < _BATCH_ENTRIES and size <= MAX_BODY_BYTES

    def add(self, bodies: list[str]) -> None:
        """Queue bodies; full batches go out at once (unless ``defer``)."""
        if self.defer:
            self._waiting.extend(bodies)
            return
        self._add(bodies)

    def _add(self, bodies: list[str]) -> None:
        for body in bodies:
            if len(body.encode("utf-8")) > self.limit:
                raise AwsSetupError(f"a message of {len(body.encode('utf-8'))} bytes is over "
                                    f"the limit of {self.limit} for {self.queue_url}")
            if not self.fits([b for b, _ in self._bodies], body):
                self._send()
            self._bodies.append((body, self._count))
            self._count += 1

    def flush(self) -> None:
        """Send whatever is queued; returns when SQS has accepted every entry."""
        waiting, self._waiting = self._waiting, []
        if waiting:
            self._add(waiting)
        self._send()

    def _send(self) -> None:
        if not self._bodies:
            return
        entries = {str(i): item for i, item in enumerate(self._bodies)}
        self._bodies = []
        for attempt in range(_SEND_ATTEMPTS):
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[self._entry(key, body, place)
                             for key, (body, place) in entries.items()])
            except Exception as exc:
                line = explain(exc, f"sending to queue {self.queue_url}")
                raise AwsSetupError(line + _size_hint(line)) from exc
            for ok in response.get("Successful", []):
                if entries.pop(ok["Id"], None) is not None:
                    self.sent += 1
            failed = response.get("Failed", [])
            if not entries:
                return
            fatal = [f for f in failed if f.get("SenderFault")]
            if fatal:
                text = " ".join(str(fatal[0].get("Message", "")).split())
                raise AwsSetupError(
                    f"SQS refused a message for queue {self.queue_url} "
                    f"({fatal[0].get('Code')}): {text}{_size_hint(text)}")
            delay = min(20.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0)
            log.warning("%d message(s) not accepted by SQS (%s); retrying in %.1fs",
                        len(entries), failed[0].get("Code") if failed else "?", delay)
            self._sleep(delay)
        raise AwsSetupError(f"SQS kept failing {len(entries)} message(s) for queue "
                            f"{self.queue_url}; the checkpoint was not moved, rerun later")


class ForwardSink:
    """The forwarder's sink: CloudWatch events -> JSON bodies (one packer per stream) ->
    SendMessageBatch. ``flush(durable=True)`` closes the bodies and returns once SQS has
    accepted all of them."""

    def __init__(self, group: str, sender: BatchSender, starts_entry: EntryBoundary,
                 message_bytes: int = MAX_BODY_BYTES) -> None:
        self.group = group
        self.sender = sender
        self.starts_entry = starts_entry
        self.message_bytes = message_bytes
        self.written = 0
        self.rejected = 0
        self.skipped = 0
        self._packers: dict[str, MessagePacker] = {}

    def write(self, item: Any, instance: str | None = None) -> None:
        stream = str(item.get("logStreamName", ""))
        packer = self._packers.get(stream)
        if packer is None:
            packer = self._packers[stream] = MessagePacker(self.group, self.message_bytes)
        message = item.get("message")
        starts = self.starts_entry(message) if isinstance(message, str) else True
        self.sender.add(packer.add(item, starts))
        self.written += 1

    def reject(self, reject: Reject) -> None:
        self.rejected += 1

    def flush(self, durable: bool = False) -> None:
        if not durable:
            return
        for packer in self._packers.values():
            self.sender.add(packer.close())
        self._packers = {}
        self.sender.flush()

    def close(self) -> None:
        self.flush(durable=True)


def held_tail(events: list[dict[str, Any]], end: int, hold_ms: int,
              starts_entry: Callable[[str], bool]) -> int:
    """The last millisecond to send of a window ending at ``end``: before the start of
    every stream's last message that began after ``end - hold_ms``, and before the start
    of any message that would then be cut in two (in whichever stream).

    ``events`` are FilterLogEvents' events of the window's tail, in its order.

    >>> starts = lambda m: not m.startswith("STATEMENT")
    >>> held_tail([{"timestamp": 5, "message": "ERROR", "logStreamName": "a"}], 9, 10, starts)
    4
    >>> held_tail([{"timestamp": 5, "message": "ERROR", "logStreamName": "a"},
    ...            {"timestamp": 6, "message": "STATEMENT", "logStreamName": "a"},
    ...            {"timestamp": 7, "message": "LOG", "logStreamName": "a"}], 9, 10, starts)
    6
    >>> held_tail([{"timestamp": 8, "message": "STATEMENT", "logStreamName": "a"}], 9, 5, starts)
    9
    """
    streams: dict[str, list[tuple[int, bool]]] = {}
    for event in events:
        message = event.get("message")
        streams.setdefault(str(event.get("logStreamName", "")), []).append(
            (int(event.get("timestamp", end)),
             starts_entry(message) if isinstance(message, str) else True))
    floor = end - hold_ms
    cut = end
    for items in streams.values():
        last = max((i for i, (_, starts) in enumerate(items) if starts), default=None)
        if last is not None and items[last][0] > floor:  # else it began before the tail
            cut = min(cut, items[last][0] - 1)
    changed = True
    while changed:
        changed = False
        for items in streams.values():
            first = next((i for i, (ts, _) in enumerate(items) if ts > cut), None)
            if first is None:
                continue
            start = next((i for i in range(first, -1, -1) if items[i][1]), None)
            if start is None:
                continue  # the message began before the tail: too long to hold back
            begins = items[start][0]
            if floor < begins <= cut:
                cut = begins - 1
                changed = True
    return cut


class Forwarder:
    """Forwards one log group to one queue; see the module documentation.

    ``deadline()`` (e.g. a Lambda's remaining time) is asked between slices: when it says
    stop, the run ends with its checkpoint at the last slice it completed.
    """

    def __init__(self, logs: Any, sqs: Any, group: str, queue_url: str,
                 store: ParameterCheckpoint | None, *, prefix: str = RDS_PREFIX,
                 lag_ms: int = DEFAULT_LAG_MS, start_ms: int = 0,
                 filter_pattern: str | None = None, page_size: int | None = None,
                 deadline: Callable[[], bool] | None = None,
                 message_bytes: int | None = None, hold_ms: int = DEFAULT_HOLD_MS) -> None:
        self.logs = logs
        if message_bytes is None:  # what the queue accepts
            message_bytes = queue_message_limit(sqs, queue_url)
        self.message_bytes = max(MIN_MESSAGE_BYTES, min(message_bytes, MAX_BODY_BYTES))
        self.group = group
        self.store = store
        self.lag_ms = lag_ms
        self.start_ms = start_ms
        self.filter_pattern = filter_pattern
        self.page_size = page_size
        self.deadline = deadline
        self.hold_ms = hold_ms
        self.sender = BatchSender(sqs, queue_url, limit=self.message_bytes)
        self.starts_entry = EntryBoundary(prefix)
        self.sink = ForwardSink(group, self.sender, self.starts_entry, self.message_bytes)
        self.pump: Pump[dict[str, Any]] = Pump(self.sink, lambda partition: PassThrough())

    def run(self, now_ms: int) -> ForwardResult:
        """Forward everything from the checkpoint up to ``now_ms - lag``."""
        loaded = self.store.load() if self.store is not None else None
        checkpoint = loaded or Checkpoint(start_position(self.logs, self.group, self.start_ms))
        end = now_ms - self.lag_ms
        position = checkpoint.time
        skip = checkpoint.seen
        skip_through = checkpoint.through if checkpoint.through is not None else position
        span = INITIAL_SPAN_MS
        events = 0
        sent_before = self.sender.sent
        state = _RunState(checkpoint, loaded)
        while position <= end:
            if self.deadline is not None and self.deadline():
                log.debug("deadline: stopping before %d", position)
                break
            stop, span = plan_slice(self.logs, self.group, position, span, end, skip_through,
                                    self.filter_pattern)
            items = list(self._slice_events(position, stop, skip, state))
            cut = stop
            if stop >= end and self.hold_ms > 0:
                tail = [e for e in items if int(e.get("timestamp", stop)) > end - self.hold_ms]
                cut = held_tail(tail, end, self.hold_ms, self.starts_entry)
                if cut < stop:
                    held = [e for e in items if int(e.get("timestamp", stop)) > cut]
                    log.debug("holding %d event(s) after %d for the next run", len(held), cut)
                    items = [e for e in items if int(e.get("timestamp", stop)) <= cut]
            count = len(items)
            settled = count == 0 and not state.skipped and stop < end - SETTLED_MS
            self.pump.process(Batch(items, ack=partial(self._acknowledge, state, items,
                                                       position, settled)))
            events += count
            log.debug("slice %d..%d of %s: %d event(s) sent, %d message(s) so far",
                      position, cut, self.group, count, self.sender.sent - sent_before)
            if cut < stop:
                position = stop + 1
                break
            span = next_span(span, count)
            position = stop + 1
            skip = frozenset()
            if count == 0 and not state.skipped:
                position = first_event_after(self.logs, self.group, position, end,
                                             self.filter_pattern)
            state.skipped = False
        return ForwardResult(events, self.sender.sent - sent_before, state.checkpoint.time,
                             end, position)

    def _slice_events(self, start: int, stop: int, skip: frozenset[str],
                      state: _RunState) -> Iterator[dict[str, Any]]:
        for event in filter_events(self.logs, self.group, start, stop,
                                   self.filter_pattern, self.page_size):
            event_id = str(event.get("eventId"))
            if event_id in skip:
                state.advance(event_id, int(event.get("timestamp", start)))
                state.skipped = True
                continue
            yield event

    def _acknowledge(self, state: _RunState, sent: list[dict[str, Any]], start: int,
                     settled_empty: bool, held: Sequence[Any] = ()) -> None:
        """After SQS accepted the slice's messages: move and save the checkpoint."""
        for event in sent:
            state.advance(str(event.get("eventId")), int(event.get("timestamp", start)))
        checkpoint = state.checkpoint
        marked = state.mark.checkpoint()
        if marked is not None and marked.time >= start:
            checkpoint = marked
            if len(json.dumps(checkpoint.to_json())) > _MAX_PARAMETER_CHARS:
                # Too many events in one millisecond for an SSM parameter: the only
                # cost of moving past it is missing events ingested later at that ms.
                checkpoint = Checkpoint(marked.time + 1)
        elif settled_empty and checkpoint.time < start:
            checkpoint = Checkpoint(start)
        elif marked is not None and checkpoint.time < marked.time:
            checkpoint = marked
        if self.store is not None and (checkpoint != state.checkpoint or state.loaded is None):
            self.store.save(checkpoint)
            state.loaded = checkpoint
            log.debug("checkpoint %d (%d id(s) seen there)", checkpoint.time,
                      len(checkpoint.seen))
        state.checkpoint = checkpoint


class _RunState:
    """One run's checkpoint and its high-water mark (the newest events sent)."""

    def __init__(self, checkpoint: Checkpoint, loaded: Checkpoint | None) -> None:
        self.checkpoint = checkpoint
        self.loaded = loaded
        self.mark = HighWater()
        self.skipped = False

    def advance(self, event_id: str, timestamp: int) -> None:
        self.mark.advance({event_id: timestamp})
