"""The Firehose transformation: a real server's log as CloudWatch subscription payloads,
gzipped and base64, split across records and invocations, gives the same output as the
file; control messages are dropped; damaged records fail alone; output over the response
limit goes back on the delivery stream (moto's server mode) and comes out once."""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import re
import zlib
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_harness import AWS_ENV, REGION, REPO, Aws, without_dedup_id
from workload import RDS_PREFIX, RICH_PREFIX

from pgaudit_parse.aws import firehose
from pgaudit_parse.aws.firehose import decode_record, transform_records
from pgaudit_parse.aws_lambda import firehose_handler
from pgaudit_parse.lines import Line
from pgaudit_parse.parser import Parser
from pgaudit_parse.prefix import LinePrefix
from pgaudit_parse.sinks import OutputSink

ACCOUNT = "123456789012"
GROUP = "/aws/rds/instance/db1/postgresql"
FIXTURES = {"real-rds.log": RDS_PREFIX, "real-rich.log": RICH_PREFIX}
#: The rich server logged in Asia/Kolkata (its ``IST`` is otherwise ambiguous).
ZONES = {"real-rds.log": None, "real-rich.log": "Asia/Kolkata"}
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")


def _messages(log: Path) -> list[str]:
    """One CloudWatch event per PostgreSQL message (a prefixed line and its TAB
    continuation lines), as RDS publishes them."""
    messages: list[list[str]] = []
    for line in log.read_bytes().decode("utf-8").split("\n"):
        if _STAMP.match(line):
            messages.append([line])
        elif messages and line:
            messages[-1].append(line)
    return ["\n".join(lines) for lines in messages]


def _payload(stream: str, events: list[tuple[int, str]], kind: str = "DATA_MESSAGE") -> str:
    document = {"messageType": kind, "owner": ACCOUNT, "logGroup": GROUP, "logStream": stream,
                "subscriptionFilters": ["pgaudit"],
                "logEvents": [{"id": str(n), "timestamp": 1795622701000 + n, "message": m}
                              for n, m in events]}
    return base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()


def _file_output(messages: list[str], prefix: str, fmt: str,
                 timezone: str | None = None) -> list[str]:
    out = io.StringIO()
    sink = OutputSink(out, None, fmt, ACCOUNT, "db1")
    parser = Parser(prefix, timezone=timezone)
    number = 0
    for message in messages:
        for text in message.split("\n"):
            number += 1
            for event in parser.feed(Line(text, GROUP, number, "db1")):
                sink.write(event)
    for event in parser.flush():
        sink.write(event)
    sink.flush()
    return out.getvalue().splitlines()


def _quiet_points(messages: list[str], prefix: str, timezone: str | None) -> list[int]:
    """Message indexes before which nothing is open (no message waits for more lines and
    no record for its duration): where a stateless invocation may end."""
    sink = OutputSink(io.StringIO(), None, "records", ACCOUNT, "db1")
    parser = Parser(LinePrefix(prefix), timezone=timezone)
    quiet = []
    number = 0
    for index, message in enumerate(messages):
        if index and not parser.pending_lines() and sink.oldest_held_line() is None:
            quiet.append(index)
        for text in message.split("\n"):
            number += 1
            for event in parser.feed(Line(text, GROUP, number, "db1")):
                sink.write(event)
    return quiet


def _decoded(answers: list[dict[str, str]]) -> list[str]:
    lines: list[str] = []
    for answer in answers:
        if answer["result"] == "Ok":
            lines += map(without_dedup_id,
                         base64.b64decode(answer["data"]).decode("utf-8").splitlines())
    return lines


@pytest.mark.parametrize("fmt", ["records", "events"])
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_split_across_records_and_invocations_equals_the_file(name: str, fmt: str) -> None:
    prefix = FIXTURES[name]
    messages = _messages(REPO / "fixtures" / name)
    expected = _file_output(messages, prefix, fmt, ZONES[name])
    assert len(expected) > 10
    rng = random.Random(name + fmt)
    quiet = _quiet_points(messages, prefix, ZONES[name])
    cuts = sorted(rng.sample(quiet, min(3, len(quiet))))
    got: list[str] = []
    for start, stop in zip([0, *cuts], [*cuts, len(messages)], strict=True):
        records, position = [], start
        while position < stop:  # records of 1 to 6 events, split anywhere
            size = rng.randint(1, 6)
            chunk = list(enumerate(messages[position:min(stop, position + size)], position))
            records.append({"recordId": f"r{position}", "data": _payload("db1", chunk)})
            position += size
        answers = transform_records(records, fmt=fmt, prefix=prefix, account_id=ACCOUNT,
                                    instance="db1", timezone=ZONES[name])
        assert [a["recordId"] for a in answers] == [r["recordId"] for r in records]
        assert {a["result"] for a in answers} <= {"Ok", "Dropped"}
        got += _decoded(answers)
    assert sorted(got) == sorted(expected)


def test_control_messages_are_dropped_and_damaged_records_fail_alone() -> None:
    messages = _messages(REPO / "fixtures" / "real-rds.log")
    good = [{"recordId": f"g{i}", "data": _payload("db1", [(i, m)])}
            for i, m in enumerate(messages)]
    clean = _decoded(transform_records(good, account_id=ACCOUNT, instance="db1"))
    not_json = base64.b64encode(gzip.compress(b"{not json")).decode()
    bad_gzip = base64.b64encode(b"\x1f\x8b\x08\x00garbage").decode()
    wrong_types = base64.b64encode(json.dumps(
        {"messageType": "DATA_MESSAGE", "logGroup": 3, "logEvents": "x"}).encode()).decode()
    damaged = {"bad-base64": "!!!not base64!!!", "bad-gzip": bad_gzip, "not-json": not_json,
               "wrong-types": wrong_types}
    control = {"recordId": "control", "data": _payload("db1", [], "CONTROL_MESSAGE")}
    mixed = list(good)
    for n, (rid, data) in enumerate(damaged.items()):
        mixed.insert(3 * n + 1, {"recordId": rid, "data": data})
    mixed.insert(2, control)
    answers = transform_records(mixed, account_id=ACCOUNT, instance="db1")
    by_id = {a["recordId"]: a for a in answers}
    assert len(answers) == len(mixed)
    assert by_id["control"]["result"] == "Dropped"
    for rid, data in damaged.items():
        assert by_id[rid] == {"recordId": rid, "result": "ProcessingFailed", "data": data}
    assert sorted(_decoded(answers)) == sorted(clean)


def test_a_rejected_line_fails_its_record_and_nothing_else_is_lost() -> None:
    messages = _messages(REPO / "fixtures" / "real-rds.log")
    records = [{"recordId": f"g{i}", "data": _payload("db1", [(i, m)])}
               for i, m in enumerate(messages)]
    clean = _decoded(transform_records(records, account_id=ACCOUNT, instance="db1"))
    junk = {"recordId": "junk", "data": _payload("db1", [(999, "this is not a log line")])}
    answers = transform_records(records[:5] + [junk] + records[5:], account_id=ACCOUNT,
                                instance="db1")
    assert [a for a in answers if a["recordId"] == "junk"] == [
        {"recordId": "junk", "result": "ProcessingFailed", "data": junk["data"]}]
    assert sorted(_decoded(answers)) == sorted(clean)


def test_output_over_the_limit_is_reingested_and_passed_through_once() -> None:
    messages = _messages(REPO / "fixtures" / "real-rich.log")
    records = [{"recordId": f"r{i}", "data": _payload("db1", [(i, m)])}
               for i, m in enumerate(messages)]
    full = _decoded(transform_records(records, fmt="events", prefix=RICH_PREFIX,
                                         timezone="Asia/Kolkata"))
    put_back: list[bytes] = []
    answers = transform_records(records, fmt="events", prefix=RICH_PREFIX, limit=20_000,
                                reingest=put_back.extend, timezone="Asia/Kolkata")
    size = sum(len(json.dumps(a)) for a in answers)
    assert size <= 20_000
    assert put_back and any(a["result"] == "Dropped" for a in answers)
    again = transform_records(
        [{"recordId": f"x{i}", "data": base64.b64encode(b).decode()}
         for i, b in enumerate(put_back)], fmt="events", prefix=RICH_PREFIX,
        timezone="Asia/Kolkata")
    assert {a["result"] for a in again} == {"Ok"}
    assert sorted(_decoded(answers) + _decoded(again)) == sorted(full)
    for chunk in put_back:
        assert decode_record(base64.b64encode(chunk).decode())["messageType"] == \
            firehose.PASSED_OUTPUT


def test_handler_reingests_through_the_delivery_stream(aws: Aws,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda handler puts output that does not fit back on its delivery stream
    (PutRecordBatch against the emulator), and that output comes out of the next run."""
    s3, hose, bucket, arn = _delivery_stream(aws)
    messages = _messages(REPO / "fixtures" / "real-rich.log")
    records = [{"recordId": f"r{i}", "data": _payload("db1", [(i, m)])}
               for i, m in enumerate(messages)]
    full = _decoded(transform_records(records, fmt="events", prefix=RICH_PREFIX,
                                         timezone="Asia/Kolkata"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("OUTPUT_FORMAT", "events")
    monkeypatch.setenv("LOG_LINE_PREFIX", RICH_PREFIX)
    monkeypatch.setenv("TIMEZONE", "Asia/Kolkata")
    monkeypatch.setattr(firehose, "RESPONSE_LIMIT", 20_000)
    got: list[str] = []
    seen: set[str] = set()
    batch = records
    for invocation in range(50):
        answers = firehose_handler({"invocationId": f"i{invocation}",
                                    "deliveryStreamArn": arn, "records": batch},
                                   None)["records"]
        assert [a["recordId"] for a in answers] == [r["recordId"] for r in batch]
        assert sum(len(json.dumps(a)) for a in answers) <= 20_000
        got += _decoded(answers)
        objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
                   if o["Key"] not in seen]
        if not objects:
            break
        seen.update(objects)
        # moto's S3 destination concatenates the records it receives: split them again.
        chunks = [c for key in objects
                  for c in _gzip_members(s3.get_object(Bucket=bucket, Key=key)["Body"].read())]
        batch = [{"recordId": f"x{invocation}-{i}", "data": base64.b64encode(c).decode()}
                 for i, c in enumerate(chunks)]
    assert invocation > 0, "nothing was re-ingested"
    assert sorted(got) == sorted(full)


def _gzip_members(blob: bytes) -> list[bytes]:
    """The gzip members of concatenated gzip data, each recompressed alone."""
    members = []
    while blob:
        decompressor = zlib.decompressobj(31)
        text = decompressor.decompress(blob)
        members.append(gzip.compress(text))
        blob = decompressor.unused_data
    return members


def test_reingest_retries_only_the_records_put_record_batch_failed(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """PutRecordBatch may fail some records of a call (FailedPutCount): those, and only
    those, are sent again; failing the invocation would make Firehose retry it and
    re-ingest the records that went in twice."""
    import pgaudit_parse.aws_lambda as handler

    _, hose, _, arn = _delivery_stream(aws)
    accepted: list[bytes] = []

    class FlakyHose:
        """The emulator's client, except that the first call fails its first record."""

        calls = 0

        def put_record_batch(self, DeliveryStreamName: str,  # noqa: N803 - boto3's names
                             Records: list[dict]) -> dict:
            FlakyHose.calls += 1
            failed = Records[:1] if FlakyHose.calls == 1 else []
            sent = Records[len(failed):]
            answer = hose.put_record_batch(DeliveryStreamName=DeliveryStreamName,
                                           Records=sent) if sent else {
                "FailedPutCount": 0, "RequestResponses": []}
            accepted.extend(r["Data"] for r, a in zip(sent, answer["RequestResponses"],
                                                      strict=True)
                            if not a.get("ErrorCode"))
            return {"FailedPutCount": len(failed) + answer["FailedPutCount"],
                    "RequestResponses": [{"ErrorCode": "ServiceUnavailableException",
                                          "ErrorMessage": "slow down"}] * len(failed)
                    + answer["RequestResponses"]}

    monkeypatch.setattr(handler, "make_client", lambda service, settings: FlakyHose())
    monkeypatch.setattr(handler.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("OUTPUT_FORMAT", "events")
    monkeypatch.setenv("LOG_LINE_PREFIX", RICH_PREFIX)
    monkeypatch.setenv("TIMEZONE", "Asia/Kolkata")
    monkeypatch.setattr(firehose, "RESPONSE_LIMIT", 20_000)
    messages = _messages(REPO / "fixtures" / "real-rich.log")
    records = [{"recordId": f"r{i}", "data": _payload("db1", [(i, m)])}
               for i, m in enumerate(messages)]
    expected: list[bytes] = []
    transform_records(records, fmt="events", prefix=RICH_PREFIX, limit=20_000,
                      reingest=expected.extend, timezone="Asia/Kolkata")
    assert len(expected) > 1
    firehose_handler({"invocationId": "i0", "deliveryStreamArn": arn, "records": records},
                     None)
    assert FlakyHose.calls >= 2
    assert sorted(gzip.decompress(a) for a in accepted) == sorted(
        gzip.decompress(e) for e in expected)


def _delivery_stream(aws: Aws) -> tuple[Any, Any, str, str]:
    """An S3 client, a Firehose client, a new bucket and a DirectPut delivery stream into
    it (its ARN), on the emulator."""
    session = boto3.session.Session(aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                                    region_name=REGION)
    s3 = session.client("s3", endpoint_url=aws.endpoint)
    hose = session.client("firehose", endpoint_url=aws.endpoint)
    bucket = aws.unique("hose")
    s3.create_bucket(Bucket=bucket)
    arn = hose.create_delivery_stream(
        DeliveryStreamName=aws.unique("pgaudit"), DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/hose",
            "BucketARN": f"arn:aws:s3:::{bucket}"})["DeliveryStreamARN"]
    return s3, hose, bucket, arn
