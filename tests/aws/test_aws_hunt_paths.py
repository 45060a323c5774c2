"""Defects found by the second AWS hunt (checkpoints, deletes, visibility, Lambda events):
each test failed before its fix."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aws_harness import Aws
from aws_logdata import BASE_MS, audit_line, statements

from pgaudit_parse.sinks import OutputSink

GROUP = "/aws/rds/instance/db1/postgresql"

_DAMAGED = {
    "empty": b"",
    "truncated": b'{"v":1,"groups":{"/aws/rds/instance/db1/postgresql":{"time":17',
    "binary": b"\xff\xfe\x00\x9c\x01 not text",
    "nul-filled": b"\x00" * 4096,
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "wrong-shape": b'{"v":1,"groups":[]}',
}


@pytest.mark.parametrize("damage", list(_DAMAGED))
def test_damaged_checkpoint_file_is_one_line_and_left_alone(aws: Aws, tmp_path: Path,
                                                            damage: str) -> None:
    """A checkpoint file damaged on disk (we never write a torn one): one line naming the
    file and what to do, exit 2; the file is not replaced and reading does not silently
    start over."""
    group = aws.log_group(aws.unique("/aws/rds/instance/cp") + "/postgresql", ["s"])
    aws.put(group, "s", [(BASE_MS, audit_line(BASE_MS, 5, 1))])
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_bytes(_DAMAGED[damage])
    out = tmp_path / "out.jsonl"
    run = aws.cli("cloudwatch", "--log-group", group, "--checkpoint", str(checkpoint),
                  "--from-beginning", "--output", str(out), "-q")
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr[-500:]
    assert str(checkpoint) in run.stderr and "move it away" in run.stderr
    assert checkpoint.read_bytes() == _DAMAGED[damage]
    assert not out.exists() or out.read_text() == ""


@pytest.mark.parametrize("damage", ["binary", "deeply-nested"])
def test_damaged_rds_logs_checkpoint_is_one_error(tmp_path: Path, damage: str) -> None:
    from pgaudit_parse.aws.errors import AwsSetupError
    from pgaudit_parse.aws.rds_logs import RdsCheckpointFile

    path = tmp_path / "rds.json"
    path.write_bytes(_DAMAGED[damage])
    with pytest.raises(AwsSetupError, match="move it away"):
        RdsCheckpointFile(path).load("db1")


def test_deeply_nested_ssm_checkpoint_value_is_a_value_error() -> None:
    from pgaudit_parse.aws.checkpoint import parse_checkpoint_value

    with pytest.raises(ValueError, match="not valid JSON"):
        parse_checkpoint_value('{"time":' + "[" * 100_000 + "]" * 100_000 + "}")


# -- DeleteMessageBatch refuses entries after the records were written ------------------

class _PurgingSink(OutputSink):
    """Purges the queue during its first durable flush, as an operator might: the receipt
    handles the consumer then deletes with are no longer valid (ReceiptHandleIsInvalid)."""

    def __init__(self, aws: Aws, url: str) -> None:
        super().__init__(io.StringIO(), io.StringIO(), fmt="events")
        self.aws, self.url, self.purged = aws, url, False

    def flush(self, durable: bool = False) -> None:
        super().flush(durable)
        if durable and not self.purged and self.written:
            self.purged = True
            self.aws.sqs.purge_queue(QueueUrl=self.url)


def test_delete_refused_after_the_write_does_not_stop_the_consumer(
        aws: Aws, caplog: pytest.LogCaptureFixture) -> None:
    from pgaudit_parse.aws.sqs import SqsConsumer

    url = aws.queue(aws.unique("purged"))
    aws.send_forwarder_messages(url, GROUP, "db1",
                                [(BASE_MS + n, audit_line(BASE_MS + n, 7, n)) for n in range(5)],
                                per_message=1)
    sink = _PurgingSink(aws, url)
    consumer = SqsConsumer(aws.sqs, url, sink, wait_seconds=0, visibility_timeout=30)
    with caplog.at_level(logging.WARNING, logger="pgaudit_parse"):
        consumer.run()
    got = [json.loads(line) for line in sink.out.getvalue().splitlines()]
    assert statements(got) == {n: 1 for n in range(5)}
    assert consumer.source.undeleted == 5
    assert "not deleted" in caplog.text and "ReceiptHandleIsInvalid" in caplog.text
    # Then the consumer goes on with what comes next.
    aws.send_forwarder_messages(url, GROUP, "db1", [(BASE_MS + 9, audit_line(BASE_MS, 7, 9))],
                                per_message=1)
    consumer.run()
    got = [json.loads(line) for line in sink.out.getvalue().splitlines()]
    assert statements(got)[9] == 1
    assert aws.queue_depth(url) == (0, 0)


# -- a queue whose VisibilityTimeout is 0 ------------------------------------------------

class _PeekingSink(OutputSink):
    """Receives from the queue itself while the consumer writes: what another consumer
    would get meanwhile."""

    def __init__(self, aws: Aws, url: str) -> None:
        super().__init__(io.StringIO(), io.StringIO(), fmt="events")
        self.aws, self.url = aws, url
        self.seen_by_others: list[str] = []

    def write(self, item: Any, instance: str | None = None) -> None:
        super().write(item, instance)
        answer = self.aws.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=0, VisibilityTimeout=0)
        self.seen_by_others += [m["MessageId"] for m in answer.get("Messages", [])]


def test_queue_with_visibility_timeout_0_still_hides_messages_being_written(
        aws: Aws) -> None:
    from pgaudit_parse.aws.sqs import SqsConsumer

    url = aws.queue(aws.unique("vis0"), visibility_timeout=0)
    aws.send_forwarder_messages(url, GROUP, "db1",
                                [(BASE_MS + n, audit_line(BASE_MS + n, 8, n)) for n in range(4)],
                                per_message=1)
    sink = _PeekingSink(aws, url)
    consumer = SqsConsumer(aws.sqs, url, sink, wait_seconds=0)
    assert consumer.visibility_timeout > 0
    consumer.run()
    got = [json.loads(line) for line in sink.out.getvalue().splitlines()]
    assert statements(got) == {n: 1 for n in range(4)}
    assert sink.seen_by_others == []
    assert aws.queue_depth(url) == (0, 0)


# -- Lambda handlers with empty or None events --------------------------------------------

@pytest.mark.parametrize("event", [None, [], "x", {"records": None}, {"records": "x"},
                                   {"records": [None, {"recordId": "r1"}]}],
                         ids=["none", "list", "text", "records-none", "records-text",
                              "record-none"])
def test_firehose_handler_with_empty_or_none_records(event: Any) -> None:
    from pgaudit_parse.aws_lambda import firehose_handler

    answer = firehose_handler(event, None)
    records = answer["records"]
    assert isinstance(records, list)
    for record in records:
        assert record["result"] == "ProcessingFailed"
    if isinstance(event, dict) and isinstance(event.get("records"), list):
        assert len(records) == len(event["records"])


# -- visibility: a batch written for longer than the visibility timeout --------------------

class _SlowSink(OutputSink):
    """Takes longer than the visibility timeout to flush, then receives from the queue
    itself: another consumer would get nothing of what is being written."""

    def __init__(self, aws: Aws, url: str, seconds: float) -> None:
        super().__init__(io.StringIO(), io.StringIO(), fmt="events")
        self.aws, self.url, self.seconds = aws, url, seconds
        self.seen_by_others: list[str] = []

    def flush(self, durable: bool = False) -> None:
        super().flush(durable)
        if durable and self.written:
            import time

            time.sleep(self.seconds)
            answer = self.aws.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=0, VisibilityTimeout=0)
            self.seen_by_others += [m["MessageId"] for m in answer.get("Messages", [])]


def test_messages_stay_hidden_while_a_slow_batch_is_written(aws: Aws) -> None:
    from pgaudit_parse.aws.sqs import SqsConsumer

    url = aws.queue(aws.unique("slow"), visibility_timeout=1)
    aws.send_forwarder_messages(url, GROUP, "db1",
                                [(BASE_MS + n, audit_line(BASE_MS + n, 9, n)) for n in range(3)],
                                per_message=1)
    sink = _SlowSink(aws, url, 2.5)
    SqsConsumer(aws.sqs, url, sink, wait_seconds=0, visibility_timeout=1).run()
    got = [json.loads(line) for line in sink.out.getvalue().splitlines()]
    assert statements(got) == {n: 1 for n in range(3)}
    assert sink.seen_by_others == []
    assert aws.queue_depth(url) == (0, 0)


# -- FilterLogEvents pages that end inside interleaved streams -----------------------------

def test_interleaved_streams_split_by_pages_and_runs(aws: Aws, tmp_path: Path) -> None:
    """Two streams whose events share milliseconds, ERRORs whose STATEMENT lines are events
    of their own, pages of 3 events (ending anywhere, in either stream), then a second run
    from the checkpoint: every error has its statement, every audit line is there once."""
    from aws_logdata import error_lines, errors

    group = aws.log_group(aws.unique("/aws/rds/cluster/il") + "/postgresql", ["i-1", "i-2"])
    wanted: dict[str, str] = {}
    for stream, pid in (("i-1", 31), ("i-2", 32)):
        events = []
        for k in range(60):
            ms = BASE_MS + (k // 3) * 1000  # three events per millisecond per stream
            n = 2 * k + (stream == "i-2")
            if k % 4 == 1:
                events += [(ms, line) for line in error_lines(ms, pid, n)]
                wanted[f'relation "nope{n}" does not exist'] = f"select *\nfrom nope{n}"
            else:
                events.append((ms, audit_line(ms, pid, n)))
        aws.put(group, stream, events)
    out, checkpoint = tmp_path / "out.jsonl", tmp_path / "cp.json"
    common = ("cloudwatch", "--log-group", group, "--format", "events", "--output", str(out),
              "--checkpoint", str(checkpoint), "--page-size", "3", "-q")
    first = aws.cli(*common, "--from-beginning")
    assert first.returncode == 0, first.stderr
    again = aws.cli(*common)  # from the checkpoint: nothing new, nothing twice
    assert again.returncode == 0, again.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert errors(got) == wanted
    audits = statements(got)
    assert all(count == 1 for count in audits.values()) and len(audits) == 120 - len(wanted)
