"""Amazon Data Firehose record transformation for CloudWatch Logs subscription payloads.

Firehose hands a transformation Lambda ``{"records": [{"recordId", "data"}, ...]}``; for a
CloudWatch Logs source each ``data`` is base64 of a gzipped subscription payload
(``messageType`` ``DATA_MESSAGE`` or ``CONTROL_MESSAGE``, ``logGroup``, ``logStream``,
``logEvents``). The answer must hold exactly one ``{"recordId", "result", "data"}`` per
input record, with the same ids:

* ``Ok``: ``data`` is base64 of newline-delimited output (Guardium records, events, or any
  other format the sink writes);
* ``Dropped`` (with empty ``data``): control messages, and data messages whose lines
  produced no output;
* ``ProcessingFailed``: a record that cannot be decoded, or that holds a line the parser
  rejected; ``data`` is the original data, so Firehose keeps it whole in its error output.

All data messages of one invocation are parsed together, per log stream in record order, so
a multi-line message (or an ERROR and its STATEMENT line) split across records is assembled
as in the file. Output goes to the record where its message began; when that record failed
(even after it was given output), to the nearest good one; when every record failed, it is
put back on the delivery stream as ready output (``reingest``), so that no parsed event is
lost. Lines of a message that arrive in
a *later invocation* than its first line cannot be joined to it (the handler keeps no state
between invocations): they are rejects, kept raw in Firehose's error output.

Lambda answers at most 6 MB (:data:`RESPONSE_LIMIT`). When the output is larger, the output
of the last records is put back on the delivery stream (``reingest``: the handler calls
PutRecordBatch, as AWS's CloudWatch Logs blueprint does, within its limits of 500 records
and 4 MB a call, :func:`reingest_batches`) as records of ready output (each under
Firehose's 1,000 KiB, and small enough for one response), which the next invocation passes
through unchanged, and those records are answered ``Dropped``: nothing is parsed twice and
nothing is lost. An output line too large for any response is re-ingested alone, marked
undeliverable, and the next invocation answers it ``ProcessingFailed`` (so it lands in
Firehose's error output, with an error line in the Lambda's log); one too large even for a
record fails the record that carries it. Audit lines left with ``<previously logged>``
(their statement came in an earlier invocation) are counted in one warning line.

>>> import base64, gzip, json
>>> payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012",
...            "logGroup": "/aws/rds/instance/db1/postgresql", "logStream": "db1",
...            "logEvents": [{"id": "1", "timestamp": 1795622701000, "message":
...     "2026-11-25 16:05:01 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  AUDIT: "
...     "SESSION,1,1,READ,SELECT,TABLE,public.t,select 1,<none>"}]}
>>> data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
>>> [answer] = transform_records([{"recordId": "r1", "data": data}])
>>> answer["recordId"], answer["result"]
('r1', 'Ok')
>>> json.loads(base64.b64decode(answer["data"]))["dbName"]
'123456789012:db1:shop'
"""

from __future__ import annotations

import base64
import binascii
import bisect
import gzip
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ..lines import Reject, without_surrogates
from ..parser import Parser
from ..prefix import RDS_PREFIX
from ..sinks import OutputSink
from ..sources import lines_from_cloudwatch_events
from .messages import BodyError, gunzip_bounded
from .naming import instance_for_stream

__all__ = [
    "RESPONSE_LIMIT", "RECORD_LIMIT", "PASSED_OUTPUT", "FirehoseRecord", "UndecodableRecord",
    "decode_record", "passed_output", "reingest_batches", "transform_records",
    "unresolved_note", "DEDUP_KEY", "dedup_id", "with_dedup_ids",
]

log = logging.getLogger("pgaudit_parse.firehose")

#: Lambda's synchronous response limit is 6 MiB; keep room for the JSON around the data.
RESPONSE_LIMIT: Final = 6 * 1024 * 1024 - 64 * 1024
#: JSON overhead of one answer besides its base64 data (ids are at most a few hundred bytes).
_ANSWER_OVERHEAD: Final = 64
#: ``messageType`` of a re-ingested record that carries ready output (passed through as is).
PASSED_OUTPUT: Final = "PGAUDIT_PARSE_OUTPUT"
#: Firehose takes records (PutRecord, PutRecordBatch) of up to "1,000 KB" of data (read
#: as the smaller 1,000,000 bytes).
RECORD_LIMIT: Final = 1_000_000
#: PutRecordBatch takes at most 500 records and "4 MB" of data per call (read as the
#: smaller 4,000,000 bytes).
_BATCH_RECORDS: Final = 500
_BATCH_BYTES: Final = 4_000_000
#: Output bytes (UTF-8) per re-ingested record: JSON-escaped at most twice as long, and
#: gzip does not grow it, so the record stays under :data:`RECORD_LIMIT`.
_PASS_CHUNK: Final = 480 * 1024


class UndecodableRecord(ValueError):
    """A Firehose record whose data is not a CloudWatch Logs subscription payload."""


def decode_record(data: str) -> dict[str, Any]:
    """The subscription payload inside one Firehose record's ``data``.

    Gzip is optional (a producer other than CloudWatch Logs may send plain JSON).

    >>> decode_record(base64.b64encode(b'{"messageType": "CONTROL_MESSAGE"}').decode())
    {'messageType': 'CONTROL_MESSAGE'}
    >>> decode_record("***")
    Traceback (most recent call last):
    ...
    pgaudit_parse.aws.firehose.UndecodableRecord: data is not base64
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise UndecodableRecord("data is not base64") from None
    if raw[:2] == b"\x1f\x8b":
        try:  # bounded: a record that expands past the bound fails alone, not the Lambda
            raw = gunzip_bounded(raw)
        except BodyError as exc:
            raise UndecodableRecord(str(exc).replace("'data'", "data", 1)) from None
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise UndecodableRecord("data is not a JSON document") from None
    except RecursionError:
        raise UndecodableRecord("data is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise UndecodableRecord("data is not a JSON object")
    kind = payload.get("messageType")
    if kind == "DATA_MESSAGE":
        events = payload.get("logEvents")
        if not isinstance(events, list) or not isinstance(payload.get("logGroup"), str) \
                or not isinstance(payload.get("logStream"), str):
            raise UndecodableRecord("DATA_MESSAGE without logGroup, logStream or logEvents")
    elif kind == PASSED_OUTPUT:
        if not isinstance(payload.get("output"), str):
            raise UndecodableRecord("passed output without its text")
    elif kind != "CONTROL_MESSAGE":
        raise UndecodableRecord(f"unknown messageType {str(kind)[:40]!r}")
    return payload


@dataclass(slots=True)
class FirehoseRecord:
    """One input record while it is being transformed."""

    record_id: str
    data: str
    result: str = "Dropped"
    reason: str = ""
    output: list[str] = field(default_factory=list)

    def answer(self) -> dict[str, str]:
        """The record's entry in the handler's response."""
        if self.result == "Ok":
            text = "".join(self.output).encode("utf-8")
            return {"recordId": self.record_id, "result": "Ok",
                    "data": base64.b64encode(text).decode("ascii")}
        if self.result == "ProcessingFailed":  # kept whole in Firehose's error output
            return {"recordId": self.record_id, "result": self.result, "data": self.data}
        return {"recordId": self.record_id, "result": self.result, "data": ""}


def transform_records(records: Iterable[dict[str, Any]], *, fmt: str = "records",
                      prefix: str = RDS_PREFIX, account_id: str | None = None,
                      instance: str | None = None, limit: int | None = None,
                      reingest: Callable[[list[bytes]], None] | None = None,
                      on_reject: Callable[[Reject], None] | None = None,
                      timezone: str | None = None,
                      redact: str | None = None) -> list[dict[str, str]]:
    """Answer one Firehose transformation invocation (see the module docstring).

    ``account_id`` defaults to each payload's ``owner``; ``instance`` to the name in the
    log group (or the stream of an Aurora cluster group). ``reingest`` receives the data of
    records that carry output which did not fit in ``limit``. ``timezone`` is the server's
    log_timezone (an IANA name), for ambiguous zone abbreviations. ``redact`` is the CLI's
    ``--redact`` (default: the format's, as in the CLI).
    """
    # (a record that is not an object is answered ProcessingFailed, not a crash of the
    # whole invocation, which Firehose would retry with the same record)
    items = [FirehoseRecord(str(r.get("recordId", "")), str(r.get("data", "")))
             if isinstance(r, dict) else FirehoseRecord("", "") for r in records]
    run = _Invocation(items, fmt, prefix, account_id, instance, on_reject, timezone, redact)
    for index, item in enumerate(items):
        try:
            payload = decode_record(item.data)
        except UndecodableRecord as exc:
            item.result, item.reason = "ProcessingFailed", str(exc)
            continue
        if payload["messageType"] == PASSED_OUTPUT and payload.get("undeliverable"):
            # (output too large for any response: into the error output, whole)
            item.result, item.reason = "ProcessingFailed", "output too large to deliver"
            log.error("firehose: record %s holds output too large for any response; it "
                      "is answered ProcessingFailed and kept in the error output",
                      item.record_id[:80])
        elif payload["messageType"] == PASSED_OUTPUT:
            item.output.append(without_surrogates(str(payload.get("output", ""))))
        elif payload["messageType"] == "DATA_MESSAGE":
            run.add(index, payload)
    run.finish()
    homeless = run.homeless
    for index, item in enumerate(items):
        if item.result == "ProcessingFailed" and item.output:
            # Output given to it before one of its lines was rejected: a failed record
            # answers its original data, so the output moves to a good record.
            target = _good_owner(items, index)
            if target is None:
                homeless.extend(item.output)
            else:
                items[target].output.extend(item.output)
            item.output = []
    for item in items:
        if item.result == "Dropped" and item.output:
            item.result = "Ok"
    return _within_limit(items, RESPONSE_LIMIT if limit is None else limit, reingest,
                         "".join(homeless))


class _Invocation:
    """The parsers and sinks of one invocation: one per (account, log group)."""

    def __init__(self, items: list[FirehoseRecord], fmt: str, prefix: str,
                 account_id: str | None, instance: str | None,
                 on_reject: Callable[[Reject], None] | None, timezone: str | None,
                 redact: str | None = None) -> None:
        self.items = items
        self.redact = redact
        self.timezone = timezone
        self.fmt = fmt
        self.prefix = prefix
        self.account_id = account_id
        self.instance = instance
        self.on_reject = on_reject
        self.out = io.StringIO()
        self.groups: dict[tuple[str | None, str], tuple[Parser, OutputSink]] = {}
        self.starts: list[int] = []  # first line number of each record that has lines
        self.owners: list[int] = []  # the index of that record
        self.line_number = 0  # line numbers run on across records and groups
        #: line number -> where the line is (see :func:`with_dedup_ids`)
        self._anchors: dict[int, str] = {}
        #: Output no record can carry (every record failed): put back on the stream.
        self.homeless: list[str] = []

    def add(self, index: int, payload: dict[str, Any]) -> None:
        # (JSON may escape a lone surrogate, which no output can write: escaped as in lines)
        group, stream = without_surrogates(payload["logGroup"]), payload["logStream"]
        account = self.account_id or (without_surrogates(str(payload["owner"]))
                                      if payload.get("owner") else None)
        key = (account, group)
        if key not in self.groups:
            self.groups[key] = (Parser(self.prefix, on_reject=self._rejected,
                                       timezone=self.timezone),
                                OutputSink(self.out, None, self.fmt, account, None,
                                           redact=self.redact))
        parser, sink = self.groups[key]
        events = [{"eventId": str(e.get("id")), "timestamp": e.get("timestamp"),
                   "logStreamName": stream, "message": e.get("message")}
                  if isinstance(e, dict) else e for e in payload["logEvents"]]
        self.starts.append(self.line_number + 1)
        self.owners.append(index)
        first_of: dict[object, int] = {}
        for line in lines_from_cloudwatch_events(events, group, self.line_number):
            self.line_number = line.number
            # (where a line is, in what does not change when Firehose retries: its
            # CloudWatch event's id, and its place in that event)
            first = first_of.setdefault(line.ref, line.number)
            self._anchors[line.number] = f"{group}\x00{stream}\x00{line.ref}\x00" \
                                         f"{line.number - first}"
            for event in parser.feed(line):
                self._write(sink, group, event)

    def finish(self) -> None:
        unresolved = 0
        for (_, group), (parser, sink) in self.groups.items():
            for event in parser.flush():
                self._write(sink, group, event)
            sink.flush()
            unresolved += parser.unresolved_statements
        last = self._anchors.get(self.line_number, "")
        self._take(len(self.items) - 1, f"end\x00{last}")
        if unresolved:
            # The handler keeps no state between invocations: say what that cost.
            log.warning("firehose: %s", unresolved_note(unresolved))

    def _write(self, sink: OutputSink, group: str, event: Any) -> None:
        stream = event.stream or ""
        sink.write(event, self.instance or instance_for_stream(group, stream) or stream)
        owner = _owner(self.starts, self.owners, event.line or 0)
        self._take(owner if owner is not None else len(self.items) - 1,
                   self._anchors.get(event.line or 0, ""))

    def _take(self, index: int, anchor: str) -> None:
        """Give what the sinks wrote since the last call to record ``index`` (or the
        nearest record that can carry output), each line with its ``dedupId`` (made from
        ``anchor``, where the line that completed it is, and its place among what that
        line completed)."""
        text = self.out.getvalue()
        if not text:
            return
        self.out.seek(0)
        self.out.truncate()
        text = with_dedup_ids(text, anchor)
        target = _good_owner(self.items, index)
        if target is not None:
            self.items[target].output.append(text)
        else:
            self.homeless.append(text)

    def _rejected(self, reject: Reject) -> None:
        owner = _owner(self.starts, self.owners, reject.line)
        if owner is not None:
            self.items[owner].result = "ProcessingFailed"
            self.items[owner].reason = reject.reason
        if self.on_reject is not None:
            self.on_reject(reject)


#: The key every output line of the Firehose transformation starts with: a stable id
#: for consumers to de-duplicate by (delivery is at least once: see docs/scale.md).
DEDUP_KEY: Final = "dedupId"


def dedup_id(anchor: str, ordinal: int) -> str:
    """The ``dedupId`` of the ``ordinal``-th output line completed at ``anchor`` (a line's
    log group, stream, CloudWatch event id and place in that event): 32 hex digits, the
    same whenever the same CloudWatch events are transformed again (a retried
    invocation, output re-ingested twice), different for two executions that render the
    same text.

    >>> dedup_id("g/s/e1/0", 0) == dedup_id("g/s/e1/0", 0)
    True
    >>> len({dedup_id("a", 0), dedup_id("a", 1), dedup_id("b", 0)})
    3
    """
    return hashlib.blake2b(f"{anchor}\x00{ordinal}".encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


def with_dedup_ids(text: str, anchor: str) -> str:
    """Each JSON line of ``text`` with ``"dedupId"`` as its first key.

    >>> with_dedup_ids('{"a":1}\\n{"a":1}\\n', "x") == (
    ...     '{"dedupId":"%s","a":1}\\n{"dedupId":"%s","a":1}\\n'
    ...     % (dedup_id("x", 0), dedup_id("x", 1)))
    True
    """
    out = []
    for ordinal, line in enumerate(text.splitlines(keepends=True)):
        if line.startswith("{") and not line.startswith("{}"):
            line = f'{{"{DEDUP_KEY}":"{dedup_id(anchor, ordinal)}",{line[1:]}'
        out.append(line)
    return "".join(out)


def unresolved_note(count: int) -> str:
    """What a stateless invocation says of its audit lines left with ``<previously
    logged>`` (a count, never a statement).

    >>> unresolved_note(2)[:45]
    '2 audit line(s) kept <previously logged>: the'
    """
    return (f"{count} audit line(s) kept <previously logged>: their statement was not in "
            "this invocation (logged in an earlier one: no state is kept between "
            "invocations; see docs/scale.md)")


def _owner(starts: list[int], owners: list[int], line: int) -> int | None:
    at = bisect.bisect_right(starts, line) - 1
    return owners[at] if at >= 0 else None


def _good_owner(items: list[FirehoseRecord], index: int) -> int | None:
    """``index`` if that record can carry output, else the nearest one that can."""
    for distance in range(len(items)):
        for candidate in (index - distance, index + distance):
            if 0 <= candidate < len(items) and items[candidate].result != "ProcessingFailed":
                return candidate
    return None


def passed_output(text: str) -> list[bytes]:
    """Re-ingestable Firehose records that carry ready output through the next invocation
    unchanged (each under Firehose's 1,000 KiB record limit, split at line ends; a single
    line too large for that is a record of its own, over the limit).

    >>> [decode_record(base64.b64encode(r).decode())["output"] for r in passed_output("a\\n")]
    ['a\\n']
    """
    chunks, too_large = _pass_chunks(text, _PASS_CHUNK)
    return chunks + [_pass_record(line) for line in too_large]


def _pass_chunks(text: str, chunk_bytes: int,
                 undeliverable: bool = False) -> tuple[list[bytes], list[str]]:
    """The re-ingestable records of ``text`` (``chunk_bytes`` of output each, cut at line
    ends), and the lines that fit in no record (over :data:`RECORD_LIMIT` alone, once
    compressed). ``undeliverable`` marks the records for the next invocation to answer
    ``ProcessingFailed`` (their lines fit in no response)."""
    chunks: list[bytes] = []
    stuck: list[str] = []
    batch: list[str] = []
    size = 0

    def close() -> None:
        record = _pass_record("".join(batch), undeliverable)
        if len(record) <= RECORD_LIMIT:
            chunks.append(record)
        else:  # (only a single line over the chunk size can get here)
            stuck.extend(batch)

    for line in text.splitlines(keepends=True):
        length = len(line.encode("utf-8"))
        if batch and size + length > chunk_bytes:
            close()
            batch, size = [], 0
        batch.append(line)
        size += length
    if batch:
        close()
    return chunks, stuck


def _pass_record(text: str, undeliverable: bool = False) -> bytes:
    document: dict[str, Any] = {"messageType": PASSED_OUTPUT, "output": text}
    if undeliverable:
        document["undeliverable"] = True
    body = json.dumps(document, ensure_ascii=False)
    return gzip.compress(body.encode("utf-8"))


def reingest_batches(chunks: list[bytes]) -> list[list[bytes]]:
    """``chunks`` in PutRecordBatch calls: at most 500 records and 4 MB of data a call.

    >>> [len(b) for b in reingest_batches([b"x" * 1000] * 1200)]
    [500, 500, 200]
    >>> [len(b) for b in reingest_batches([b"x" * RECORD_LIMIT] * 9)]
    [4, 4, 1]
    """
    batches: list[list[bytes]] = []
    size = 0
    for chunk in chunks:
        if not batches or len(batches[-1]) >= _BATCH_RECORDS \
                or size + len(chunk) > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(chunk)
        size += len(chunk)
    return batches


def _answer_size(data_bytes: int, record_id: str) -> int:
    """Bytes an Ok answer of ``data_bytes`` of output takes in the response."""
    return 4 * -(-data_bytes // 3) + len(record_id) + _ANSWER_OVERHEAD


#: Room for the record id of a later invocation's answer (Firehose's ids are short).
_ID_ROOM: Final = 512


def _within_limit(items: list[FirehoseRecord], limit: int,
                  reingest: Callable[[list[bytes]], None] | None, homeless: str = "",
                  ) -> list[dict[str, str]]:
    """The answers, with the output of the last records put back on the stream (and those
    records answered ``Dropped``) while the response is over ``limit``; ``homeless``
    output (of an invocation whose every record failed) is put back too.

    A line too large for any response would go round the stream for ever: it is put back
    alone, marked undeliverable, for the next invocation to answer ``ProcessingFailed``
    (Firehose's error output keeps it). A line too large even for a Firehose record (over
    1 MB compressed) cannot be put back: the record that carries it is answered
    ``ProcessingFailed`` (its original data stays whole in the error output; for events,
    OCSF and ECS that record holds the line's source, while a Guardium record may be
    carried by a later record than its source), and an error line says so."""
    answers = [item.answer() for item in items]
    total = 2 + sum(len(a["data"]) + len(a["recordId"]) + _ANSWER_OVERHEAD for a in answers)
    put_back: list[bytes] = []
    if homeless:
        if reingest is None:
            raise ValueError("every record failed and their parsed output cannot be "
                             "re-ingested (no deliveryStreamArn)")
        put_back, stuck = _movable(homeless, limit)
        if stuck:  # every record failed: their data in the error output holds the source
            log.error("firehose: %d output line(s) too large to deliver or re-ingest; their "
                      "records failed and are kept whole in the error output", len(stuck))
    for position in range(len(answers) - 1, -1, -1):
        if total <= limit:
            break
        answer = answers[position]
        if answer["result"] != "Ok":
            continue
        if reingest is None:
            raise ValueError(f"the response is over {limit} bytes and nothing can re-ingest")
        total -= len(answer["data"])
        chunks, stuck = _movable("".join(items[position].output), limit)
        put_back[:0] = chunks
        if stuck:
            item = items[position]
            log.error("firehose: record %s: %d output line(s) too large to deliver or "
                      "re-ingest; the record is answered ProcessingFailed and kept whole in "
                      "the error output", item.record_id[:80], len(stuck))
            answers[position] = {"recordId": item.record_id, "result": "ProcessingFailed",
                                 "data": item.data}
            total += len(item.data)
        else:
            answers[position] = {"recordId": answer["recordId"], "result": "Dropped",
                                 "data": ""}
    if total > limit:
        raise ValueError(f"the response is over {limit} bytes even without output")
    if put_back and reingest is not None:
        reingest(put_back)
    return answers


def _movable(text: str, limit: int) -> tuple[list[bytes], list[str]]:
    """The re-ingestable records of ``text``'s lines (each small enough for a later response
    to hold whole), and the lines that cannot travel (see :func:`_within_limit`). A line
    too large for any response is re-ingested alone, marked undeliverable: the next
    invocation answers it ``ProcessingFailed``, so that it lands in the error output."""
    room = limit - _ANSWER_OVERHEAD - _ID_ROOM - 2
    chunk_bytes = max(1, min(_PASS_CHUNK, room // 4 * 3))
    fits: list[str] = []
    chunks: list[bytes] = []
    stuck: list[str] = []
    for line in text.splitlines(keepends=True):
        if _answer_size(len(line.encode("utf-8")), "") + _ID_ROOM <= limit:
            fits.append(line)
        else:
            alone, too_large = _pass_chunks(line, len(line.encode("utf-8")), True)
            chunks += alone
            stuck += too_large
    ready, too_large = _pass_chunks("".join(fits), chunk_bytes)
    return ready + chunks, stuck + too_large
