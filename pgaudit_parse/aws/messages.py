"""SQS message bodies: the forwarder's JSON format, and reading it (and the seed's) back.

The forwarder (CLI ``forward`` and the Lambda handlers) sends bodies of this form, several
CloudWatch events of one log stream per message, in stream order::

    {"v": 1, "logGroup": "/aws/rds/instance/db1/postgresql",
     "events": [{"eventId": "3761...", "timestamp": 1795622701000,
                 "logStreamName": "db1", "message": "2026-11-25 16:05:01 UTC:...:LOG:  AUDIT: ..."},
                ...]}

Event keys are CloudWatch's own (FilterLogEvents), so a body is also a CloudWatch export
that ``pgaudit-parse FILE`` reads. A body stays within SQS's 256 KiB; each event is whole
(a multi-line message is never cut), and a message is only cut before an event that
starts a new PostgreSQL message, so an ERROR and its STATEMENT line travel together. An
event too large for one body even alone is sent compressed:
``{"v": 1, "logGroup": ..., "encoding": "gzip+base64", "data": "<base64 of gzip of
{"events": [...]}>"}``. Bodies are pure ASCII JSON (non-ASCII is escaped), which SQS
always accepts.

>>> packer = MessagePacker("/g")
>>> packer.add({"eventId": "1", "timestamp": 5, "logStreamName": "s", "message": "m"})
[]
>>> body = packer.close()[0]
>>> group, lines = decode_body(body, "q")
>>> group, [(l.text, l.stream, l.ref) for l in lines]
('/g', [('m', 's', '1')])
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any, Final

from ..entries import parse_start
from ..lines import Line
from ..prefix import RDS_PREFIX, LinePrefix
from ..sources import lines_from_cloudwatch_events, lines_from_sqs_body

__all__ = [
    "MAX_BODY_BYTES",
    "FORMAT_VERSION",
    "MessagePacker",
    "MessageTooLarge",
    "EntryBoundary",
    "decode_body",
    "encode_event",
]

#: SQS's limit for one message and for the sum of one SendMessageBatch.
MAX_BODY_BYTES: Final = 256 * 1024
FORMAT_VERSION: Final = 1


class MessageTooLarge(ValueError):
    """One event does not fit an SQS message even compressed."""


def encode_event(event: dict[str, Any]) -> str:
    """The JSON text of one event in a body (CloudWatch keys, ASCII only).

    >>> encode_event({"eventId": "1", "timestamp": 2, "logStreamName": "s", "message": "é"})
    '{"eventId":"1","timestamp":2,"logStreamName":"s","message":"\\\\u00e9"}'
    """
    return json.dumps({"eventId": str(event.get("eventId", "")),
                       "timestamp": event.get("timestamp"),
                       "logStreamName": event.get("logStreamName", ""),
                       "message": event.get("message", "")},
                      separators=(",", ":"), ensure_ascii=True)


class EntryBoundary:
    """Tells whether a CloudWatch event starts a new PostgreSQL message.

    An event whose first line is a continuation (TAB) or a DETAIL/HINT/QUERY/CONTEXT/
    LOCATION/STATEMENT line belongs to the message before it and must travel with it; so
    do a ``duration:`` line and a ``<previously logged>`` audit line, which complete the
    statement before them.

    >>> starts = EntryBoundary(RDS_PREFIX)
    >>> starts("2026-11-25 16:05:01 UTC::@:[7]:ERROR:  x")
    True
    >>> starts("2026-11-25 16:05:01 UTC::@:[7]:STATEMENT:  select 1")
    False
    """

    def __init__(self, prefix: str | LinePrefix = RDS_PREFIX) -> None:
        self.prefix = prefix if isinstance(prefix, LinePrefix) else LinePrefix(prefix)

    def __call__(self, message: str) -> bool:
        parsed, starts = parse_start(message.split("\n", 1)[0], self.prefix)
        if parsed is None or not starts:
            return False
        text = parsed.message
        # log_min_duration_statement's line completes the statement logged before it
        # (the parser joins them into one record), and pgaudit.log_statement_once's
        # "<previously logged>" refers to the audit line before it: keep them together.
        return not (parsed.severity == "LOG" and (
            text.startswith("duration: ")
            or (text.startswith("AUDIT: ") and "<previously logged>" in text)))


class MessagePacker:
    """Packs the events of one log group (and one stream at a time) into bodies.

    ``add(event, starts_entry)`` returns the bodies it completed; ``close()`` the rest.
    Events are kept in order; a body is cut only before an event that starts an entry,
    unless one entry alone overflows a body.
    """

    def __init__(self, group: str, limit: int = MAX_BODY_BYTES) -> None:
        self.group = group
        self.limit = limit
        self._head = '{"v":1,"logGroup":' + json.dumps(group, ensure_ascii=True) + ',"events":['
        self._tail = "]}"
        self._events: list[str] = []
        self._stream: str | None = None
        self._size = 0  # bytes of the joined events
        self._unit_start = 0  # index of the first event of the entry being built

    def _body(self, events: list[str]) -> str:
        return self._head + ",".join(events) + self._tail

    def _fits(self, extra: int) -> bool:
        separators = len(self._events)
        return len(self._head) + self._size + separators + extra + len(self._tail) <= self.limit

    def add(self, event: dict[str, Any], starts_entry: bool = True) -> list[str]:
        """Add one event; returns the bodies completed by it (usually none)."""
        encoded = encode_event(event)
        stream = str(event.get("logStreamName", ""))
        done: list[str] = []
        if self._events and stream != self._stream:
            done.extend(self.close())
        self._stream = stream
        if self._events and not self._fits(len(encoded)):
            # Cut before the entry being built, unless it is the whole body.
            cut = len(self._events) if starts_entry or self._unit_start == 0 else self._unit_start
            done.append(self._body(self._events[:cut]))
            self._events = self._events[cut:]
            self._size = sum(len(e) for e in self._events)
            self._unit_start = 0
            if self._events and not self._fits(len(encoded)):
                done.append(self._body(self._events))  # one entry overflows a body
                self._events, self._size = [], 0
        if not self._events and not self._fits(len(encoded)):
            done.append(self._compressed(event))
            return done
        if starts_entry or not self._events:
            self._unit_start = len(self._events)
        self._events.append(encoded)
        self._size += len(encoded)
        return done

    def close(self) -> list[str]:
        """The last, partly filled body (if any)."""
        if not self._events:
            return []
        body = self._body(self._events)
        self._events, self._size, self._unit_start = [], 0, 0
        return [body]

    def _compressed(self, event: dict[str, Any]) -> str:
        raw = ('{"events":[' + encode_event(event) + "]}").encode("ascii")
        data = base64.b64encode(gzip.compress(raw, 9)).decode("ascii")
        body = ('{"v":1,"logGroup":' + json.dumps(self.group, ensure_ascii=True)
                + ',"encoding":"gzip+base64","data":"' + data + '"}')
        if len(body) > self.limit:
            raise MessageTooLarge(
                f"event {event.get('eventId')} of {self.group}/{event.get('logStreamName')} "
                f"does not fit an SQS message ({len(raw)} bytes, {len(body)} compressed)")
        return body


def decode_body(body: str, source: str) -> tuple[str | None, Iterator[Line]]:
    """The log group (when the body names one) and the lines of one SQS message body.

    Reads the forwarder's JSON (plain or compressed) and, through
    :func:`~pgaudit_parse.sources.lines_from_sqs_body`, the seed Lambda's ``str(dict)``
    bodies. A body that is neither yields one line that fits no prefix, so the parser
    rejects it (dead letter) instead of dropping it.

    >>> decode_body("{'message': '2026-11-25 16:05:01 UTC::@:[7]:LOG:  x++'}", "q")[0] is None
    True
    """
    if body.startswith('{"v":'):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("v") == FORMAT_VERSION:
            group = data.get("logGroup") if isinstance(data.get("logGroup"), str) else None
            events = data.get("events")
            if data.get("encoding") == "gzip+base64" and isinstance(data.get("data"), str):
                try:
                    inner = json.loads(gzip.decompress(base64.b64decode(data["data"])))
                    events = inner.get("events") if isinstance(inner, dict) else None
                except (ValueError, OSError, EOFError):
                    events = None
            if isinstance(events, list) and all(isinstance(e, dict) for e in events):
                return group, lines_from_cloudwatch_events(events, source)
    return None, lines_from_sqs_body(body, source)
