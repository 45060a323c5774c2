"""SQS source: competing consumers that delete a message only after its records are out.

An :class:`SqsSource` long-polls a queue for up to 10 messages at a time and yields pump
batches (:mod:`pgaudit_parse.pump`) of their lines; every line carries its message id as
``ref``. After the sink's durable flush the pump acknowledges the batch: the source
deletes (DeleteMessageBatch) every message none of whose lines is still held, either by
the parser (an ERROR waiting for its STATEMENT) or by the reorder buffer below. Held
messages stay in flight: a heartbeat thread extends their visibility timeout
(ChangeMessageVisibilityBatch) until they are deleted, so no other consumer gets them. A
consumer killed mid-batch leaves its messages to reappear after the visibility timeout:
the records of what it held are written again, never lost.

A body that cannot be decoded (bad base64 or gzip, invalid JSON, wrong types, too large)
is a dead letter (``--errors``: reason, queue and message id, raw body) and is deleted
with the batch; the rest of the batch is processed.

**Reorder window.** The forwarder's messages hold whole PostgreSQL messages of one stream,
in order, and are parsed as they come. The seed Lambda sent one CloudWatch event per
message (``str(dict)``); a STATEMENT, DETAIL or continuation line may arrive in a message
of its own, and a standard queue does not keep order. Those events are assembled per
``logStreamName`` like any CloudWatch event: each waits in a per-stream buffer ordered by
(timestamp, eventId) until the stream has shown an event at least ``window`` later (by
the events' own timestamps, so a backlog is read in order however fast it is read), or
the stream has been quiet for ``window`` seconds, or the queue is drained; then it is
parsed in that order. An event that arrives more than ``window`` late is parsed where it
arrives.

**FIFO queues** (``.fifo``) deliver no message of a group while one of it is in flight,
and keep each group in order, so a held message cannot stay in flight: the message that
completes it is behind it. Instead it is *given back*: after the durable write of
everything before it, its visibility is set to 0 (it is again the first of its group, not
deleted), the parser forgets the lines it still held, and the source remembers which of
its lines those were. The next receive brings it again, followed by the messages after
it; only its remembered lines are parsed again, now with the STATEMENT or DETAIL line that
completes them. So a message cut by a receive boundary comes out whole, exactly as from
the file, while other groups go on. A message that comes back with nothing new after it
(the group's last) is parsed to its end: at once when draining, after ``window`` seconds
when following. A consumer killed in between loses nothing: the message is still in the
queue (the next consumer reads all of it again, so what was written of it before, entries
that ended before the held one, may be written twice: at-least-once).

>>> SqsSource.heartbeat_interval(30)
10.0
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..lines import Line, Reject, stream_group, stream_key, stream_name, without_surrogates
from ..prefix import RDS_PREFIX, LinePrefix
from ..pump import Batch, Hold, Pump, parser_stages
from ..sinks import Sink, holds_records
from ..sources import lines_from_cloudwatch_events
from .errors import AwsSetupError, explain, hide_credentials
from .messages import BodyError, decode_message
from .naming import instance_for_stream

__all__ = ["SqsSource", "SqsConsumer", "DEFAULT_REORDER_SECONDS"]

_MAX_MESSAGES = 10
_DELETE_ATTEMPTS = 4
#: Written messages whose delete failed, remembered (by id) to be deleted, not written
#: again, when SQS delivers them again.
_MAX_UNDELETED = 100_000
#: Visibility timeout when the queue's is 0 (SQS's default): a message must stay hidden
#: while its records are written, or another consumer reads it meanwhile.
_DEFAULT_VISIBILITY = 30

log = logging.getLogger("pgaudit_parse.sqs")
#: How long a seed Lambda event waits for earlier events of its stream (seconds).
DEFAULT_REORDER_SECONDS = 5.0


class _Heartbeat:
    """Keeps the held messages invisible to other consumers while they are held."""

    def __init__(self, sqs: Any, queue_url: str, timeout: int, interval: float) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.timeout = timeout
        self.interval = interval
        self.receipts: dict[str, str] = {}
        self.lock = threading.Lock()
        self.extended = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            # (under the lock: a message given back to a FIFO queue, visibility 0, must
            # not be extended again by a call that read its receipt before)
            with self.lock:
                items = list(self.receipts.items())
                for i in range(0, len(items), _MAX_MESSAGES):
                    self.change(items[i:i + _MAX_MESSAGES], self.timeout)

    def change(self, items: list[tuple[str, str]], timeout: int) -> bool:
        """ChangeMessageVisibilityBatch for up to 10 (message id, receipt) pairs; best
        effort (a message not changed reappears after its visibility timeout)."""
        entries = [{"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": timeout}
                   for n, (_, handle) in enumerate(items)]
        try:
            answer = self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url,
                                                              Entries=entries)
        except Exception:  # noqa: BLE001 - best effort; deletion decides correctness
            return False
        self.extended += 1
        return not answer.get("Failed")


@dataclass(frozen=True, slots=True)
class _GivenBack:
    """A FIFO message made visible again while lines of it were held: the numbers of the
    lines to read again when it comes back, and when (clock) it was first received."""

    numbers: frozenset[int]
    first: float


@dataclass(order=True, slots=True)
class _Waiting:
    """A seed event in its stream's reorder buffer, ordered by (timestamp, eventId)."""

    key: tuple[int, int, str, int]
    received: float = field(compare=False)
    message_id: str = field(compare=False)
    lines: list[Line] = field(compare=False)


class SqsSource:
    """Drains (or follows) one queue as pump batches; see the module documentation."""

    def __init__(self, sqs: Any, queue_url: str, *, wait_seconds: int = 20,
                 visibility_timeout: int | None = None, instance: str | None = None,
                 batch_size: int = _MAX_MESSAGES, follow: bool = False,
                 stop: threading.Event | None = None,
                 reorder_seconds: float = DEFAULT_REORDER_SECONDS,
                 on_batch: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self._name = hide_credentials(queue_url)  # names dead letters' source
        # A FIFO queue delivers no message of a group while one of it is in flight, and
        # keeps each group in order: holding a message would only block what follows it.
        self.fifo = queue_url.endswith(".fifo")
        self.batch_size = max(1, min(_MAX_MESSAGES, batch_size))
        self.wait_seconds = max(0, min(20, wait_seconds))
        self.instance = instance
        self.follow = follow
        self.stop = stop or threading.Event()
        self.reorder_ms = int(reorder_seconds * 1000)
        self.reorder_seconds = reorder_seconds
        self.on_batch = on_batch
        self.clock = clock
        self.messages = 0
        self.dead = 0
        #: message id -> whether to retry its delete (True: the delete failed for a passing
        #: reason, the heartbeat keeps the message hidden; False: SQS refused the receipt).
        #: Messages written whose delete did not go through; one that SQS delivers again
        #: is deleted then, not written twice (see :meth:`_take`). At most
        #: ``_MAX_UNDELETED``, oldest forgotten first.
        self._undeleted: dict[str, bool] = {}
        self._sleep = time.sleep
        self.visibility_timeout = visibility_timeout or self._queue_visibility_timeout()
        self._heartbeat = _Heartbeat(sqs, queue_url, self.visibility_timeout,
                                     self.heartbeat_interval(self.visibility_timeout))
        self._received: dict[str, float] = {}  # message id -> when (clock) it came
        # (per stream key: log group and stream name)
        self._waiting: dict[str, list[_Waiting]] = {}  # stream -> heap
        self._newest: dict[str, int] = {}  # stream -> newest timestamp seen
        self._arrived: dict[str, float] = {}  # stream -> when (clock) its last event came
        self._sequence = 0
        self._given_back: dict[str, _GivenBack] = {}  # FIFO: message id -> lines to re-read
        self.given_back = 0  # FIFO messages made visible again (they came back or will)
        self._pause = False  # FIFO, following: the last receive brought nothing new
        #: message ids whose lines the sink's held records need (see :meth:`_keep_sources`)
        self._kept: set[str] = set()

    @property
    def undeleted(self) -> int:
        """Messages written whose delete SQS has not confirmed (yet): each is deleted when
        a later acknowledgement's retry goes through or SQS delivers it again; if another
        consumer gets it meanwhile, its records are written twice (at least once)."""
        return len(self._undeleted)

    @staticmethod
    def heartbeat_interval(visibility_timeout: int) -> float:
        """Seconds between visibility extensions: a third of the timeout.

        >>> SqsSource.heartbeat_interval(1)
        0.3333333333333333
        """
        return max(0.25, visibility_timeout / 3)

    def _queue_visibility_timeout(self) -> int:
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        except Exception as exc:
            raise AwsSetupError(explain(exc, f"opening queue {self.queue_url}")) from exc
        return int(attributes.get("VisibilityTimeout", 0)) or _DEFAULT_VISIBILITY

    def receive(self) -> list[dict[str, Any]]:
        """One long poll: up to 10 messages (empty when the queue stayed empty)."""
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self.wait_seconds, VisibilityTimeout=self.visibility_timeout)
        except Exception as exc:
            raise AwsSetupError(explain(exc, f"receiving from queue {self.queue_url}")) from exc
        return list(response.get("Messages", []))

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Extend the visibility of the held messages while the block runs."""
        self._heartbeat.start()
        try:
            yield
        finally:
            self._heartbeat.stop()

    # -- batches ---------------------------------------------------------------------

    def batches(self) -> Iterator[Batch[Line]]:
        """Batches until a receive comes back empty and nothing is held (or, following,
        until ``stop`` is set)."""
        with self.heartbeat():
            while True:
                stopping = self.stop.is_set()
                if stopping and (self._received or self._undeleted):
                    yield self._stop_batch()
                    return
                messages = [] if stopping else self.receive()
                drained = not messages
                if messages or self._received:
                    yield self.batch_of(messages, everything=drained)
                if drained and not self._received and (stopping or not self.follow):
                    return
                if self._pause:  # a FIFO group's last message waits for what follows it
                    self.stop.wait(min(0.5, self.reorder_seconds))

    def batch_of(self, messages: list[dict[str, Any]], everything: bool = False
                 ) -> Batch[Line]:
        """The batch of received messages: their lines (seed events once their wait is
        over, or all of them with ``everything``), their dead letters, and the
        acknowledgement that deletes what is no longer held."""
        lines, rejects, fresh = self._take(messages)
        if self.fifo:
            if not messages:
                self._given_back.clear()  # not coming back to us: another consumer has them
            settled = everything or self._settled(len(messages), fresh)
            self._pause = bool(messages) and not fresh and not settled
            return Batch(lines, ack=self._ack, flush=settled, release=self._stale(),
                         rejects=rejects, instance=self._instance, withdraw=True)
        lines += self._release(everything)
        stale = self._stale()
        return Batch(lines, ack=self._ack, flush=everything, release=stale,
                     rejects=rejects, instance=self._instance,
                     hold=Hold(self._stale_source(stale), self._keep_sources))

    def _stop_batch(self) -> Batch[Line]:
        """The last batch of a consumer told to stop (SIGTERM while following) before its
        input ended: what is complete is written and deleted; what is held (lines the
        parser holds, an ERROR waiting for its STATEMENT; seed events in the reorder
        window; records the sink holds, an execution waiting for its ``duration:`` line)
        is given back to the queue, visible again at once and not deleted, instead of
        being written cut: the next consumer reads it whole. (What was written of a
        given-back message, entries before the held one, is written again: at least
        once.)"""
        return Batch((), ack=self._ack_stopping, withdraw=True, instance=self._instance,
                     hold=Hold(lambda source: False, self._keep_sources, forget=True))

    def _ack_stopping(self, held: Sequence[Line]) -> None:
        back = {str(line.ref) for line in held}
        back.update(mid for mid in self._kept if mid in self._received)
        self._kept = set()
        for heap in self._waiting.values():
            back.update(item.message_id for item in heap)
        self._waiting.clear()
        with self._heartbeat.lock:
            items = [(mid, self._heartbeat.receipts.pop(mid)) for mid in back
                     if mid in self._heartbeat.receipts]
            for i in range(0, len(items), _MAX_MESSAGES):
                # (one not changed reappears after its visibility timeout: later, not lost)
                self._heartbeat.change(items[i:i + _MAX_MESSAGES], 0)
        for mid in back:
            self._received.pop(mid, None)
        self.given_back += len(back)
        self._ack(())

    def _settled(self, received: int, fresh: int) -> bool:
        """FIFO: whether the held messages are to be parsed to their end now: a receive
        brought only messages given back (nothing after them in their group yet, or no
        room for it), all of them came back, and (following) they have waited the reorder
        window or filled the receive."""
        if not received or fresh or self._given_back:
            return False
        if not self.follow or received >= self.batch_size:
            return True
        oldest = min(self._received.values(), default=self.clock())
        return self.clock() - oldest >= self.reorder_seconds

    def _take(self, messages: list[dict[str, Any]]
              ) -> tuple[list[Line], list[Reject], int]:
        """Decode received messages: forwarder lines now, seed events to the buffers.
        Also returns how many messages were new (not given back, not in hand)."""
        now = self.clock()
        lines: list[Line] = []
        rejects: list[Reject] = []
        fresh = 0
        for message in messages:
            message_id = str(message.get("MessageId", ""))
            with self._heartbeat.lock:
                again = message_id in self._received
                self._heartbeat.receipts[message_id] = message["ReceiptHandle"]
            if again:  # re-delivered while we hold it: its lines are already in hand
                continue
            if message_id in self._undeleted:
                # written before, but its delete did not go through: delete it with this
                # receipt at this batch's acknowledgement; its records are not written again
                self._undeleted[message_id] = True
                continue
            back = self._given_back.pop(message_id, None)
            self._received[message_id] = now if back is None else back.first
            fresh += back is None
            source = f"{self._name}#{message_id}"
            body = message.get("Body")
            try:
                decoded = decode_message(body if isinstance(body, str) else "")
            except BodyError as exc:
                rejects.append(Reject(source, 0, f"SQS message {message_id}: {exc}",
                                      exc.raw if exc.raw is not None else str(body or "")))
                self.dead += 1
                continue
            # (streams are keyed by log group and name: several instances' streams of
            # the same name in one queue are assembled apart, and each names its own
            # instance; see :func:`~pgaudit_parse.lines.stream_key`)
            numbered = [Line(line.text, source, line.number, line.stream, message_id)
                        for line in lines_from_cloudwatch_events(decoded.events, source,
                                                                 group=decoded.group)
                        if back is None or line.number in back.numbers]
            if not decoded.loose or self.fifo:  # (a FIFO group comes in order)
                lines.extend(numbered)
                continue
            event = decoded.events[0]
            stream = stream_key(decoded.group, without_surrogates(event["logStreamName"]))
            timestamp = event["timestamp"]
            if timestamp is None:
                lines.extend(numbered)  # nothing to order it by
                continue
            event_id = event["eventId"] or ""
            self._sequence += 1
            heapq.heappush(self._waiting.setdefault(stream, []), _Waiting(
                (timestamp, len(event_id), event_id, self._sequence), now, message_id,
                numbered))
            self._newest[stream] = max(self._newest.get(stream, timestamp), timestamp)
            self._arrived[stream] = now
        return lines, rejects, fresh

    def _release(self, everything: bool) -> list[Line]:
        """Seed events whose wait is over, in (timestamp, eventId) order per stream."""
        out: list[Line] = []
        quiet = self.clock() - self.reorder_seconds
        for stream, heap in self._waiting.items():
            if everything or self._arrived.get(stream, quiet) <= quiet:
                watermark = None  # the stream went quiet: nothing earlier is coming
            else:
                watermark = self._newest.get(stream, 0) - self.reorder_ms
            while heap and (watermark is None or heap[0].key[0] <= watermark):
                out.extend(heapq.heappop(heap).lines)
        return out

    def _stale(self) -> Callable[[Line], bool]:
        limit = self.clock() - 2 * self.reorder_seconds

        def stale(line: Line) -> bool:
            # Held by the parser for long (an idle stream's last message): give it up,
            # so that its message can be deleted (only it and what began before it in
            # its stream: a message begun since may get its STATEMENT line next).
            return self._received.get(str(line.ref), limit) <= limit

        return stale

    def _stale_source(self, stale: Callable[[Line], bool]) -> Callable[[str], bool]:
        """``stale`` for a record's source (``queue#message-id``): its message has been
        held for twice the reorder window (an idle session's last execution, whose
        ``duration:`` line may never come)."""
        def stale_source(source: str) -> bool:
            message_id = source.rpartition("#")[2]
            return message_id not in self._received or stale(
                Line("", source, 0, "", message_id))

        return stale_source

    def _keep_sources(self, sources: Iterable[str]) -> None:
        """The sink still holds records made from lines of these sources: their messages
        stay in flight (not deleted) until the records are written."""
        self._kept = {source.rpartition("#")[2] for source in sources}

    def _ack(self, held: Sequence[Line]) -> None:
        if self.fifo and held:
            self._give_back(held)
            held = ()
        keep = {str(line.ref) for line in held}
        keep.update(mid for mid in self._kept if mid in self._received)
        self._kept = set()
        for heap in self._waiting.values():
            keep.update(item.message_id for item in heap)
        done = [mid for mid in self._received if mid not in keep]
        # (and the written messages whose delete failed for a passing reason, or that came
        # again: not acknowledged until SQS confirms their delete)
        done += [mid for mid, retry in self._undeleted.items() if retry]
        deleted = self._delete(done) if done else set()
        for mid in done:
            self._received.pop(mid, None)
        self.messages += len(deleted)
        if self.on_batch is not None:
            self.on_batch(len(deleted))

    def _give_back(self, held: Sequence[Line]) -> None:
        """FIFO: make the messages of held lines visible again (the parser has forgotten
        those lines), remembering which lines to read again when they come back."""
        numbers: dict[str, set[int]] = {}
        for line in held:
            numbers.setdefault(str(line.ref), set()).add(line.number)
        with self._heartbeat.lock:
            items = [(mid, self._heartbeat.receipts.pop(mid)) for mid in numbers
                     if mid in self._heartbeat.receipts]
            for i in range(0, len(items), _MAX_MESSAGES):
                # (one not changed reappears after its visibility timeout: later, not lost)
                self._heartbeat.change(items[i:i + _MAX_MESSAGES], 0)
        for mid, lines in numbers.items():
            first = self._received.pop(mid, self.clock())
            self._given_back[mid] = _GivenBack(frozenset(lines), first)
        self.given_back += len(numbers)

    def _instance(self, key: str) -> str | None:
        """The instance of a stream (its key names the log group its messages name)."""
        if self.instance:
            return self.instance
        stream = stream_name(key)
        group = stream_group(key)
        if group:
            return instance_for_stream(group, stream)
        return stream or None

    def _delete(self, message_ids: list[str]) -> set[str]:
        """DeleteMessageBatch the written messages; returns those SQS deleted. The others
        are remembered in ``_undeleted``: retried at the next acknowledgement (a passing
        failure: their receipts stay with the heartbeat, which keeps them hidden), or
        deleted when SQS delivers them again (a receipt SQS refuses)."""
        with self._heartbeat.lock:
            receipts = {mid: self._heartbeat.receipts.pop(mid) for mid in message_ids
                        if mid in self._heartbeat.receipts}
        for mid in message_ids:
            if mid not in receipts and self._undeleted.get(mid):
                self._undeleted[mid] = False  # (no receipt to retry with: when it comes)
        items = list(receipts.items())
        deleted: set[str] = set()
        for i in range(0, len(items), _MAX_MESSAGES):
            pending = dict(items[i:i + _MAX_MESSAGES])
            refused: dict[str, str] = {}  # message id -> SQS's code, for good
            for attempt in range(_DELETE_ATTEMPTS):
                keys = list(pending)
                try:
                    response = self.sqs.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": str(n), "ReceiptHandle": pending[k]}
                                 for n, k in enumerate(keys)])
                except Exception as exc:
                    raise AwsSetupError(explain(exc, f"deleting from queue {self.queue_url}")) \
                        from exc
                for ok in response.get("Successful", []):
                    key = keys[int(ok["Id"])]
                    if pending.pop(key, None) is not None:
                        deleted.add(key)
                        self._undeleted.pop(key, None)
                for failed in response.get("Failed", []):
                    if failed.get("SenderFault"):  # (a receipt no longer valid: retrying
                        key = keys[int(failed["Id"])]  # cannot help)
                        refused[key] = str(failed.get("Code") or "?")
                        pending.pop(key, None)
                if not pending:
                    break
                if attempt + 1 < _DELETE_ATTEMPTS:
                    self._sleep(0.2 * 2 ** attempt)
            # The records of these messages are written (the sink flushed durably before
            # this acknowledgement); a message not deleted is not acknowledged: its delete
            # is retried (pending: the heartbeat keeps it hidden meanwhile), or, refused,
            # done when SQS delivers it again to this consumer, without writing it again.
            # If it leaves the queue some other way (purged, expired, taken by another
            # consumer after its visibility ran out) its records may be written twice,
            # never lost. So the consumer says so and goes on; it does not stop.
            codes = sorted(set(refused.values()) | ({"not deleted"} if pending else set()))
            missed = len(refused) + len(pending)
            for key in refused:
                self._remember_undeleted(key, False)
            with self._heartbeat.lock:
                self._heartbeat.receipts.update(pending)
            for key in pending:
                self._remember_undeleted(key, True)
            if missed:
                log.warning("%d written message(s) not deleted from %s (%s): %s", missed,
                            self._name, ", ".join(codes),
                            "retried at the next batch" if pending and not refused else
                            "SQS may deliver them again (then they are deleted, not "
                            "written again)")
        return deleted

    def _remember_undeleted(self, message_id: str, retry: bool) -> None:
        self._undeleted.pop(message_id, None)
        self._undeleted[message_id] = retry
        while len(self._undeleted) > _MAX_UNDELETED:
            del self._undeleted[next(iter(self._undeleted))]


class SqsConsumer:
    """An :class:`SqsSource` pumped into a sink through the parser (the ``sqs`` command).

    >>> SqsConsumer.heartbeat_interval(30)
    10.0
    """

    heartbeat_interval = staticmethod(SqsSource.heartbeat_interval)

    def __init__(self, sqs: Any, queue_url: str, sink: Sink, *,
                 prefix: str | LinePrefix = RDS_PREFIX,
                 wait_seconds: int = 20, visibility_timeout: int | None = None,
                 instance: str | None = None, on_batch: Callable[[int], None] | None = None,
                 batch_size: int = _MAX_MESSAGES,
                 reorder_seconds: float = DEFAULT_REORDER_SECONDS) -> None:
        self.sink = sink
        self.source = SqsSource(sqs, queue_url, wait_seconds=wait_seconds,
                                visibility_timeout=visibility_timeout, instance=instance,
                                batch_size=batch_size, reorder_seconds=reorder_seconds,
                                on_batch=on_batch)
        self.pump: Pump[Line] = Pump(sink, parser_stages(prefix, sink))

    @property
    def visibility_timeout(self) -> int:
        return self.source.visibility_timeout

    @property
    def messages(self) -> int:
        return self.source.messages

    def receive(self) -> list[dict[str, Any]]:
        """One long poll (see :meth:`SqsSource.receive`)."""
        return self.source.receive()

    def run(self, follow: bool = False, stop: threading.Event | None = None) -> int:
        """Process batches until the queue is drained (or, with ``follow``, until ``stop``
        is set); returns the number of messages deleted."""
        self.source.follow = follow
        if stop is not None:
            self.source.stop = stop
        try:
            self.pump.run(self.source)
        except BaseException:
            # Interrupted (SIGTERM without --follow), or the sink failed: the input of the
            # records the sink holds is not acknowledged (SQS delivers it again, whole), so
            # closing the sink must not write them cut now.
            if holds_records(self.sink):
                self.sink.forget_held()
            raise
        return self.source.messages

    def process(self, messages: list[dict[str, Any]]) -> None:
        """Parse, write, flush, then delete messages already received (all of them: the
        reorder buffer and the parser are emptied)."""
        with self.source.heartbeat():
            self.pump.process(self.source.batch_of(messages, everything=True))
