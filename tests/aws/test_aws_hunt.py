"""Defects found by the AWS defect hunt: each test failed before its fix.

Credentials in URLs, undecodable subscription payloads, fsync failures before an
acknowledgement, and held messages across RDS polls.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_harness import Aws, FailingCheckpoints, read_jsonl
from aws_logdata import BASE_MS, audit_line, statements

SECRET = "hunter2-Pa55"


@pytest.mark.parametrize("endpoint", [
    f"http://bob:{SECRET}@127.0.0.1:1",  # nothing listens: cannot reach
    f"http://bob:{SECRET}@[::1",  # not a URL
    f"http://bob:{SECRET}@127.0.0.1:99999",  # port out of range
])
def test_endpoint_password_never_in_errors(aws: Aws, endpoint: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pgaudit_parse", "sqs", "--queue-url",
         "http://127.0.0.1:1/123456789012/q", "--endpoint-url", endpoint],
        capture_output=True, text=True, timeout=120, env=aws.env())
    assert run.returncode == 2, run.stderr
    assert SECRET not in run.stderr and SECRET not in run.stdout
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_queue_url_password_never_in_errors(aws: Aws) -> None:
    run = aws.cli("sqs", "--queue-url",
                  f"http://alice:{SECRET}@127.0.0.1:1/123456789012/q")
    assert run.returncode == 2, run.stderr
    assert SECRET not in run.stderr, run.stderr
    assert "127.0.0.1:1/123456789012/q" in run.stderr  # still says which queue


def test_explain_and_setup_error_hide_url_credentials() -> None:
    from botocore.exceptions import EndpointConnectionError

    from pgaudit_parse.aws.errors import AwsSetupError, explain

    exc = EndpointConnectionError(endpoint_url=f"https://u:{SECRET}@sqs.example/")
    line = explain(exc, f"sending to queue https://u:{SECRET}@sqs.example/1/q")
    assert SECRET not in line and "sqs.example/1/q" in line
    assert SECRET not in str(AwsSetupError(f"bad url 'http://x:{SECRET}@h'"))


# -- subscription_handler: payloads and events that cannot be decoded ------------------

GROUP = "/aws/rds/instance/sub1/postgresql"


def _consume(aws: Aws, url: str, tmp_path: Path) -> tuple[list, list]:
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                     "--output", str(out), "--errors", str(dead))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return read_jsonl(out), read_jsonl(dead)


def _document(events: list[dict]) -> bytes:
    return json.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012",
                       "logGroup": GROUP, "logStream": "sub1",
                       "subscriptionFilters": ["f"], "logEvents": events}).encode()


def _good_events() -> list[dict]:
    return [{"id": str(n), "timestamp": BASE_MS + n, "message": audit_line(BASE_MS + n, 3, n)}
            for n in range(4)]


def _payloads() -> dict[str, str]:
    good = gzip.compress(_document(_good_events()))
    return {
        "truncated gzip": base64.b64encode(good[:len(good) // 2]).decode(),
        "corrupt deflate": base64.b64encode(
            good[:12] + bytes(b ^ 0x5A for b in good[12:-8]) + good[-8:]).decode(),
        "not base64": "%%% not base64 %%%",
        "not json": base64.b64encode(gzip.compress(b"hello")).decode(),
        "json list": base64.b64encode(gzip.compress(b"[1, 2]")).decode(),
        "logEvents not a list": base64.b64encode(gzip.compress(
            b'{"messageType": "DATA_MESSAGE", "logEvents": 5}')).decode(),
        "invalid utf-8": base64.b64encode(gzip.compress(b'{"messageType": "\xff"}')).decode(),
        "unknown messageType": base64.b64encode(gzip.compress(
            b'{"messageType": "DATA", "logEvents": []}')).decode(),
    }


@pytest.mark.parametrize("kind", list(_payloads()))
def test_subscription_poison_payload_is_a_dead_letter_not_a_traceback(
        aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, kind: str) -> None:
    from pgaudit_parse.aws_lambda import subscription_handler

    data = _payloads()[kind]
    url = aws.queue(aws.unique("subpoison"))
    monkeypatch.setenv("QUEUE_NAME", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    with caplog.at_level(logging.INFO, logger="pgaudit_parse"):
        result = subscription_handler({"awslogs": {"data": data}}, None)
    assert result["rejects"] == 1 and result["events"] == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    got, dead = _consume(aws, url, tmp_path)
    assert got == []
    assert len(dead) == 1 and data in dead[0]["raw"], dead
    assert aws.queue_depth(url) == (0, 0)


def test_subscription_event_without_text_message_spares_the_good_ones(
        aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pgaudit_parse.aws_lambda import subscription_handler

    events = _good_events()
    events.insert(2, {"id": "x1", "timestamp": BASE_MS + 2, "message": {"nested": 1}})
    events.insert(4, {"id": "x2", "timestamp": "soon", "message": "text"})
    data = base64.b64encode(gzip.compress(_document(events))).decode()
    url = aws.queue(aws.unique("subbad"))
    monkeypatch.setenv("QUEUE_NAME", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    result = subscription_handler({"awslogs": {"data": data}}, None)
    assert result["rejects"] == 2
    got, dead = _consume(aws, url, tmp_path)
    assert statements(got) == {n: 1 for n in range(4)}
    assert len(dead) == 2
    assert '"nested"' in dead[0]["raw"] + dead[1]["raw"]
    assert "soon" in dead[0]["raw"] + dead[1]["raw"]


# -- the sink's durable flush fails: nothing is acknowledged ---------------------------

def test_fsync_failure_is_not_acknowledged(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from pgaudit_parse.lines import Line
    from pgaudit_parse.pump import Batch, Pump, parser_stages
    from pgaudit_parse.sinks import OutputSink

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with open(tmp_path / "out.jsonl", "w", encoding="utf-8") as out:
        sink = OutputSink(out, fmt="events")
        pump = Pump(sink, parser_stages("%t:%r:%u@%d:[%p]:", sink))
        acked: list = []
        monkeypatch.setattr(os, "fsync", broken_fsync)
        line = Line(audit_line(BASE_MS, 3, 1), "q#m1", 1, "s", "m1")
        with pytest.raises(OSError):
            pump.process(Batch([line], ack=acked.append, flush=True))
        assert acked == []  # the message is not deleted: it was not durably written


def test_fsync_of_a_pipe_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from pgaudit_parse.sinks import OutputSink

    read, write = os.pipe()
    with os.fdopen(read, "r") as reader, os.fdopen(write, "w") as writer:
        sink = OutputSink(writer, fmt="events")
        sink.flush(durable=True)  # a pipe cannot be fsynced: flushed is all there is
        assert reader is not None


def test_sqs_output_device_full_is_one_line_and_keeps_the_message(aws: Aws) -> None:
    url = aws.queue(aws.unique("full"))
    aws.send_forwarder_messages(url, GROUP, "sub1", [(BASE_MS, audit_line(BASE_MS, 3, 1))], 1)
    run = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                  "--output", "/dev/full")
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert sum(aws.queue_depth(url)) == 1  # not deleted: it comes again


# -- firehose: parsed output of a failed record is not dropped -------------------------

def test_firehose_output_of_an_all_failed_invocation_is_put_back() -> None:
    from pgaudit_parse.aws.firehose import decode_record, transform_records

    events = _good_events()
    events.insert(1, {"id": "x1", "timestamp": BASE_MS, "message": None})
    data = base64.b64encode(gzip.compress(_document(events))).decode()
    put_back: list[bytes] = []
    [answer] = transform_records([{"recordId": "r1", "data": data}], fmt="events",
                                 reingest=put_back.extend)
    assert answer["result"] == "ProcessingFailed" and answer["data"] == data
    passed = "".join(decode_record(base64.b64encode(chunk).decode())["output"]
                     for chunk in put_back)
    got = [json.loads(line) for line in passed.splitlines()]
    assert statements(got) == {n: 1 for n in range(4)}


def test_firehose_output_taken_before_a_later_reject_moves_to_a_good_record() -> None:
    from pgaudit_parse.aws.firehose import transform_records

    first = [{"id": str(n), "timestamp": BASE_MS + n, "message": audit_line(BASE_MS + n, 3, n)}
             for n in range(40)] + [{"id": "bad", "timestamp": BASE_MS + 40, "message": None}]
    second = [{"id": "40", "timestamp": BASE_MS + 41, "message": audit_line(BASE_MS, 3, 40)}]
    records = [{"recordId": f"r{i}", "data": base64.b64encode(gzip.compress(
        _document(events))).decode()} for i, events in enumerate([first, second])]
    answers = transform_records(records, fmt="events")
    assert [a["result"] for a in answers] == ["ProcessingFailed", "Ok"]
    got = [json.loads(line) for line in base64.b64decode(answers[1]["data"]).splitlines()]
    assert statements(got) == {n: 1 for n in range(41)}


# -- cloudwatch: a message open at a slice's end is not cut by an older held one -------

def test_cloudwatch_slice_flush_does_not_cut_a_message_open_at_the_slice_end(
        aws: Aws) -> None:
    from aws_logdata import error_lines, errors

    from pgaudit_parse.aws.cloudwatch import INITIAL_SPAN_MS, CloudWatchReader
    from pgaudit_parse.sinks import OutputSink

    group = aws.log_group(aws.unique("/aws/rds/instance/cut") + "/postgresql", ["s"])
    start = BASE_MS
    edge = start + 2 * INITIAL_SPAN_MS  # the first millisecond of the third slice
    error = error_lines(edge - 1, 9, 1)
    aws.put(group, "s", [(start + 1000, audit_line(start + 1000, 8, 1)),  # slice 1
                         (edge - 1, error[0]),  # slice 2 ends with an ERROR...
                         (edge, error[1] + "\n" + error[2]),  # ...its STATEMENT: slice 3
                         (edge + 5000, audit_line(edge + 5000, 8, 2))])
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt="events")
    reader = CloudWatchReader(aws.logs, [group], sink, start_ms=start)
    slices: list[tuple[int, int]] = []
    reader.on_slice = lambda g, a, b, n: slices.append((a, b))
    reader.poll(edge + 60_000)
    reader.finish()
    got = [json.loads(line) for line in out.getvalue().splitlines()]
    assert slices[1] == (start + INITIAL_SPAN_MS, edge - 1)  # as planned above
    assert dead.getvalue() == ""
    assert errors(got) == {'relation "nope1" does not exist': "select *\nfrom nope1"}
    assert statements(got) == {1: 1, 2: 1}


def test_sqs_stale_release_does_not_cut_a_message_open_at_the_batch_end(aws: Aws) -> None:
    """An idle stream's held message is given up after twice the reorder window; that
    must not cut another stream's ERROR whose STATEMENT comes in the next message."""
    from aws_logdata import error_lines, errors

    from pgaudit_parse.aws.messages import MessagePacker
    from pgaudit_parse.aws.sqs import SqsSource
    from pgaudit_parse.pump import Pump, parser_stages
    from pgaudit_parse.sinks import OutputSink

    url = aws.queue(aws.unique("stale"))
    now = [0.0]
    source = SqsSource(aws.sqs, url, visibility_timeout=30, wait_seconds=0,
                       reorder_seconds=5, clock=lambda: now[0])
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt="events")
    pump: Pump = Pump(sink, parser_stages("%t:%r:%u@%d:[%p]:", sink))
    error = error_lines(BASE_MS + 10, 9, 1)

    def body(stream: str, messages: list[str]) -> str:
        packer = MessagePacker(GROUP)
        for n, text in enumerate(messages):
            packer.add({"eventId": f"{stream}{n}{text[:3]}", "timestamp": BASE_MS + n,
                        "logStreamName": stream, "message": text})
        return packer.close()[0]

    for at, sent in ((0.0, body("a", [audit_line(BASE_MS, 8, 1)])),
                     (11.0, body("b", [error[0]])),
                     (12.0, body("b", [error[1], error[2]]))):
        now[0] = at
        aws.sqs.send_message(QueueUrl=url, MessageBody=sent)
        pump.process(source.batch_of(source.receive()))
    pump.process(source.batch_of([], everything=True))
    got = [json.loads(line) for line in out.getvalue().splitlines()]
    assert dead.getvalue() == ""
    assert errors(got) == {'relation "nope1" does not exist': "select *\nfrom nope1"}
    assert statements(got) == {1: 1}
    assert aws.queue_depth(url) == (0, 0)


# -- records queue: bodies hold only characters SQS accepts -----------------------------

#: Characters SQS accepts in a message body (anything else is InvalidMessageContents).
_SQS_CHARS = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


@pytest.mark.parametrize("odd", ["\uffff", "\ufffe", "\ud800", "\udcff x \U0001f600"])
def test_records_queue_bodies_are_valid_sqs_text(aws: Aws, monkeypatch: pytest.MonkeyPatch,
                                                 odd: str) -> None:
    from pgaudit_parse.aws_lambda import subscription_handler
    from pgaudit_parse.lines import without_surrogates
    from pgaudit_parse.sinks import decode_record_body

    line = audit_line(BASE_MS, 3, 1).replace("select 1 from t", f"select '{odd}' from t")
    document = json.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012",
                           "logGroup": GROUP, "logStream": "sub1", "subscriptionFilters": [],
                           "logEvents": [{"id": "1", "timestamp": BASE_MS, "message": line}]})
    data = base64.b64encode(gzip.compress(document.encode("ascii"))).decode()
    url = aws.queue(aws.unique("recs"))
    monkeypatch.setenv("RECORDS_QUEUE", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    result = subscription_handler({"awslogs": {"data": data}}, None)
    assert result["records"] == 1
    got = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 1
    assert _SQS_CHARS.fullmatch(got[0]["Body"])
    record = decode_record_body(got[0]["Body"])
    # (a lone surrogate is read as its backslash escape: docs/input.md)
    assert without_surrogates(odd) in record["data"]["originalSqlCommand"]


def test_record_body_escapes_what_sqs_refuses() -> None:
    from pgaudit_parse.sinks import decode_record_body, encode_record_body

    line = json.dumps({"s": "a\uffff\ud800b" * 50_000}, ensure_ascii=False)
    for limit in (10**7, 2000):  # whole, and compressed in parts
        bodies = encode_record_body(line, limit)
        assert all(_SQS_CHARS.fullmatch(body) for body in bodies)
        assert decode_record_body(bodies) == json.loads(line)


def test_sqs_body_with_lone_surrogate_escape_is_read(aws: Aws, tmp_path: Path) -> None:
    line = audit_line(BASE_MS, 3, 1).replace("select 1 from t", "select '\\ud800' from t")
    body = ('{"v":1,"logGroup":"' + GROUP + '","events":[{"eventId":"1","timestamp":'
            + str(BASE_MS) + ',"logStreamName":"s","message":"' + line + '"}]}')
    url = aws.queue(aws.unique("sur"))
    aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    for fmt in ("events", "records"):
        out, dead = tmp_path / f"{fmt}.jsonl", tmp_path / f"{fmt}-dead.jsonl"
        result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", fmt,
                         "--output", str(out), "--errors", str(dead),
                         "--visibility-timeout", "1")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        got = read_jsonl(out)
        assert len(got) + len(read_jsonl(dead)) == 1
        if fmt == "events":
            aws.sqs.send_message(QueueUrl=url, MessageBody=body)


def test_file_mode_json_with_lone_surrogate_escape_to_stdout(aws: Aws, tmp_path: Path) -> None:
    line = audit_line(BASE_MS, 3, 1).replace("select 1 from t", "select '\\udc80' from t")
    export = tmp_path / "export.json"
    export.write_text('{"events":[{"eventId":"1","timestamp":1,"logStreamName":"s",'
                      '"message":"' + line + '"}]}\n', encoding="ascii")
    run = aws.file_mode("--format", "events", str(export))
    assert run.returncode == 0, run.stderr
    from pgaudit_parse.lines import without_surrogates

    [event] = [json.loads(text) for text in run.stdout.splitlines()]
    assert event["audit"]["statement"] == without_surrogates("select '\udc80' from t")


# -- FIFO records queue: identical records of distinct executions both arrive ---------

def test_fifo_records_queue_keeps_identical_records_and_dedups_retries(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from pgaudit_parse.aws_lambda import subscription_handler

    # The same statement twice in one second by one session: two executions whose
    # records are the same text (a record carries no statement id).
    text = audit_line(BASE_MS, 3, 1)
    again = text.replace("SESSION,1,1,", "SESSION,2,1,")
    url = aws.sqs.create_queue(QueueName=aws.unique("recs") + ".fifo",
                               Attributes={"FifoQueue": "true"})["QueueUrl"]
    monkeypatch.setenv("RECORDS_QUEUE", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)

    def invoke(ids: list[str]) -> None:
        document = json.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012",
                               "logGroup": GROUP, "logStream": "sub1",
                               "subscriptionFilters": [],
                               "logEvents": [{"id": ids[0], "timestamp": BASE_MS,
                                              "message": text},
                                             {"id": ids[1], "timestamp": BASE_MS,
                                              "message": again}]})
        data = base64.b64encode(gzip.compress(document.encode())).decode()
        assert subscription_handler({"awslogs": {"data": data}}, None)["records"] == 2

    invoke(["1", "2"])
    invoke(["1", "2"])  # Lambda retries the same payload: nothing is sent twice
    invoke(["3", "4"])  # the same statements again, later: new executions
    bodies: list[str] = []
    while True:
        got = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        bodies += [m["Body"] for m in got]
        aws.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert len(bodies) == 4


# -- cloudwatch: a failure between the durable write and the checkpoint save ------------

def _cloudwatch_log(aws: Aws) -> tuple[str, int]:
    from aws_logdata import error_lines

    from pgaudit_parse.aws.cloudwatch import INITIAL_SPAN_MS

    group = aws.log_group(aws.unique("/aws/rds/instance/inj") + "/postgresql", ["a", "b"])
    start = BASE_MS
    per_stream: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}
    for n in range(24):
        stream = "ab"[n % 2]
        # around every slice edge, and inside slices
        ms = start + (n // 4 + 1) * INITIAL_SPAN_MS - 2 + (n % 4) * 700 - 1400 * (n % 3 == 0)
        pid = 100 + n % 5
        if n % 3 == 1:
            error = error_lines(ms, pid, n)
            per_stream[stream] += [(ms, error[0]), (ms + 1, error[1] + "\n" + error[2])]
        else:
            per_stream[stream].append((ms, audit_line(ms, pid, n)))
    for stream, events in per_stream.items():
        aws.put(group, stream, events)
    return group, start


def _read_cloudwatch(aws: Aws, group: str, start: int, store: object) -> tuple[list, str]:
    from pgaudit_parse.aws.cloudwatch import CloudWatchReader
    from pgaudit_parse.sinks import OutputSink

    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt="events")
    try:
        reader = CloudWatchReader(aws.logs, [group], sink, start_ms=start,
                                  store=store)  # type: ignore[arg-type]
        reader.poll(start + 40 * 60_000)
        reader.finish()
    except RuntimeError:
        pass
    sink.flush()
    keep = ("kind", "message", "statement", "audit", "pid")
    return ([{k: e.get(k) for k in keep} for e in map(json.loads, out.getvalue().splitlines())],
            dead.getvalue())


def test_cloudwatch_crash_at_each_checkpoint_save_loses_nothing(
        aws: Aws, tmp_path: Path) -> None:
    group, start = _cloudwatch_log(aws)
    reference, dead = _read_cloudwatch(aws, group, start, FailingCheckpoints(tmp_path / "r", None))
    assert dead == "" and len(reference) == 24
    saves = FailingCheckpoints(tmp_path / "count", None)
    _read_cloudwatch(aws, group, start, saves)
    for fail_at in range(1, saves.saves + 1):
        path = tmp_path / f"cp{fail_at}.json"
        first, dead1 = _read_cloudwatch(aws, group, start, FailingCheckpoints(path, fail_at))
        second, dead2 = _read_cloudwatch(aws, group, start, FailingCheckpoints(path, None))
        assert dead1 == dead2 == "", (fail_at, dead1, dead2)
        combined = [json.dumps(e, sort_keys=True) for e in first + second]
        expected = [json.dumps(e, sort_keys=True) for e in reference]
        assert set(combined) == set(expected), fail_at


# -- sqs: a failure in DeleteMessageBatch after the durable write ----------------------

class _FailingDeletes:
    """An SQS client whose ``fail_at``-th DeleteMessageBatch raises (a crash before the
    acknowledgement reaches SQS)."""

    def __init__(self, sqs: object, fail_at: int) -> None:
        self._sqs = sqs
        self.fail_at = fail_at
        self.deletes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._sqs, name)

    def delete_message_batch(self, **kwargs: object) -> object:
        self.deletes += 1
        if self.deletes == self.fail_at:
            raise RuntimeError("injected: killed before the delete")
        return self._sqs.delete_message_batch(**kwargs)  # type: ignore[attr-defined]


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_sqs_crash_at_delete_redelivers_and_loses_nothing(aws: Aws, fail_at: int) -> None:
    import time

    from aws_logdata import error_lines, errors

    from pgaudit_parse.aws.errors import AwsSetupError
    from pgaudit_parse.aws.sqs import SqsConsumer
    from pgaudit_parse.sinks import OutputSink

    url = aws.queue(aws.unique("del"), visibility_timeout=1)
    events: list[tuple[int, str]] = []
    for n in range(8):
        ms = BASE_MS + n * 1000
        error = error_lines(ms, 50 + n % 3, n)
        events += [(ms, audit_line(ms, 50 + n % 3, n)), (ms + 1, error[0]),
                   (ms + 1, error[1] + "\n" + error[2])]
    for number, (ms, text) in enumerate(events):  # the seed's bodies: one event each
        aws.sqs.send_message(QueueUrl=url, MessageBody=str({
            "eventId": str(number), "timestamp": ms, "logStreamName": "db1",
            "message": text + "++"}))
    outputs, dead = [], []
    for client in (_FailingDeletes(aws.sqs, fail_at), aws.sqs):
        out, errs = io.StringIO(), io.StringIO()
        sink = OutputSink(out, errs, fmt="events")
        consumer = SqsConsumer(client, url, sink, wait_seconds=0, visibility_timeout=1,
                               reorder_seconds=0.2, batch_size=3)
        try:
            consumer.run()
        except (AwsSetupError, RuntimeError):
            time.sleep(2)  # the undeleted messages come back
        sink.flush()
        outputs += [json.loads(line) for line in out.getvalue().splitlines()]
        dead += errs.getvalue().splitlines()
    assert dead == []
    assert set(statements(outputs)) == set(range(8))
    assert errors(outputs) == {f'relation "nope{n}" does not exist': f"select *\nfrom nope{n}"
                               for n in range(8)}
    assert aws.queue_depth(url) == (0, 0)


# -- forward: a failure between SendMessageBatch and the SSM checkpoint save -----------

@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_forward_crash_at_each_checkpoint_save_loses_nothing(aws: Aws, fail_at: int) -> None:
    from pgaudit_parse.aws.checkpoint import ParameterCheckpoint
    from pgaudit_parse.aws.cloudwatch import now_ms
    from pgaudit_parse.aws.forwarder import Forwarder
    from pgaudit_parse.aws.messages import decode_body

    class Failing(ParameterCheckpoint):
        saves = 0

        def save(self, checkpoint: object) -> None:
            Failing.saves += 1
            if Failing.saves == fail_at:
                raise RuntimeError("injected: killed before the checkpoint was saved")
            super().save(checkpoint)  # type: ignore[arg-type]

    now = now_ms()
    group = aws.log_group(aws.unique("/aws/rds/instance/fwi") + "/postgresql", ["a", "b"])
    aws.put(group, "a", [(now - 50 * 60_000 + n * 97_000, audit_line(now, 5, n))
                         for n in range(0, 30, 2)])
    aws.put(group, "b", [(now - 50 * 60_000 + n * 97_000, audit_line(now, 6, n))
                         for n in range(1, 30, 2)])
    url = aws.queue(aws.unique("fwi"))
    parameter = aws.unique("Last")
    for store in (Failing(aws.ssm, parameter), ParameterCheckpoint(aws.ssm, parameter)):
        try:
            Forwarder(aws.logs, aws.sqs, group, url, store,
                      start_ms=now - 60 * 60_000).run(now)
        except RuntimeError:
            pass
    numbers: list[str] = []
    while True:
        got = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        for message in got:
            numbers += re.findall(r"select (\d+) from t", "\n".join(
                line.text for line in decode_body(message["Body"], "q")[1]))
        aws.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert Failing.saves >= fail_at  # the failure was injected
    assert sorted(set(numbers), key=int) == [str(n) for n in range(30)]


# -- forwarder bodies: one PostgreSQL message over 256 KiB stays in one body ------------

def _big_error(n: int, lines: int, width: int) -> list[str]:
    """An ERROR whose multi-line STATEMENT spans ``lines`` events of ``width`` bytes."""
    from aws_logdata import prefix

    head = [f'{prefix(BASE_MS, 9)}ERROR:  relation "big{n}" does not exist',
            f"{prefix(BASE_MS, 9)}STATEMENT:  insert into big{n} values"]
    return head + [f"\t({i}, '{'x' * width}')," for i in range(lines)]


def test_an_entry_over_one_body_is_sent_whole_and_read_in_any_order(
        aws: Aws, tmp_path: Path) -> None:
    from pgaudit_parse.aws.messages import EntryBoundary, MessagePacker
    from pgaudit_parse.prefix import RDS_PREFIX

    starts = EntryBoundary(RDS_PREFIX)
    packer = MessagePacker(GROUP, 256 * 1024)  # a queue whose MaximumMessageSize is 256 KiB
    events = _big_error(1, 6, 100_000) + [audit_line(BASE_MS + 1, 9, 1)]
    bodies: list[str] = []
    for number, text in enumerate(events):
        bodies += packer.add({"eventId": str(number), "timestamp": BASE_MS,
                              "logStreamName": "db1", "message": text}, starts(text))
    bodies += packer.close()
    assert all(len(body) <= 256 * 1024 for body in bodies)
    url = aws.queue(aws.unique("big"))
    for body in reversed(bodies):  # a standard queue keeps no order
        aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    got, dead = _consume(aws, url, tmp_path)
    assert dead == []
    [error] = [e for e in got if e["kind"] == "error"]
    assert error["statement"].count("x" * 100_000) == 6
    assert statements(got) == {1: 1}


@pytest.mark.parametrize("seed", range(12))
def test_packer_keeps_order_and_entries_whole_at_any_size(seed: int) -> None:
    import random

    from pgaudit_parse.aws.messages import MessagePacker, decode_message

    rng = random.Random(seed)
    limit = 1500
    events, entries = [], []
    for n in range(rng.randint(5, 40)):
        stream = rng.choice("ab") if seed % 3 else "a"
        size = rng.choice([10, 100, 400, 1200, 2000])
        parts = rng.randint(1, 6)
        entries.append([f"e{n}.{i}" for i in range(parts)])
        for i in range(parts):
            text = f"e{n}.{i} " + "".join(rng.choice("ab") for _ in range(size))
            events.append(({"eventId": f"{n}.{i}", "timestamp": n, "logStreamName": stream,
                            "message": text}, i == 0))
    packer = MessagePacker("/g", limit)
    bodies: list[str] = []
    for event, starts in events:
        bodies += packer.add(event, starts)
    bodies += packer.close()
    assert all(len(body) <= limit for body in bodies)
    decoded = [[e["eventId"] for e in decode_message(body).events] for body in bodies]
    assert [i for ids in decoded for i in ids] == [e["eventId"] for e, _ in events]
    # an entry is cut only when it does not fit one body even compressed
    for ids in entries:
        ids = [i[1:] for i in ids]
        holding = [n for n, got in enumerate(decoded) if set(ids) & set(got)]
        if len(holding) > 1:
            whole = MessagePacker("/g", 10**9)._compressed(
                [json.dumps(e) for e, _ in events if e["eventId"] in ids])
            assert len(whole) > limit


def test_dead_letter_body_of_a_large_raw_text_fits_and_keeps_the_text() -> None:
    import random

    from pgaudit_parse.aws.messages import BodyError, dead_letter_body, decode_message

    rng = random.Random(7)
    compressible = "select 1;\n" * 60_000  # 600 KB: fits once compressed
    noise = "".join(rng.choice("0123456789abcdef") for _ in range(900_000))  # does not
    for raw, whole in ((compressible, True), (noise, False)):
        body = dead_letter_body("bad payload", raw, 256 * 1024)  # a 256 KiB queue
        assert len(body) <= 256 * 1024
        with pytest.raises(BodyError) as caught:
            decode_message(body)
        assert "bad payload" in str(caught.value)
        assert (caught.value.raw == raw) is whole
        if not whole:
            assert "cut" in str(caught.value)


def test_doctor_never_shows_url_credentials(aws: Aws) -> None:
    endpoint = aws.endpoint.replace("http://", f"http://bob:{SECRET}@")
    for queue in (f"http://al:{SECRET}@127.0.0.1:1/123456789012/q",
                  f"{endpoint}/123456789012/nope"):
        run = subprocess.run([sys.executable, "-m", "pgaudit_parse", "doctor", "--queue-url",
                              queue, "--endpoint-url", endpoint],
                             capture_output=True, text=True, timeout=120, env=aws.env())
        assert "endpoint reachable" in run.stdout, run.stdout + run.stderr
        assert SECRET not in run.stdout + run.stderr, run.stdout + run.stderr


# -- deeply nested JSON is a dead letter, not a RecursionError --------------------------

_DEEP = '{"v": 1, "logGroup": "/g", "events": ' + "[" * 100_000 + "]" * 100_000 + "}"


def test_deeply_nested_sqs_body_is_a_dead_letter(aws: Aws, tmp_path: Path) -> None:
    url = aws.queue(aws.unique("deep"))
    aws.sqs.send_message(QueueUrl=url, MessageBody=_DEEP)
    gz = base64.b64encode(gzip.compress(_DEEP.encode())).decode()
    packed = json.dumps({"v": 1, "logGroup": "/g", "encoding": "gzip+base64", "data": gz})
    aws.sqs.send_message(QueueUrl=url, MessageBody=packed)
    aws.send_forwarder_messages(url, GROUP, "db1", [(BASE_MS, audit_line(BASE_MS, 5, 7))], 1)
    got, dead = _consume(aws, url, tmp_path)
    assert statements(got) == {7: 1}
    # (the compressed body's dead letter holds the text it decompresses to: redactable)
    assert [d["raw"] for d in dead] == [_DEEP, _DEEP]
    assert sum("decompressed" in d["reason"] for d in dead) == 1
    assert aws.queue_depth(url) == (0, 0)


def test_deeply_nested_subscription_and_firehose_payloads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pgaudit_parse.aws.firehose import transform_records
    from pgaudit_parse.aws_lambda import subscription_handler

    data = base64.b64encode(gzip.compress(_DEEP.encode())).decode()
    monkeypatch.setenv("RECORDS_QUEUE", "http://127.0.0.1:1/123456789012/unused")
    assert subscription_handler({"awslogs": {"data": data}}, None)["rejects"] == 1
    [answer] = transform_records([{"recordId": "r", "data": data}])
    assert answer["result"] == "ProcessingFailed"


@pytest.mark.parametrize("text", [
    _DEEP,
    json.dumps({"v": 1, "encoding": "gzip+base64",
                "data": base64.b64encode(gzip.compress(_DEEP.encode())).decode()}),
    '{"a": 1}\n' + _DEEP,
    audit_line(BASE_MS, 3, 1) + "\n" + _DEEP,
], ids=["document", "compressed", "json-lines", "after-a-log-line"])
def test_file_mode_deeply_nested_json_is_one_line_or_a_reject(aws: Aws, tmp_path: Path,
                                                              text: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text + "\n", encoding="utf-8")
    run = aws.file_mode("--format", "events", "--errors", str(tmp_path / "dead"), str(path))
    assert "Traceback" not in run.stderr, run.stderr[-300:]
    assert run.returncode in (0, 2) and len(run.stderr.strip().splitlines()) == 1


# -- FIFO queue: a held message blocks its group -----------------------------------------

def test_fifo_queue_is_consumed_without_waiting_on_its_own_held_messages(aws: Aws) -> None:
    """On a FIFO queue no message of a group is delivered while one is in flight: a
    consumer that keeps its last message in flight (its lines held by the parser) blocks
    itself, and only an empty receive (a whole long poll) let it go on."""
    from pgaudit_parse.aws.messages import MessagePacker
    from pgaudit_parse.aws.sqs import SqsConsumer
    from pgaudit_parse.sinks import OutputSink

    url = aws.sqs.create_queue(QueueName=aws.unique("fifo") + ".fifo",
                               Attributes={"FifoQueue": "true",
                                           "ContentBasedDeduplication": "true"})["QueueUrl"]
    for n in range(25):
        packer = MessagePacker(GROUP)
        packer.add({"eventId": str(n), "timestamp": BASE_MS + n, "logStreamName": "db1",
                    "message": audit_line(BASE_MS + n, 3, n)})
        aws.sqs.send_message(QueueUrl=url, MessageBody=packer.close()[0],
                             MessageGroupId="pgaudit-parse")
    empty = [0]

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(aws.sqs, name)

        def receive_message(self, **kwargs: object) -> dict:
            answer = aws.sqs.receive_message(**kwargs)
            empty[0] += not answer.get("Messages")
            return answer

    out = io.StringIO()
    sink = OutputSink(out, io.StringIO(), fmt="events")
    SqsConsumer(Counting(), url, sink, wait_seconds=1, visibility_timeout=30).run()
    got = [json.loads(line) for line in out.getvalue().splitlines()]
    assert statements(got) == {n: 1 for n in range(25)}
    assert empty[0] == 1  # only the receive that found the queue drained
    assert aws.queue_depth(url) == (0, 0)
