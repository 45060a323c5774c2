"""SQS source: competing consumers that delete a message only after its records are out.

A :class:`SqsConsumer` long-polls a queue for batches of up to 10 messages, parses each
batch (one :class:`~pgaudit_parse.parser.Parser`, flushed at the end of the batch: the
forwarder keeps an entry's lines in one message), writes the events to the sink, flushes
it (fsync for files) and only then deletes the batch with DeleteMessageBatch. A message
that cannot be read becomes a dead-letter entry (``--errors``) and is deleted too: never
dropped silently, never re-delivered forever.

While a batch is being processed, a heartbeat thread extends the visibility timeout of
its messages (ChangeMessageVisibilityBatch), so a slow batch is not handed to another
consumer. A consumer killed mid-batch leaves its messages to reappear after the
visibility timeout: the records of at most that one batch are written twice.

>>> SqsConsumer.heartbeat_interval(30)
10.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..lines import Reject
from ..parser import Parser
from ..prefix import RDS_PREFIX, LinePrefix
from ..sinks import OutputSink
from .errors import AwsSetupError, explain
from .messages import decode_body
from .naming import instance_for_stream

__all__ = ["SqsConsumer"]

_MAX_MESSAGES = 10


class _Heartbeat:
    """Keeps a batch invisible to other consumers while it is processed."""

    def __init__(self, sqs: Any, queue_url: str, receipts: dict[str, str], timeout: int,
                 interval: float) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.receipts = receipts
        self.timeout = timeout
        self.interval = interval
        self.extended = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            entries = [{"Id": key, "ReceiptHandle": handle, "VisibilityTimeout": self.timeout}
                       for key, handle in self.receipts.items()]
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url,
                                                         Entries=entries)
                self.extended += 1
            except Exception:  # noqa: BLE001 - best effort; deletion decides correctness
                pass


class SqsConsumer:
    """Drains (or follows) one queue into a sink; see the module documentation."""

    def __init__(self, sqs: Any, queue_url: str, sink: OutputSink, *,
                 prefix: str | LinePrefix = RDS_PREFIX, wait_seconds: int = 20,
                 visibility_timeout: int | None = None, instance: str | None = None,
                 on_batch: Callable[[int], None] | None = None,
                 batch_size: int = _MAX_MESSAGES) -> None:
        self.sqs = sqs
        self.batch_size = max(1, min(_MAX_MESSAGES, batch_size))
        self.queue_url = queue_url
        self.sink = sink
        self.prefix = prefix
        self.wait_seconds = max(0, min(20, wait_seconds))
        self.instance = instance
        self.on_batch = on_batch
        self.messages = 0
        self.batches = 0
        self.visibility_timeout = visibility_timeout or self._queue_visibility_timeout()

    @staticmethod
    def heartbeat_interval(visibility_timeout: int) -> float:
        """Seconds between visibility extensions: a third of the timeout.

        >>> SqsConsumer.heartbeat_interval(1)
        0.3333333333333333
        """
        return max(0.25, visibility_timeout / 3)

    def _queue_visibility_timeout(self) -> int:
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        except Exception as exc:
            raise AwsSetupError(explain(exc, f"opening queue {self.queue_url}")) from exc
        return int(attributes.get("VisibilityTimeout", 30))

    def receive(self) -> list[dict[str, Any]]:
        """One long poll: up to 10 messages (empty when the queue stayed empty)."""
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self.wait_seconds, VisibilityTimeout=self.visibility_timeout)
        except Exception as exc:
            raise AwsSetupError(explain(exc, f"receiving from queue {self.queue_url}")) from exc
        return list(response.get("Messages", []))

    def run(self, follow: bool = False, stop: threading.Event | None = None) -> int:
        """Process batches until a receive comes back empty (or forever with ``follow``,
        until ``stop`` is set); returns the number of messages processed."""
        while stop is None or not stop.is_set():
            batch = self.receive()
            if not batch:
                if follow:
                    continue
                break
            self.process(batch)
        return self.messages

    def process(self, batch: list[dict[str, Any]]) -> None:
        """Parse, write, flush, then delete one batch."""
        receipts = {str(i): m["ReceiptHandle"] for i, m in enumerate(batch)}
        interval = self.heartbeat_interval(self.visibility_timeout)
        with _Heartbeat(self.sqs, self.queue_url, receipts, self.visibility_timeout, interval):
            self._write_batch(batch)
            self.sink.flush(durable=True)
        self._delete(receipts)
        self.messages += len(batch)
        self.batches += 1
        if self.on_batch is not None:
            self.on_batch(len(batch))

    def _write_batch(self, batch: list[dict[str, Any]]) -> None:
        parser = Parser(self.prefix, on_reject=self.sink.reject)
        groups: dict[str, str | None] = {}
        write = self.sink.write
        for message in batch:
            message_id = str(message.get("MessageId", ""))
            source = f"{self.queue_url}#{message_id}"
            body = message.get("Body")
            if not isinstance(body, str) or not body.strip():
                self.sink.reject(Reject(source, 0, "empty SQS message body", str(body or "")))
                continue
            group, lines = decode_body(body, source)
            for line in lines:
                if line.stream and group:
                    groups[line.stream] = group
                for event in parser.feed(line):
                    write(event, self._instance(groups, event.stream))
        for event in parser.flush():
            write(event, self._instance(groups, event.stream))

    def _instance(self, groups: dict[str, str | None], stream: str) -> str | None:
        if self.instance:
            return self.instance
        group = groups.get(stream)
        if group:
            return instance_for_stream(group, stream)
        return stream or None

    def _delete(self, receipts: dict[str, str]) -> None:
        pending = dict(receipts)
        for _ in range(3):
            try:
                response = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": key, "ReceiptHandle": h} for key, h in pending.items()])
            except Exception as exc:
                raise AwsSetupError(explain(exc, f"deleting from queue {self.queue_url}")) \
                    from exc
            for ok in response.get("Successful", []):
                pending.pop(ok["Id"], None)
            if not pending:
                return
        # Not deleted: SQS will deliver them again and their records will repeat.
        raise AwsSetupError(f"could not delete {len(pending)} processed message(s) from "
                            f"{self.queue_url}; they will be delivered again")
