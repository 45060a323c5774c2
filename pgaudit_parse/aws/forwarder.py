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

>>> BatchSender.fits([], "x" * 10)
True
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..prefix import RDS_PREFIX
from .checkpoint import Checkpoint, HighWater, ParameterCheckpoint
from .cloudwatch import (
    INITIAL_SPAN_MS,
    filter_events,
    next_span,
    plan_slice,
    start_position,
)
from .errors import AwsSetupError, explain
from .messages import MAX_BODY_BYTES, EntryBoundary, MessagePacker

__all__ = ["Forwarder", "ForwardResult", "BatchSender", "DEFAULT_LAG_MS"]

#: How far behind "now" a run stops: CloudWatch may still be ingesting the last seconds.
DEFAULT_LAG_MS = 30_000
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


class BatchSender:
    """Sends bodies with SendMessageBatch (10 entries and 256 KiB per call at most).

    Entries SQS reports as failed are re-sent with backoff; entries that can never
    succeed (``SenderFault``) or still fail after several attempts raise AwsSetupError.
    """

    def __init__(self, sqs: Any, queue_url: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.sent = 0
        self._bodies: list[str] = []
        self._sleep = sleep

    @staticmethod
    def fits(bodies: list[str], body: str) -> bool:
        """True when ``body`` can join ``bodies`` in one SendMessageBatch call."""
        size = sum(len(b.encode("utf-8")) for b in bodies) + len(body.encode("utf-8"))
        return len(bodies) < _BATCH_ENTRIES and size <= MAX_BODY_BYTES

    def add(self, bodies: list[str]) -> None:
        """Queue bodies; full batches go out at once."""
        for body in bodies:
            if not self.fits(self._bodies, body):
                self.flush()
            self._bodies.append(body)

    def flush(self) -> None:
        """Send whatever is queued; returns when SQS has accepted every entry."""
        if not self._bodies:
            return
        entries = {str(i): body for i, body in enumerate(self._bodies)}
        self._bodies = []
        for attempt in range(_SEND_ATTEMPTS):
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in entries.items()])
            except Exception as exc:
                raise AwsSetupError(explain(exc, f"sending to queue {self.queue_url}")) from exc
            for ok in response.get("Successful", []):
                if entries.pop(ok["Id"], None) is not None:
                    self.sent += 1
            failed = response.get("Failed", [])
            if not entries:
                return
            fatal = [f for f in failed if f.get("SenderFault")]
            if fatal:
                raise AwsSetupError(
                    f"SQS refused a message for queue {self.queue_url} "
                    f"({fatal[0].get('Code')}): {fatal[0].get('Message', '')}")
            delay = min(20.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0)
            log.warning("%d message(s) not accepted by SQS (%s); retrying in %.1fs",
                        len(entries), failed[0].get("Code") if failed else "?", delay)
            self._sleep(delay)
        raise AwsSetupError(f"SQS kept failing {len(entries)} message(s) for queue "
                            f"{self.queue_url}; the checkpoint was not moved, rerun later")


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
                 message_bytes: int = MAX_BODY_BYTES) -> None:
        self.logs = logs
        self.message_bytes = min(message_bytes, MAX_BODY_BYTES)
        self.group = group
        self.store = store
        self.lag_ms = lag_ms
        self.start_ms = start_ms
        self.filter_pattern = filter_pattern
        self.page_size = page_size
        self.deadline = deadline
        self.sender = BatchSender(sqs, queue_url)
        self.starts_entry = EntryBoundary(prefix)

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
        high = HighWater()
        while position <= end:
            if self.deadline is not None and self.deadline():
                break
            stop, span = plan_slice(self.logs, self.group, position, span, end, skip_through,
                                    self.filter_pattern)
            done: dict[str, int] = {}
            count = self._forward_slice(position, stop, skip, done)
            events += count
            span = next_span(span, count)
            position = stop + 1
            skip = frozenset()
            high.advance(done)
            marked = high.checkpoint()
            if marked is not None:
                checkpoint = marked
                if len(json.dumps(checkpoint.to_json())) > _MAX_PARAMETER_CHARS:
                    # Too many events in one millisecond for an SSM parameter: the only
                    # cost of moving past it is missing events ingested later at that ms.
                    checkpoint = Checkpoint(marked.time + 1)
            if self.store is not None and (count or loaded is None):
                self.store.save(checkpoint)
                loaded = checkpoint
            log.debug("forwarded %d event(s) of %s up to %d", count, self.group, stop)
        return ForwardResult(events, self.sender.sent - sent_before, checkpoint.time, end,
                             position)

    def _forward_slice(self, start: int, stop: int, skip: frozenset[str],
                       done: dict[str, int]) -> int:
        packers: dict[str, MessagePacker] = {}
        count = 0
        for event in filter_events(self.logs, self.group, start, stop,
                                   self.filter_pattern, self.page_size):
            event_id = str(event.get("eventId"))
            done[event_id] = int(event.get("timestamp", start))
            if event_id in skip:
                continue
            count += 1
            stream = str(event.get("logStreamName", ""))
            packer = packers.get(stream)
            if packer is None:
                packer = packers[stream] = MessagePacker(self.group, self.message_bytes)
            message = event.get("message")
            starts = self.starts_entry(message) if isinstance(message, str) else True
            self.sender.add(packer.add(event, starts))
        for packer in packers.values():
            self.sender.add(packer.close())
        self.sender.flush()
        return count
