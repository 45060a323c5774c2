"""FIFO queues: a PostgreSQL message cut by a receive boundary is read whole.

A FIFO queue delivers no message of a group while one of it is in flight, so a consumer
cannot keep an ERROR's message in flight until its STATEMENT line comes: the STATEMENT is
behind it. These tests send one CloudWatch event per message (the seed Lambda's way, and
forwarder bodies of one event) and read them a few messages per receive, so that ERRORs,
their STATEMENT and DETAIL lines and TAB continuations fall on every side of a receive
boundary; the events must be exactly the file's, and a consumer that stops between two
receives must lose nothing.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from aws_harness import Aws
from aws_logdata import BASE_MS, audit_line, error_lines, prefix

from pgaudit_parse import parse_lines
from pgaudit_parse.sinks import OutputSink

GROUP = "/aws/rds/instance/db1/postgresql"
_WHERE = ("source", "line", "stream")


def _log(seed: int, count: int) -> list[tuple[int, list[str]]]:
    """(timestamp, physical lines) per CloudWatch event: audit lines, ERRORs with a
    two-line STATEMENT in an event of its own, ERRORs with DETAIL and HINT events, of a
    few backends."""
    rng = random.Random(seed)
    events: list[tuple[int, list[str]]] = []
    for n in range(count):
        ms = BASE_MS + 10 * n
        pid = rng.choice([4101, 4102, 4103])
        kind = rng.random()
        if kind < 0.4:
            events.append((ms, [audit_line(ms, pid, n)]))
        elif kind < 0.8:
            error, statement, more = error_lines(ms, pid, n)
            events.append((ms, [error]))
            events.append((ms, [statement, more]))
        else:
            events.append((ms, [f'{prefix(ms, pid)}ERROR:  duplicate key value n{n}']))
            events.append((ms, [f"{prefix(ms, pid)}DETAIL:  Key (id)=({n}) already exists."]))
            events.append((ms, [f"{prefix(ms, pid)}HINT:  try another id {n}"]))
    return events


def _seed_body(stream: str, index: int, ms: int, lines: list[str]) -> str:
    return str({"logStreamName": stream, "timestamp": ms, "message": "\n".join(lines) + "++",
                "ingestionTime": ms + 500, "eventId": f"{index + 1:056d}"})


def _forwarder_body(stream: str, index: int, ms: int, lines: list[str]) -> str:
    return json.dumps({"v": 1, "logGroup": GROUP, "events": [
        {"eventId": str(index), "timestamp": ms, "logStreamName": stream,
         "message": "\n".join(lines)}]})


def _expected(events: list[tuple[int, list[str]]]) -> list[str]:
    lines = [line for _, group in events for line in group]
    out = io.StringIO()
    sink = OutputSink(out, fmt="events")
    for event in parse_lines(lines):
        sink.write(event)
    sink.close()
    return _what(json.loads(line) for line in out.getvalue().splitlines())


def _what(events: Any) -> list[str]:
    return sorted(json.dumps({k: v for k, v in e.items() if k not in _WHERE and
                              k not in ("fingerprint", "schema_version")}, sort_keys=True)
                  for e in events)


def _fifo(aws: Aws) -> str:
    return aws.sqs.create_queue(QueueName=aws.unique("fifo") + ".fifo",
                                Attributes={"FifoQueue": "true",
                                            "ContentBasedDeduplication": "true",
                                            "VisibilityTimeout": "30"})["QueueUrl"]


def _send(aws: Aws, url: str, bodies: list[str], group: str = "pgaudit-parse") -> None:
    for i in range(0, len(bodies), 10):
        aws.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": body, "MessageGroupId": group}
            for j, body in enumerate(bodies[i:i + 10])])


def _consume(aws: Aws, url: str, batch_size: int) -> tuple[list[dict[str, Any]], list[Any]]:
    from pgaudit_parse.aws.sqs import SqsConsumer

    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt="events")
    SqsConsumer(aws.sqs, url, sink, wait_seconds=0, visibility_timeout=30,
                batch_size=batch_size).run()
    sink.close()
    return ([json.loads(line) for line in out.getvalue().splitlines()],
            [json.loads(line) for line in dead.getvalue().splitlines()])


@pytest.mark.parametrize("body", [_seed_body, _forwarder_body], ids=["seed", "forwarder"])
@pytest.mark.parametrize("batch_size", [3, 4, 7, 10])
def test_fifo_message_cut_by_a_receive_is_read_like_the_file(
        aws: Aws, body: Any, batch_size: int) -> None:
    events = _log(seed=batch_size, count=40)
    url = _fifo(aws)
    _send(aws, url, [body("db1", i, ms, lines) for i, (ms, lines) in enumerate(events)])
    got, dead = _consume(aws, url, batch_size)
    assert dead == []
    assert _what(got) == _expected(events)
    errors = [e for e in got if e["kind"] == "error"]
    assert errors and all(e["statement"] or e["detail"] for e in errors)
    assert aws.queue_depth(url) == (0, 0)


def test_fifo_error_and_statement_in_two_receives_is_one_record(aws: Aws,
                                                               tmp_path: Path) -> None:
    """The brief's case through the CLI: a Guardium record with the ERROR's SQL."""
    error, statement, more = error_lines(BASE_MS, 4242, 1)
    url = _fifo(aws)
    _send(aws, url, [_seed_body("db1", 0, BASE_MS, [audit_line(BASE_MS, 4242, 0)]),
                     _seed_body("db1", 1, BASE_MS, [error]),
                     _seed_body("db1", 2, BASE_MS, [statement, more])])
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    run = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "0", "--batch-size", "2",
                  "--output", str(out), "--errors", str(dead))
    assert run.returncode == 0, run.stderr
    assert not dead.exists() or dead.read_text() == ""
    records = [json.loads(line) for line in out.read_text().splitlines()]
    failed = [r for r in records if r.get("exception")]
    assert len(failed) == 1
    assert failed[0]["exception"]["sqlString"] == "select *\nfrom nope1"
    assert aws.queue_depth(url) == (0, 0)


def test_fifo_consumer_stopped_between_receives_loses_nothing(aws: Aws) -> None:
    """A consumer that dies after a receive whose last message is an open ERROR (its
    STATEMENT not read yet): the ERROR comes out whole from the next consumer, once."""
    from pgaudit_parse.aws.sqs import SqsSource
    from pgaudit_parse.pump import Pump, parser_stages

    events = _log(seed=11, count=30)
    url = _fifo(aws)
    _send(aws, url, [_seed_body("db1", i, ms, lines) for i, (ms, lines) in enumerate(events)])
    first_out = io.StringIO()
    first = OutputSink(first_out, io.StringIO(), fmt="events")
    source = SqsSource(aws.sqs, url, wait_seconds=0, visibility_timeout=30, batch_size=4)
    pump: Pump[Any] = Pump(first, parser_stages("%t:%r:%u@%d:[%p]:", first))
    batches = source.batches()
    for _ in range(3):  # three receives, then the process is gone (no flush, no ack)
        pump.process(next(batches))
    first.flush(durable=True)
    source._heartbeat.stop()
    got_first = [json.loads(line) for line in first_out.getvalue().splitlines()]
    got_rest, dead = _consume(aws, url, 4)
    assert dead == []
    # Nothing lost, and nothing of what the first consumer wrote is cut short.
    assert set(_what(got_first)) <= set(_expected(events))
    assert _what(got_first + got_rest) == _expected(events)
    assert aws.queue_depth(url) == (0, 0)


def test_fifo_other_group_proceeds_while_one_waits(aws: Aws) -> None:
    """Two message groups (two instances): an open ERROR at the end of one group's
    messages holds nothing of the other."""
    url = _fifo(aws)
    one = _log(seed=21, count=12)
    two = _log(seed=22, count=12)
    _send(aws, url, [_seed_body("db1", i, ms, lines) for i, (ms, lines) in enumerate(one)],
          group="db1")
    _send(aws, url, [_seed_body("db2", 500 + i, ms, lines)
                     for i, (ms, lines) in enumerate(two)], group="db2")
    got, dead = _consume(aws, url, 3)
    assert dead == []
    assert _what(e for e in got if e["stream"] == "db1") == _expected(one)
    assert _what(e for e in got if e["stream"] == "db2") == _expected(two)
    assert aws.queue_depth(url) == (0, 0)
