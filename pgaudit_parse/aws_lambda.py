"""AWS Lambda handlers (extra ``pgaudit-parse[aws]``; boto3 is in every Lambda runtime).

``forward_handler``: a drop-in for the seed guide's scheduled function
(``Export-RDS-CloudWatch-Logs-To-SQS``), same environment variables:

    GROUP_NAME      log group, e.g. /aws/rds/instance/database-1/postgresql
    QUEUE_NAME      the queue URL (as in the seed), e.g. https://sqs.../1111/PostgresQueue
    PARAMETER_NAME  SSM parameter for the checkpoint, e.g. LastExecutionTimestamp (without
                    it, every run forwards the 5 minutes before it, with a warning)
    ENABLE_DEBUG    True/False: log each slice
    (optional) LAG_SECONDS (default 30), FILTER_PATTERN, LOG_LINE_PREFIX, AWS_ENDPOINT_URL

It forwards from the checkpoint up to now minus the lag, paginated and batched, as JSON
messages (see :mod:`pgaudit_parse.aws.messages`), so the schedule rate no longer has to
match a time delta in the code: a late or skipped run just forwards a larger window. It
stops 20 s before the Lambda timeout with a consistent checkpoint.

``subscription_handler``: for a CloudWatch Logs subscription filter (push, near real
time). It decodes the ``awslogs.data`` payload (base64 of gzip of JSON) and sends the
events to ``QUEUE_NAME`` in the same JSON messages; if ``RECORDS_QUEUE`` (a queue URL) is
set, it also parses them and sends the Guardium records there, one record per message
(``ACCOUNT_ID``/``INSTANCE`` override the account and instance names; ``REDACT`` is
``--redact``, default ``passwords``; ``TIMEZONE`` is ``--timezone``, the server's
log_timezone, for ambiguous zone abbreviations). Records come from
the same :class:`~pgaudit_parse.formats.guardium.RecordBuilder` as every other output
(one record per execution, passwords redacted), through a
:class:`~pgaudit_parse.sinks.QueueSink`: a record over the queue's limit (its
MaximumMessageSize, up to SQS's 1 MiB, or ``MAX_MESSAGE_BYTES``; 256 KiB when the role may
not read the attribute) is sent compressed,
or split into parts (:func:`~pgaudit_parse.sinks.encode_record_body`). Every body of an
invocation is built and its size checked before the first is sent, so no invocation
fails half-way for a size; on FIFO queues each body carries a deduplication id (for
records: the payload's event ids and the body's place, as two executions may render the
same record text), so a retried invocation sends nothing twice and drops nothing.

Both handlers run through the pump (:mod:`pgaudit_parse.pump`): the invocation succeeds
(returns) only after SQS accepted everything, and the forwarder's checkpoint moves only
then. ``ENABLE_DEBUG`` turns on this package's debug lines only (slices, counts, ids),
never botocore's wire logging.

``firehose_handler``: an Amazon Data Firehose transformation for a delivery stream fed by
a subscription filter; it answers each record with its output in ``OUTPUT_FORMAT``
(default ``records``) for S3, Security Lake, Splunk or any other Firehose destination.

Build the deployable zip with ``scripts/build-lambda-zip.sh``; handler names:
``pgaudit_parse.aws_lambda.forward_handler`` / ``pgaudit_parse.aws_lambda.subscription_handler``.

>>> _env_flag("True"), _env_flag("false"), _env_flag(None)
(True, False, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from typing import Any

from .aws.checkpoint import ParameterCheckpoint
from .aws.clients import AwsSettings, make_client
from .aws.cloudwatch import now_ms
from .aws.errors import AwsSetupError
from .aws.firehose import reingest_batches, transform_records, unresolved_note
from .aws.forwarder import (
    DEFAULT_LAG_MS,
    MIN_MESSAGE_BYTES,
    BatchSender,
    Forwarder,
    ForwardSink,
    queue_message_limit,
)
from .aws.messages import (
    MAX_BODY_BYTES,
    BodyError,
    EntryBoundary,
    checked_event,
    dead_letter_body,
    gunzip_base64,
)
from .aws.naming import instance_for_stream
from .lines import Line, Reject
from .parser import Parser
from .prefix import RDS_PREFIX
from .pump import Batch, ParserStage, PassThrough, Pump
from .sinks import FORMATS, QueueSink
from .sources import lines_from_cloudwatch_events
from .sql import REDACT_MODES

__all__ = ["forward_handler", "subscription_handler", "firehose_handler"]

log = logging.getLogger("pgaudit_parse.aws_lambda")

#: Stop starting new slices when less than this is left of the Lambda's time.
_SAFETY_MS = 20_000
#: PutRecordBatch calls for the records of one re-ingestion batch that keep failing.
_REINGEST_ATTEMPTS = 5


def _env_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def _settings() -> AwsSettings:
    return AwsSettings(region=os.environ.get("AWS_REGION") or None,
                       endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def _setup_logging() -> None:
    """This package's logger at DEBUG with ENABLE_DEBUG; the root logger (and so botocore,
    whose debug output holds credentials and message bodies) is never lowered."""
    level = logging.DEBUG if _env_flag(os.environ.get("ENABLE_DEBUG")) else logging.INFO
    ours = logging.getLogger("pgaudit_parse")
    ours.setLevel(level)
    if not logging.getLogger().handlers and not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        ours.addHandler(handler)
        ours.propagate = False


def _lag_ms() -> int:
    text = os.environ.get("LAG_SECONDS", "").strip()
    if not text:
        return DEFAULT_LAG_MS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 86400:
        raise AwsSetupError(f"LAG_SECONDS={text!r} is not a number of seconds (0 to 86400)")
    return int(value * 1000)


def _message_bytes(sqs: Any | None, queue_url: str) -> int | None:
    """``MAX_MESSAGE_BYTES`` when set, else the queue's MaximumMessageSize (with a client;
    None without one: the forwarder reads it)."""
    text = os.environ.get("MAX_MESSAGE_BYTES", "").strip()
    if not text:
        return queue_message_limit(sqs, queue_url) if sqs is not None else None
    if not text.isdigit() or not MIN_MESSAGE_BYTES <= int(text) <= MAX_BODY_BYTES:
        raise AwsSetupError(f"MAX_MESSAGE_BYTES={text!r} is not a number of bytes from "
                            f"{MIN_MESSAGE_BYTES} to {MAX_BODY_BYTES}")
    return int(text)


def forward_handler(event: Any, context: Any) -> dict[str, Any]:
    """Scheduled forwarder: CloudWatch log group -> SQS (the seed's function, done right).

    Returns ``{"events", "messages", "start", "end", "checkpoint", "complete"}``.
    """
    _setup_logging()
    group = _required("GROUP_NAME")
    queue_url = _required("QUEUE_NAME")
    parameter = os.environ.get("PARAMETER_NAME", "").strip() or None
    settings = _settings()
    logs = make_client("logs", settings)
    sqs = make_client("sqs", settings)
    store = ParameterCheckpoint(make_client("ssm", settings), parameter) if parameter else None
    if store is None:  # (as the CLI's forward says without --checkpoint-parameter)
        log.warning("no PARAMETER_NAME: no checkpoint is kept, every run forwards the 5 "
                    "minutes before it (a slower schedule loses events, a faster one sends "
                    "them again)")
    lag_ms = _lag_ms()
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def deadline() -> bool:
        return remaining is not None and remaining() < _SAFETY_MS

    forwarder = Forwarder(
        logs, sqs, group, queue_url, store,
        prefix=os.environ.get("LOG_LINE_PREFIX") or RDS_PREFIX, lag_ms=lag_ms,
        start_ms=now_ms() - 5 * 60 * 1000,
        filter_pattern=os.environ.get("FILTER_PATTERN") or None, deadline=deadline,
        message_bytes=_message_bytes(None, queue_url))
    started = time.monotonic()
    result = forwarder.run(now_ms())
    log.info("forwarded %d events of %s in %d messages (%.1fs)%s", result.events, group,
             result.messages, time.monotonic() - started,
             "" if result.complete else "; stopped early, the next run continues")
    return {"events": result.events, "messages": result.messages, "start": result.start,
            "end": result.end, "checkpoint": result.checkpoint, "complete": result.complete}


def decode_subscription_payload(event: Any) -> dict[str, Any]:
    """The JSON document inside a subscription filter's ``{"awslogs": {"data": ...}}``,
    or :class:`~pgaudit_parse.aws.messages.BodyError` saying why it cannot be read (not
    base64, not gzip or cut short, not JSON, not an object with a ``logEvents`` list).

    >>> import base64, gzip
    >>> raw = base64.b64encode(gzip.compress(b'{"messageType": "CONTROL_MESSAGE"}'))
    >>> decode_subscription_payload({"awslogs": {"data": raw.decode()}})["messageType"]
    'CONTROL_MESSAGE'
    >>> decode_subscription_payload({"awslogs": {"data": "%%%"}})
    Traceback (most recent call last):
    ...
    pgaudit_parse.aws.messages.BodyError: 'data' is not valid base64 (Only base64 data is allowed)
    """
    awslogs = event.get("awslogs") if isinstance(event, dict) else None
    data = awslogs.get("data") if isinstance(awslogs, dict) else None
    if not isinstance(data, str):
        raise BodyError("not a subscription filter event (no text 'awslogs.data')")
    raw = gunzip_base64(data)
    try:
        document = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise BodyError(f"'data' is not valid JSON ({_first_line(exc)})") from None
    except RecursionError:
        raise BodyError("'data' is JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise BodyError("'data' is not a JSON object")
    kind = document.get("messageType")
    if kind == "DATA_MESSAGE" and not isinstance(document.get("logEvents"), list):
        raise BodyError("'logEvents' is not a list of log events")
    if kind not in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        raise BodyError("'messageType' is neither DATA_MESSAGE nor CONTROL_MESSAGE")
    return document


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _raw_payload(event: Any) -> str:
    """The text to keep of a payload that cannot be decoded."""
    awslogs = event.get("awslogs") if isinstance(event, dict) else None
    data = awslogs.get("data") if isinstance(awslogs, dict) else None
    if isinstance(data, str):
        return data
    try:
        return json.dumps(event, default=str, ensure_ascii=False)
    except ValueError:
        return repr(event)


def _dead_letters(queue_url: str, letters: list[tuple[str, str]], where: str) -> int:
    """Log each thing that could not be decoded (one line: where, why, size; never its
    text) and, with a queue, send it there as a dead-letter body, which the consumer
    (``pgaudit-parse sqs``) writes to ``--errors`` with its raw text. Returns the number
    of bodies sent."""
    for reason, raw in letters:
        log.error("dead letter from %s: %s (%d characters)%s", where, reason, len(raw),
                  "; sent to QUEUE_NAME for the consumer's --errors" if queue_url else "")
    if not queue_url or not letters:
        return 0
    sqs = make_client("sqs", _settings())
    limit = _message_bytes(sqs, queue_url) or MAX_BODY_BYTES
    sender = BatchSender(sqs, queue_url, group_id="pgaudit-parse-dead-letters", limit=limit)
    sender.add([dead_letter_body(f"{where}: {reason}", raw, limit) for reason, raw in letters])
    sender.flush()
    return sender.sent


def subscription_handler(event: Any, context: Any) -> dict[str, Any]:
    """Subscription filter target: events -> SQS (JSON messages) and optionally records.

    A payload that cannot be decoded, and each log event in it without a text
    ``message`` or epoch-millisecond ``timestamp``, is a dead letter: one error line in
    the Lambda's log (never its text) and, with ``QUEUE_NAME``, a dead-letter body the
    consumer writes to ``--errors`` with its raw text; the other events go on.

    Returns ``{"events", "messages", "records", "rejects"}``.
    """
    _setup_logging()
    queue_url = os.environ.get("QUEUE_NAME", "").strip()
    records_queue = os.environ.get("RECORDS_QUEUE", "").strip()
    if not queue_url and not records_queue:
        raise RuntimeError("set QUEUE_NAME (events) and/or RECORDS_QUEUE (Guardium records)")
    try:
        payload = decode_subscription_payload(event)
    except BodyError as exc:
        sent = _dead_letters(queue_url, [(str(exc), _raw_payload(event))],
                             "subscription payload")
        return {"events": 0, "messages": sent, "records": 0, "rejects": 1}
    if payload.get("messageType") != "DATA_MESSAGE":
        return {"events": 0, "messages": 0, "records": 0, "rejects": 0}
    group = str(payload.get("logGroup", ""))
    stream = str(payload.get("logStream", ""))
    events: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    for index, item in enumerate(payload["logEvents"]):
        try:
            if isinstance(item, dict):  # CloudWatch's keys (id) as the forwarder's
                item = {"eventId": item.get("id"), "logStreamName": stream,
                        **{k: v for k, v in item.items() if k not in ("id", "eventId")}}
            events.append(checked_event(item, index, stream))
        except BodyError as exc:
            bad.append((str(exc), json.dumps(item, default=str, ensure_ascii=False)))
    settings = _settings()
    sqs = make_client("sqs", settings)
    prefix = os.environ.get("LOG_LINE_PREFIX") or RDS_PREFIX
    result = {"events": len(events), "messages": 0, "records": 0, "rejects": len(bad)}

    # Every body is built (and its size checked) before the first is sent: the records
    # are rendered into a deferred sender first; the events' bodies are all packed before
    # their sink's durable flush sends them; then the records go out. A body that cannot
    # be sent fails the invocation before anything was sent.
    records_sender: BatchSender | None = None
    if records_queue:
        account = os.environ.get("ACCOUNT_ID") or str(payload.get("owner") or "") or None
        instance = os.environ.get("INSTANCE") or instance_for_stream(group, stream) or stream
        # On a FIFO queue two executions may render the same record text: deduplicate
        # by this payload's identity (its events' ids) and the record's place, so that a
        # retried invocation sends nothing twice and no record is taken for another.
        identity = "\n".join([group, stream, *(str(e["eventId"]) for e in events)])
        limit = _message_bytes(sqs, records_queue) or MAX_BODY_BYTES
        records_sender = BatchSender(sqs, records_queue, defer=True,
                                     group_id=stream or "pgaudit-parse",
                                     dedup_key=hashlib.sha256(
                                         identity.encode("utf-8", "surrogatepass")).hexdigest(),
                                     limit=limit)
        sink = QueueSink(records_sender.add, "records", account, instance,
                         redact=os.environ.get("REDACT") or "passwords", limit=limit)

        def on_reject(reject: Reject) -> None:
            sink.reject(reject)
            # Position and reason only: the raw line may hold SQL literals.
            log.warning("rejected %s line %d: %s", reject.source, reject.line, reject.reason)

        zone = os.environ.get("TIMEZONE") or None  # the server's log_timezone
        records: Pump[Line] = Pump(sink, lambda partition: ParserStage(
            Parser(prefix, on_reject=on_reject, timezone=zone)))
        records.process(Batch(lines_from_cloudwatch_events(events, f"{group}/{stream}"),
                              flush=True))  # rendered and queued in the deferred sender
        result["records"] = sink.written
        result["rejects"] += sink.rejected
        # No state is kept between invocations (one per CloudWatch batch): say what that
        # cost the records.
        unresolved = sum(stage.parser.unresolved_statements for stage in records.stages()
                         if isinstance(stage, ParserStage))
        if unresolved:
            log.warning("records: %s", unresolved_note(unresolved))

    if queue_url:
        limit = _message_bytes(sqs, queue_url) or MAX_BODY_BYTES
        sender = BatchSender(sqs, queue_url, defer=True, group_id=stream or "pgaudit-parse",
                             limit=limit)
        forward = Pump(ForwardSink(group, sender, EntryBoundary(prefix), limit),
                       lambda partition: PassThrough())
        forward.process(Batch(events, flush=True))  # packs every body, then sends them
        result["messages"] = sender.sent

    if records_sender is not None:
        records_sender.flush()
    result["messages"] += _dead_letters(queue_url, bad, f"{group}/{stream}")
    return result


def firehose_handler(event: Any, context: Any) -> dict[str, Any]:
    """Amazon Data Firehose transformation for CloudWatch Logs subscription records.

    Returns ``{"records": [{"recordId", "result", "data"}, ...]}``, one per input record
    (see :mod:`pgaudit_parse.aws.firehose`). Environment: ``OUTPUT_FORMAT`` (``records``,
    the default, or any other ``--format``), ``LOG_LINE_PREFIX``, ``TIMEZONE`` (the server's
    log_timezone), ``ACCOUNT_ID``, ``INSTANCE``, ``REDACT`` (``--redact``; default: the
    format's). Output over Lambda's response limit is put
    back on the delivery stream named in the event's ``deliveryStreamArn`` and passed
    through by the next invocation.
    """
    _setup_logging()
    fmt = os.environ.get("OUTPUT_FORMAT", "").strip() or "records"
    if fmt not in FORMATS:
        raise RuntimeError(f"OUTPUT_FORMAT must be one of {', '.join(FORMATS)}")
    redact = os.environ.get("REDACT", "").strip() or None
    if redact is not None and redact not in REDACT_MODES:
        raise RuntimeError(f"REDACT must be one of {', '.join(REDACT_MODES)}")
    if not isinstance(event, dict):  # (None, or not a Firehose event): nothing to answer
        log.error("firehose: the event is not an object with 'records'")
        return {"records": []}
    stream_arn = str(event.get("deliveryStreamArn") or "")

    def reingest(chunks: list[bytes]) -> None:
        firehose = make_client("firehose", _settings())
        name = stream_arn.rsplit("/", 1)[-1]
        for pending in reingest_batches(chunks):  # PutRecordBatch's limits per call
            for attempt in range(_REINGEST_ATTEMPTS):
                answer = firehose.put_record_batch(
                    DeliveryStreamName=name, Records=[{"Data": chunk} for chunk in pending])
                if not answer.get("FailedPutCount"):
                    break
                # Only the records that failed go again: failing the invocation would
                # make Firehose retry it and re-ingest the others twice.
                responses = answer.get("RequestResponses") or []
                if len(responses) != len(pending):
                    raise RuntimeError(f"{answer['FailedPutCount']} re-ingested record(s) "
                                       f"failed (no per-record answer)")
                code = next(r.get("ErrorCode") for r in responses if r.get("ErrorCode"))
                pending = [c for c, r in zip(pending, responses, strict=True)
                           if r.get("ErrorCode")]
                log.warning("%d re-ingested record(s) not accepted (%s); retrying",
                            len(pending), code)
                time.sleep(min(5.0, 0.2 * 2 ** attempt))
            else:
                raise RuntimeError(f"{len(pending)} re-ingested record(s) kept failing")
        log.info("re-ingested %d record(s) of output into %s", len(chunks), name)

    def rejected(reject: Reject) -> None:
        # Position and reason only: the raw line may hold SQL literals.
        log.warning("rejected %s line %d: %s", reject.source, reject.line, reject.reason)

    records = event.get("records")
    answers = transform_records(
        records if isinstance(records, list) else [], fmt=fmt,
        prefix=os.environ.get("LOG_LINE_PREFIX") or RDS_PREFIX,
        account_id=os.environ.get("ACCOUNT_ID") or None,
        instance=os.environ.get("INSTANCE") or None,
        reingest=reingest if stream_arn else None, on_reject=rejected,
        timezone=os.environ.get("TIMEZONE") or None, redact=redact)
    counts: dict[str, int] = {}
    for answer in answers:
        counts[answer["result"]] = counts.get(answer["result"], 0) + 1
    log.info("firehose: %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return {"records": answers}
