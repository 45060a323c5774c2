"""Defects found by the scale-out hunt (Firehose transformation, re-ingestion, subscribe):
each test failed before its fix."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import random
from typing import Any

import pytest
from aws_harness import without_dedup_id

from pgaudit_parse.aws import firehose
from pgaudit_parse.aws.firehose import decode_record, transform_records

ACCOUNT = "123456789012"
GROUP = "/aws/rds/instance/db1/postgresql"
#: Firehose's documented limits: a record's data, and one PutRecordBatch call.
RECORD_BYTES = 1_000_000  # ("1,000 KB")
CALL_BYTES = 4_000_000  # ("4 MB")
CALL_RECORDS = 500


def _line(n: int, sql: str, session: int = 42) -> str:
    return (f"2026-11-25 16:05:{n % 60:02d} UTC:10.0.0.5(50012):alice@shop:[{session}]:LOG:  "
            f"AUDIT: SESSION,{n},1,READ,SELECT,TABLE,public.t,\"{sql}\",<none>")


def _data(events: list[str], *, group: str = GROUP, owner: str = ACCOUNT,
          stream: str = "db1") -> str:
    document = {"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group,
                "logStream": stream, "subscriptionFilters": ["pgaudit"],
                "logEvents": [{"id": str(n), "timestamp": 1795622701000 + n, "message": m}
                              for n, m in enumerate(events)]}
    text = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return base64.b64encode(gzip.compress(text, compresslevel=1)).decode()


def _delivered(answers: list[dict[str, str]]) -> list[str]:
    return [without_dedup_id(line) for a in answers if a["result"] == "Ok"
            for line in base64.b64decode(a["data"]).decode("utf-8").splitlines()]


def _records_of(chunks: list[bytes], prefix: str) -> list[dict[str, str]]:
    return [{"recordId": f"{prefix}{i}", "data": base64.b64encode(c).decode()}
            for i, c in enumerate(chunks)]


def _hard_text(rng: random.Random, characters: int) -> str:
    """Text gzip cannot shrink much: random CJK Extension B characters (4 bytes each)."""
    values = memoryview(rng.randbytes(2 * characters)).cast("H")
    return "".join([chr(0x20000 + v % 0xA6E0) for v in values])


# -- an output line too big for any response went round the stream forever -----------

def test_output_line_too_big_for_any_response_is_not_reingested_forever() -> None:
    """One statement whose output alone is over the response limit: re-ingesting it made
    the next invocation re-ingest it again, forever (never delivered, never failed). It
    now fails its record (the original data stays whole in Firehose's error output)."""
    small = [_line(n, f"select {n}") for n in range(5)]
    huge = _line(9, "select '" + "x" * 40_000 + "'")
    records = [{"recordId": "a", "data": _data(small[:3])},
               {"recordId": "b", "data": _data([huge])},
               {"recordId": "c", "data": _data(small[3:])}]
    delivered: list[str] = []
    failed: list[dict[str, str]] = []
    batch = records
    for invocation in range(4):
        put_back: list[bytes] = []
        answers = transform_records(batch, limit=20_000, reingest=put_back.extend)
        assert [a["recordId"] for a in answers] == [r["recordId"] for r in batch]
        assert sum(len(json.dumps(a)) for a in answers) <= 20_000
        delivered += _delivered(answers)
        failed += [a for a in answers if a["result"] == "ProcessingFailed"]
        if not put_back:
            break
        batch = _records_of(put_back, f"x{invocation}-")
    else:
        pytest.fail("output was still being re-ingested after 4 invocations")
    assert len(delivered) == 5  # every small statement, once
    assert any("x" * 40_000 in _failed_text(a) for a in failed)


def _failed_text(answer: dict[str, str]) -> str:
    """The text a ProcessingFailed answer keeps (a subscription payload or passed output)."""
    payload = decode_record(answer["data"])
    if payload["messageType"] == firehose.PASSED_OUTPUT:
        return str(payload["output"])
    return json.dumps(payload)


# -- re-ingestion ignored PutRecordBatch's per-call and per-record limits -------------

class LimitedHose:
    """A Firehose client that enforces PutRecordBatch's documented limits (moto does not):
    500 records and 4 MB per call, 1,000 KiB per record."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.calls = 0

    def put_record_batch(self, DeliveryStreamName: str,  # noqa: N803 - boto3's names
                         Records: list[dict[str, bytes]]) -> dict[str, Any]:
        self.calls += 1
        sizes = [len(r["Data"]) for r in Records]
        if len(Records) > CALL_RECORDS or sum(sizes) > CALL_BYTES or max(sizes) > RECORD_BYTES:
            raise RuntimeError(f"InvalidArgumentException: {len(Records)} records, "
                               f"{sum(sizes)} bytes, largest {max(sizes)}")
        self.records += [r["Data"] for r in Records]
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"} for _ in Records]}


def test_reingested_output_keeps_to_put_record_batch_limits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Output that does not fit the response went back in calls of 100 records whatever
    their size (over 4 MB a call), in chunks counted in characters (a chunk of 4-byte
    characters could pass 1,000 KiB). Now each call and each record keeps to the limits,
    and all of the output comes out of the next invocations."""
    import pgaudit_parse.aws_lambda as handler

    rng = random.Random(7)
    events = [_line(n, "select '" + _hard_text(rng, 30_000) + "'") for n in range(100)]
    records = [{"recordId": f"r{i}", "data": _data(events[i:i + 3])}
               for i in range(0, len(events), 3)]
    hose = LimitedHose()
    monkeypatch.setattr(handler, "make_client", lambda service, settings: hose)
    monkeypatch.setattr(firehose, "RESPONSE_LIMIT", 2_000_000)
    arn = f"arn:aws:firehose:eu-west-1:{ACCOUNT}:deliverystream/pgaudit"
    got: list[str] = []
    batch = records
    for invocation in range(30):
        before = len(hose.records)
        answers = handler.firehose_handler(
            {"invocationId": f"i{invocation}", "deliveryStreamArn": arn, "records": batch},
            None)["records"]
        assert [a["recordId"] for a in answers] == [r["recordId"] for r in batch]
        assert {a["result"] for a in answers} <= {"Ok", "Dropped"}
        got += _delivered(answers)
        if len(hose.records) == before:
            break
        batch = _records_of(hose.records[before:], f"x{invocation}-")
    assert invocation > 0 and hose.calls > 0
    assert len(got) == len(events)
    assert sorted(json.loads(line)["data"]["originalSqlCommand"] for line in got) == sorted(
        "select '" + e.split("select '", 1)[1].split("'", 1)[0] + "'" for e in events)


def test_passed_output_records_stay_under_firehose_record_limit() -> None:
    """Re-ingested records were cut every 512 Ki *characters*: output of 4-byte characters
    made records of 1.3 MB, over Firehose's 1,000 KiB. They are cut by bytes now, and
    carry the output whole and in order."""
    rng = random.Random(3)
    text = "".join(_hard_text(rng, 20_000) + "\n" for _ in range(60))
    chunks = firehose.passed_output(text)
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= RECORD_BYTES
    assert "".join(decode_record(base64.b64encode(c).decode())["output"]
                   for c in chunks) == text


# -- a lone surrogate escape in a payload field crashed the whole invocation ----------

@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
@pytest.mark.parametrize("field", ["logGroup", "owner", "logStream", "output"])
def test_lone_surrogate_in_a_payload_field_does_not_fail_the_invocation(
        fmt: str, field: str) -> None:
    """JSON may escape a lone surrogate (``\\ud800``), which no UTF-8 output can hold: in
    the log group or the owner it made the answer's encoding raise, failing every record
    of the invocation. It is now escaped as the project escapes it everywhere."""
    good = {"recordId": "good", "data": _data([_line(1, "select 1", session=7)])}
    if field == "output":
        text = json.dumps({"messageType": firehose.PASSED_OUTPUT, "output": "a\ud800b\n"})
        odd = {"recordId": "odd", "data": base64.b64encode(text.encode()).decode()}
    else:
        odd = {"recordId": "odd", "data": _data(
            [_line(2, "select 2")],
            **{{"logGroup": "group", "logStream": "stream"}.get(field, field):
               {"logGroup": GROUP + "\ud800", "owner": "1234\ud800",
                "logStream": "db1\ud800"}[field]})}
    answers = transform_records([good, odd], fmt=fmt, reingest=lambda chunks: None)
    assert [a["recordId"] for a in answers] == ["good", "odd"]
    assert {a["result"] for a in answers} <= {"Ok", "Dropped"}
    lines = _delivered(answers)
    assert len(lines) == 2
    if field == "output":  # passed through, escaped as a log file's invalid text reads
        assert "a\\ud800b" in lines


# -- a gzip bomb was expanded whole -------------------------------------------------

def test_record_that_expands_past_the_bound_fails_alone() -> None:
    """A record's gzip was expanded without a bound (a 1 MB record may expand to 1 GB and
    end the Lambda out of memory, failing the whole batch). Like the subscription
    handler's payloads, it may expand to MAX_DECODED_BYTES; past that it fails alone."""
    from pgaudit_parse.aws.messages import MAX_DECODED_BYTES

    bomb = json.dumps({"messageType": "CONTROL_MESSAGE",
                       "padding": " " * (MAX_DECODED_BYTES + 1)}).encode()
    data = base64.b64encode(gzip.compress(bomb)).decode()
    good = {"recordId": "good", "data": _data([_line(1, "select 1")])}
    answers = transform_records([good, {"recordId": "bomb", "data": data}])
    assert [(a["recordId"], a["result"]) for a in answers] == [
        ("good", "Ok"), ("bomb", "ProcessingFailed")]
    assert answers[1]["data"] == data


# -- what an invocation edge loses was not said ---------------------------------------

def test_previously_logged_of_an_earlier_invocation_is_said(
        caplog: pytest.LogCaptureFixture) -> None:
    """A ``<previously logged>`` line whose statement came in an earlier invocation keeps
    the marker (the handler has no state between invocations): that loss of the SQL text
    was silent. It is now one warning line with the count."""
    first = [_line(1, "CREATE TABLE notes (id int)")]
    second = [("2026-11-25 16:05:02 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  AUDIT: "
               "SESSION,1,2,DDL,CREATE INDEX,INDEX,public.notes_pkey,<previously logged>,"
               "<previously logged>")]
    with caplog.at_level(logging.INFO, logger="pgaudit_parse"):
        transform_records([{"recordId": "a", "data": _data(first)}])
        assert not [r for r in caplog.records if "previously logged" in r.getMessage()]
        answers = transform_records([{"recordId": "b", "data": _data(second)}], fmt="events")
    assert answers[0]["result"] == "Ok"
    said = [r.getMessage() for r in caplog.records if "previously logged" in r.getMessage()]
    assert len(said) == 1 and "1 audit line" in said[0] and "\n" not in said[0]
    assert "notes" not in said[0]  # counts only, never statement text


# -- gzip members after the first ----------------------------------------------------

def _members(document: dict[str, Any]) -> bytes:
    """The document's JSON as two concatenated gzip members (valid gzip: ``gzip -c a b``)."""
    text = json.dumps(document).encode()
    return gzip.compress(text[:len(text) // 2]) + gzip.compress(text[len(text) // 2:])


def _document(events: list[str]) -> dict[str, Any]:
    return {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": GROUP,
            "logStream": "db1", "subscriptionFilters": ["pgaudit"],
            "logEvents": [{"id": str(n), "timestamp": 1795622701000 + n, "message": m}
                          for n, m in enumerate(events)]}


def test_firehose_reads_every_gzip_member_and_fails_trailing_junk() -> None:
    events = [_line(n, f"select {n}", session=n) for n in range(4)]
    whole = base64.b64encode(_members(_document(events))).decode()
    junk = base64.b64encode(gzip.compress(json.dumps(_document(events[:1])).encode())
                            + b"junk").decode()
    answers = transform_records([{"recordId": "whole", "data": whole},
                                 {"recordId": "junk", "data": junk}])
    assert [a["result"] for a in answers] == ["Ok", "ProcessingFailed"]
    assert len(_delivered(answers)) == 4


def test_subscription_payload_of_several_gzip_members_is_read_whole(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subscription handler read the first gzip member of ``awslogs.data`` and
    dropped the rest unread, silently. Every member is read now."""
    from pgaudit_parse.aws.messages import decode_body
    from pgaudit_parse.aws_lambda import subscription_handler

    events = [_line(n, f"select {n}", session=n) for n in range(6)]
    url = aws.queue(aws.unique("members"))
    monkeypatch.setenv("QUEUE_NAME", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    data = base64.b64encode(_members(_document(events))).decode()
    result = subscription_handler({"awslogs": {"data": data}}, None)
    assert result["events"] == 6 and result["rejects"] == 0
    got: list[str] = []
    while True:
        messages = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        got += [line.text for m in messages for line in decode_body(m["Body"], "q")[1]]
        aws.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)])
    assert sorted(got) == sorted(events)


# -- a live server's log: the Firehose output equals the CLI's -----------------------

def _log_messages(text: str) -> list[str]:
    """One CloudWatch event per PostgreSQL message (a line and its TAB continuations), as
    RDS publishes them."""
    messages: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("\t") and messages:
            messages[-1].append(line)
        elif line:
            messages.append([line])
    return ["\n".join(lines) for lines in messages]


def _comparable(line: str, path: str) -> Any:
    """An output object without what names the input (file path or log group, stream,
    line number), which differ between a file and a log group by design."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if k not in ("line", "source_line", "stream", "source", "log_name")
                    and not (k == "file" and isinstance(v, dict))}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return json.dumps(strip(json.loads(line.replace(json.dumps(path)[1:-1], GROUP))),
                      sort_keys=True)


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_live_server_log_through_firehose_equals_the_cli(server_run: Any, fmt: str,
                                                         tmp_path: Any) -> None:
    import subprocess
    import sys

    path = str(server_run.stderr_log)
    cli = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", path, "--format", fmt, "--quiet",
         "--prefix", server_run.prefix, "--timezone", server_run.log_timezone,
         "--account-id", ACCOUNT, "--instance", "db1"],
        capture_output=True, text=True, timeout=300, check=True).stdout.splitlines()
    messages = _log_messages(server_run.stderr_log.read_bytes().decode("utf-8"))
    rng = random.Random(fmt + server_run.name)
    records, position = [], 0
    while position < len(messages):
        size = rng.randint(1, 5)
        records.append({"recordId": f"r{position}",
                        "data": _data(messages[position:position + size])})
        position += size
    answers = transform_records(records, fmt=fmt, prefix=server_run.prefix,
                                account_id=ACCOUNT, instance="db1",
                                timezone=server_run.log_timezone)
    assert [a["recordId"] for a in answers] == [r["recordId"] for r in records]
    assert {a["result"] for a in answers} <= {"Ok", "Dropped"}
    got = _delivered(answers)
    assert len(cli) > 20
    assert sorted(_comparable(line, path) for line in got) == sorted(
        _comparable(line, path) for line in cli)


def test_subscription_records_say_previously_logged_of_an_earlier_batch(
        aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """CloudWatch Logs invokes the subscription handler once per batch, and its record
    parser keeps nothing between invocations: a ``<previously logged>`` line whose
    statement came in an earlier batch made a record without its SQL, silently. One
    warning line now gives the count (never the statement)."""
    from pgaudit_parse.aws_lambda import subscription_handler

    url = aws.queue(aws.unique("prevrec"))
    monkeypatch.setenv("RECORDS_QUEUE", url)
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    second = [("2026-11-25 16:05:02 UTC:10.0.0.5(50012):alice@shop:[42]:LOG:  AUDIT: "
               "SESSION,1,2,DDL,CREATE INDEX,INDEX,public.secret_notes_pkey,"
               "<previously logged>,<previously logged>")]
    data = base64.b64encode(gzip.compress(json.dumps(_document(second)).encode())).decode()
    with caplog.at_level(logging.INFO, logger="pgaudit_parse"):
        result = subscription_handler({"awslogs": {"data": data}}, None)
    assert result["records"] == 1
    said = [r.getMessage() for r in caplog.records if "previously logged" in r.getMessage()]
    assert len(said) == 1 and "1 audit line" in said[0] and "\n" not in said[0]
    assert "secret_notes" not in said[0]


def test_forward_handler_without_parameter_name_says_it(
        aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Without PARAMETER_NAME the forwarder keeps no checkpoint: every run forwards the
    five minutes before it, so a slower schedule loses events and a faster one sends them
    again, and nothing said so (the CLI's forward warns). One warning line now."""
    from pgaudit_parse.aws.cloudwatch import now_ms
    from pgaudit_parse.aws_lambda import forward_handler

    group = aws.log_group(aws.unique("/aws/rds/instance/nockpt") + "/postgresql", ["db"])
    url = aws.queue(aws.unique("nockpt"))
    now = now_ms()
    aws.put(group, "db", [(now - 60_000, _line(1, "select 1"))])
    monkeypatch.setenv("GROUP_NAME", group)
    monkeypatch.setenv("QUEUE_NAME", url)
    monkeypatch.delenv("PARAMETER_NAME", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("LAG_SECONDS", "0")
    with caplog.at_level(logging.INFO, logger="pgaudit_parse"):
        assert forward_handler({}, None)["events"] == 1
    said = [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "PARAMETER_NAME" in r.getMessage()]
    assert len(said) == 1 and "\n" not in said[0]


@pytest.mark.parametrize("fmt", ["events", "records"])
def test_firehose_handler_takes_redact_as_the_subscription_handler_does(
        fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """REDACT (the CLI's --redact) was read by the subscription handler only: events
    through Firehose kept a password as logged, with no way to hide it, and literals could
    not be hidden from records. The Firehose handler takes REDACT now."""
    from pgaudit_parse.aws_lambda import firehose_handler

    secret = "hunter2-Pa55"
    line = _line(1, f"ALTER ROLE bob PASSWORD '{secret}'").replace("READ,SELECT,TABLE,public.t",
                                                                    "ROLE,ALTER ROLE,,")
    monkeypatch.setenv("OUTPUT_FORMAT", fmt)
    event = {"records": [{"recordId": "a", "data": _data([line, _line(2, "select 42")])}]}
    plain = _delivered(firehose_handler(event, None)["records"])
    assert (secret in "".join(plain)) == (fmt == "events")  # each format's default
    monkeypatch.setenv("REDACT", "literals")
    hidden = "".join(_delivered(firehose_handler(event, None)["records"]))
    assert secret not in hidden and "select 42" not in hidden and "select" in hidden
    monkeypatch.setenv("REDACT", "maybe")
    with pytest.raises(RuntimeError, match="REDACT"):
        firehose_handler(event, None)


def test_subscription_records_take_timezone_as_the_firehose_handler_does(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subscription handler's records had no TIMEZONE (the Firehose handler, Spark and
    the CLI have it): a server logging ``CST`` in Asia/Shanghai got records 14 hours off
    (CST read as US Central), with no way to say otherwise."""
    from datetime import datetime, timedelta, timezone

    from pgaudit_parse.aws_lambda import subscription_handler
    from pgaudit_parse.sinks import decode_record_body

    url = aws.queue(aws.unique("tzrec"))
    monkeypatch.setenv("RECORDS_QUEUE", url)
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")
    line = _line(1, "select 1").replace("2026-11-25 16:05:01 UTC", "2026-11-25 22:17:28 CST")
    data = base64.b64encode(gzip.compress(json.dumps(_document([line])).encode())).decode()
    assert subscription_handler({"awslogs": {"data": data}}, None)["records"] == 1
    [message] = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0)["Messages"]
    record = decode_record_body(message["Body"])
    want = datetime(2026, 11, 25, 22, 17, 28, tzinfo=timezone(timedelta(hours=8)))
    assert record["time"]["timstamp"] == int(want.timestamp() * 1000)
    assert record["time"]["minOffsetFromGMT"] == 480
