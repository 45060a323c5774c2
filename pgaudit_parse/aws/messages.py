"""SQS message bodies: the forwarder's JSON format, and reading it (and the seed's) back.

The forwarder (CLI ``forward`` and the Lambda handlers) sends bodies of this form, several
CloudWatch events of one log stream per message, in stream order::

    {"v": 1, "logGroup": "/aws/rds/instance/db1/postgresql",
     "events": [{"eventId": "3761...", "timestamp": 1795622701000,
                 "logStreamName": "db1", "message": "2026-11-25 16:05:01 UTC:...:LOG:  AUDIT: ..."},
                ...]}

Event keys are CloudWatch's own (FilterLogEvents), so a body is also a CloudWatch export
that ``pgaudit-parse FILE`` reads. A body stays within the queue's limit (SQS's 1 MiB, or
less where the queue's MaximumMessageSize says so); each event is whole
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

import ast
import base64
import binascii
import gzip
import json
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ..entries import parse_start
from ..lines import Line
from ..prefix import RDS_PREFIX, LinePrefix
from ..sources import lines_from_cloudwatch_events, lines_from_sqs_body

__all__ = [
    "MAX_BODY_BYTES",
    "LEGACY_BODY_BYTES",
    "FORMAT_VERSION",
    "MessagePacker",
    "MessageTooLarge",
    "EntryBoundary",
    "decode_body",
    "decode_message",
    "DecodedBody",
    "BodyError",
    "encode_event",
    "MAX_DECODED_BYTES",
    "checked_event",
    "dead_letter_body",
    "gunzip_base64",
    "gunzip_bounded",
]

#: SQS's limit for one message and for the sum of one SendMessageBatch: 1 MiB since AWS
#: raised it from 256 KiB in 2025. A queue may set a lower MaximumMessageSize.
MAX_BODY_BYTES: Final = 1024 * 1024
#: The limit before 2025, still the MaximumMessageSize of queues created with it set
#: explicitly: every queue accepts bodies of this size.
LEGACY_BODY_BYTES: Final = 256 * 1024
FORMAT_VERSION: Final = 1
#: A compressed body may expand to at most this (a zip bomb is a dead letter, not an OOM).
MAX_DECODED_BYTES: Final = 16 << 20


class BodyError(ValueError):
    """An SQS body that cannot be decoded; ``str()`` is the dead-letter reason, ``raw``
    the text to keep in the dead letter when it is not the body itself (a body made by
    :func:`dead_letter_body`)."""

    def __init__(self, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.raw = raw


def dead_letter_body(reason: str, raw: str, limit: int = MAX_BODY_BYTES) -> str:
    """An SQS body that carries something a Lambda could not decode (a subscription
    payload, one event) to the consumer, which writes it as a dead letter with
    ``reason`` and ``raw`` (see :func:`decode_message`). A raw text too large for one
    body is sent compressed, and if still too large, cut (the reason says so).

    >>> body = dead_letter_body("bad", "text")
    >>> try:
    ...     decode_message(body)
    ... except BodyError as exc:
    ...     print(exc, exc.raw)
    dead letter: bad text
    """
    body = json.dumps({"v": FORMAT_VERSION, "deadLetter": reason, "raw": raw},
                      ensure_ascii=True, separators=(",", ":"))
    if len(body) <= limit:
        return body
    packed = base64.b64encode(gzip.compress(raw.encode("utf-8", "surrogatepass"), 9)
                              ).decode("ascii")
    room = limit - len(reason) * 6 - 200  # the JSON around the data, reason escaped
    if len(packed) > room:
        reason = f"{reason} (raw text of {len(raw)} characters cut to fit one SQS message)"
        packed = packed[:max(0, room - 100) // 4 * 4]
    return json.dumps({"v": FORMAT_VERSION, "deadLetter": reason,
                       "encoding": "gzip+base64", "raw": packed},
                      ensure_ascii=True, separators=(",", ":"))


def _dead_letter(data: dict[str, Any]) -> BodyError:
    """The dead letter a :func:`dead_letter_body` carries."""
    reason = str(data.get("deadLetter"))
    raw = data.get("raw")
    if not isinstance(raw, str):
        return BodyError(f"dead letter: {reason}")
    if data.get("encoding") == "gzip+base64":
        try:
            raw = gunzip_base64(raw).decode("utf-8", "replace")
        except BodyError:
            pass  # cut to fit: keep the base64 text as it came
    return BodyError(f"dead letter: {reason}", raw)


@dataclass(slots=True)
class DecodedBody:
    """One SQS body, decoded: its log group (if it names one), its CloudWatch events (dicts
    with ``eventId``, ``timestamp``, ``logStreamName``, ``message``), and whether it is
    one loose event (the seed Lambda's ``str(dict)``, one event per message: such events
    are reordered per stream before parsing) rather than a forwarder message (events of
    one stream, in order, whole PostgreSQL messages kept together). Not frozen: it holds
    the events' dicts as decoded, handed on at once to the line reader."""

    group: str | None
    events: tuple[dict[str, Any], ...]
    loose: bool


def gunzip_base64(data: str) -> bytes:
    """The bytes of base64 text of gzip data (at most :data:`MAX_DECODED_BYTES`), or
    :class:`BodyError` saying why not.

    >>> gunzip_base64(base64.b64encode(gzip.compress(b"hi")).decode())
    b'hi'
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BodyError(f"'data' is not valid base64 ({exc})") from None
    return gunzip_bounded(raw)


def gunzip_bounded(raw: bytes) -> bytes:
    """The bytes of gzip data, at most :data:`MAX_DECODED_BYTES` (a zip bomb is refused
    before it is expanded), or :class:`BodyError` saying why not.

    Concatenated gzip members are read as one stream (as ``gzip.decompress`` does); bytes
    after the last member that are not gzip are an error, never dropped unread.

    >>> gunzip_bounded(gzip.compress(b"hi"))
    b'hi'
    >>> gunzip_bounded(gzip.compress(b"h") + gzip.compress(b"i"))
    b'hi'
    """
    parts: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(raw, MAX_DECODED_BYTES + 1 - size)
        except zlib.error as exc:
            raise BodyError(f"'data' is not valid gzip ({exc})") from None
        size += len(out)
        if size > MAX_DECODED_BYTES or inflater.unconsumed_tail:
            raise BodyError(f"'data' expands to more than {MAX_DECODED_BYTES} bytes")
        if not inflater.eof:
            raise BodyError("'data' is not valid gzip (truncated)")
        parts.append(out)
        raw = inflater.unused_data
        if not raw.strip(b"\0"):  # (zero padding after the last member, as gzip allows)
            return b"".join(parts)


def _decompressed_part(data: str) -> str | None:
    """The text that base64 gzip ``data`` decompresses to before its damage (truncated or
    corrupt deflate data), or None when nothing of it does.

    >>> text = bytes(range(48, 123)) * 40
    >>> _decompressed_part(base64.b64encode(gzip.compress(text)[:-40]).decode())[:5]
    '01234'
    """
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    room = MAX_DECODED_BYTES
    for start in range(0, len(raw), 512):  # (a corrupt block: what came before it stays)
        try:
            piece = inflater.decompress(raw[start:start + 512], room)
        except zlib.error:
            break
        parts.append(piece)
        room -= len(piece)
        if room <= 0 or inflater.eof:
            break
    text = b"".join(parts).decode("utf-8", "replace")
    return text or None


def checked_event(event: Any, index: int, stream: str | None = None) -> dict[str, Any]:
    """One CloudWatch event with the types the parser relies on, or BodyError.

    >>> checked_event({"id": 7, "timestamp": 1, "message": "m"}, 0, "s")["eventId"]
    '7'
    """
    if not isinstance(event, dict):
        raise BodyError(f"event {index} is not an object")
    message = event.get("message")
    if not isinstance(message, str):
        raise BodyError(f"event {index} has no text 'message'")
    timestamp = event.get("timestamp")
    if "timestamp" in event and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
        raise BodyError(f"event {index} has a 'timestamp' that is not epoch milliseconds")
    event_id = event.get("eventId", event.get("id"))
    if event_id is not None and not isinstance(event_id, str | int) or isinstance(event_id, bool):
        raise BodyError(f"event {index} has an 'eventId' that is not a string")
    name = event.get("logStreamName", stream)
    if name is not None and not isinstance(name, str):
        raise BodyError(f"event {index} has a 'logStreamName' that is not a string")
    return {"eventId": None if event_id is None else str(event_id), "timestamp": timestamp,
            "logStreamName": name or "", "message": message}


def _events(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise BodyError("'events' is not a list of CloudWatch events")
    return tuple(checked_event(e, i) for i, e in enumerate(value))


def _seed_message(message: str) -> str:
    """The seed Lambda's message as log text: ``++`` ends it, ``|||`` joins an ERROR to
    its STATEMENT, and (in the seed's published code) TAB/CR/LF became spaces: a line
    that starts with a space is a continuation line (PostgreSQL starts those with TAB)."""
    if message.endswith("++"):
        message = message[:-2]
    lines: list[str] = []
    for part in message.split("|||"):
        for text in part.split("\n") if part else [""]:
            lines.append("\t" + text[1:] if text.startswith(" ") else text)
    return "\n".join(lines)


def decode_message(body: str) -> DecodedBody:
    """Decode one SQS body, or raise :class:`BodyError` saying why it cannot be.

    >>> decode_message('{"v": 1, "logGroup": "/g", "events": []}').group
    '/g'
    >>> decode_message("{'logStreamName': 's', 'timestamp': 1, 'message': 'a++'}").loose
    True
    >>> decode_message('{"v": 1, "encoding": "gzip+base64", "data": "@@"}')
    Traceback (most recent call last):
    ...
    pgaudit_parse.aws.messages.BodyError: 'data' is not valid base64 (Only base64 data is allowed)
    """
    if not isinstance(body, str) or not body.strip():
        raise BodyError("empty SQS message body")
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BodyError(f"body larger than {MAX_BODY_BYTES} bytes")
    text = body.strip()
    data: Any = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if text.startswith('{"'):
                raise BodyError(f"invalid JSON ({exc.msg} at {exc.pos})") from None
            data = None
        except RecursionError:  # nested deeper than the decoder goes
            raise BodyError("JSON nested too deeply") from None
    if isinstance(data, dict):
        group = data.get("logGroup")
        if group is not None and not isinstance(group, str):
            raise BodyError("'logGroup' is not a string")
        if "v" in data and data.get("v") != FORMAT_VERSION:
            raise BodyError(f"unknown message format version {data.get('v')!r}")
        if "deadLetter" in data:
            raise _dead_letter(data)
        if data.get("encoding") is not None:
            if data.get("encoding") != "gzip+base64" or not isinstance(data.get("data"), str):
                raise BodyError("unknown 'encoding' or no text 'data'")
            # The dead letter of a compressed body holds the text that decompresses, not
            # the body: base64 of gzip hides nothing from a reader, but hides a password
            # from ``--redact`` (and the text is what one fixes and sends again).
            try:
                raw = gunzip_base64(data["data"])
            except BodyError as exc:
                part = _decompressed_part(data["data"])
                if part is None:
                    raise
                raise BodyError(f"{exc}; the dead letter holds the {len(part)} characters "
                                "that decompress", part) from None
            try:
                inner = json.loads(raw)
                if not isinstance(inner, dict):
                    raise BodyError("compressed 'data' is not an object with 'events'")
                return DecodedBody(group, _events(inner.get("events")), False)
            except ValueError as exc:  # (BodyError too)
                reason = str(exc) if isinstance(exc, BodyError) \
                    else f"compressed 'data' is not valid JSON ({exc})"
            except RecursionError:
                reason = "compressed 'data' is JSON nested too deeply"
            raise BodyError(f"{reason}; the dead letter holds the decompressed data",
                            raw.decode("utf-8", "replace"))
        if "events" in data:
            return DecodedBody(group, _events(data["events"]), False)
        if "message" in data:  # one CloudWatch event as JSON
            return DecodedBody(group, (checked_event(data, 0),), True)
        raise BodyError("a JSON object without 'events' or 'message'")
    if data is not None:
        raise BodyError("JSON that is not an object")
    try:
        with warnings.catch_warnings():
            # (Python warns of an escape it does not know, '\/' as JSON writes a slash,
            # DeprecationWarning or SyntaxWarning by version: the text is data, and the
            # CLI's error stays one line)
            warnings.simplefilter("ignore")
            literal = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        literal = None
    if isinstance(literal, dict) and "message" in literal:
        event = checked_event(literal, 0)
        event["message"] = _seed_message(event["message"])
        return DecodedBody(None, (event,), True)
    raise BodyError("neither a pgaudit-parse forwarder message nor a seed Lambda body")


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
    Events are kept in order; a body is cut only before an event that starts an entry.
    One entry too large for a body is sent whole in one compressed body (a standard queue
    keeps no order: the parts of a cut entry could arrive the wrong way round); only an
    entry too large even compressed is cut.
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
        self._big: list[str] | None = None  # an entry too large for one body, so far
        self._big_size = 0

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
        if (self._events or self._big is not None) and stream != self._stream:
            done.extend(self.close())
        self._stream = stream
        if self._big is not None:
            if not starts_entry and self._big_size + len(encoded) <= MAX_DECODED_BYTES // 2:
                self._big.append(encoded)
                self._big_size += len(encoded) + 1
                return done
            done.extend(self._close_big())
        if self._events and not self._fits(len(encoded)):
            # Cut before the entry being built, unless it is the whole body.
            cut = len(self._events) if starts_entry or self._unit_start == 0 else self._unit_start
            entry = self._events[self._unit_start:]
            alone = len(self._body(entry)) + 1 + len(encoded) <= self.limit
            if not starts_entry and not alone:  # the entry goes on with this event
                # and is too large for one body: keep it whole, compressed
                if self._unit_start:
                    done.append(self._body(self._events[:self._unit_start]))
                self._events, self._size, self._unit_start = [], 0, 0
                self._big = entry + [encoded]
                self._big_size = sum(len(e) + 1 for e in self._big)
                return done
            done.append(self._body(self._events[:cut]))
            self._events = self._events[cut:]
            self._size = sum(len(e) for e in self._events)
            self._unit_start = 0
        if not self._events and not self._fits(len(encoded)):
            if starts_entry:  # it may go on in the next events: keep it whole
                self._big, self._big_size = [encoded], len(encoded) + 1
                return done
            done.append(self._compressed([encoded], event))
            return done
        if starts_entry or not self._events:
            self._unit_start = len(self._events)
        self._events.append(encoded)
        self._size += len(encoded)
        return done

    def close(self) -> list[str]:
        """The last, partly filled body (if any)."""
        if self._big is not None:
            return self._close_big()
        if not self._events:
            return []
        body = self._body(self._events)
        self._events, self._size, self._unit_start = [], 0, 0
        return [body]

    def _close_big(self) -> list[str]:
        """The bodies of an entry too large for one: one compressed body if it fits, else
        compressed bodies of consecutive parts of it (cut only then)."""
        big, self._big, self._big_size = self._big or [], None, 0
        bodies: list[str] = []
        parts = [big]
        while parts:
            part = parts.pop(0)
            body = self._compressed(part) if len(part) > 1 else None
            if body is None or len(body) > self.limit:
                if len(part) > 1:
                    half = len(part) // 2
                    parts[:0] = [part[:half], part[half:]]
                    continue
                body = self._compressed(part, json.loads(part[0]))
                if len(body) > self.limit:
                    raise self._too_large(part[0], body)
            bodies.append(body)
        return bodies

    def _compressed(self, events: list[str], event: dict[str, Any] | None = None) -> str:
        raw = ('{"events":[' + ",".join(events) + "]}").encode("ascii")
        data = base64.b64encode(gzip.compress(raw, 9)).decode("ascii")
        body = ('{"v":1,"logGroup":' + json.dumps(self.group, ensure_ascii=True)
                + ',"encoding":"gzip+base64","data":"' + data + '"}')
        if event is not None and len(body) > self.limit:
            raise self._too_large(events[0], body)
        return body

    def _too_large(self, encoded: str, body: str) -> MessageTooLarge:
        event = json.loads(encoded)
        return MessageTooLarge(
            f"event {event.get('eventId')} of {self.group}/{event.get('logStreamName')} "
            f"does not fit an SQS message ({len(encoded)} bytes, {len(body)} compressed)")


def decode_body(body: str, source: str) -> tuple[str | None, Iterator[Line]]:
    """The log group (when the body names one) and the lines of one SQS message body.

    Reads the forwarder's JSON (plain or compressed) and, through
    :func:`~pgaudit_parse.sources.lines_from_sqs_body`, the seed Lambda's ``str(dict)``
    bodies. A body that is neither yields one line that fits no prefix, so the parser
    rejects it (dead letter) instead of dropping it.

    >>> decode_body("{'message': '2026-11-25 16:05:01 UTC::@:[7]:LOG:  x++'}", "q")[0] is None
    True
    """
    try:
        decoded = decode_message(body)
    except BodyError:
        return None, lines_from_sqs_body(body, source)
    return decoded.group, lines_from_cloudwatch_events(decoded.events, source)
