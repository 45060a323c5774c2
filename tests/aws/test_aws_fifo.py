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
import time
from pathlib import Path
from typing import Any

import pytest
from aws_harness import Aws, file_size, read_jsonl, run_and_kill
from aws_logdata import BASE_MS, audit_line, error_lines, prefix, statements

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


def test_fifo_consumer_killed_and_restarted(aws: Aws, tmp_path: Path) -> None:
    """``sqs`` on a FIFO queue of seed bodies (ERROR and STATEMENT in messages of their
    own) killed with SIGKILL at random moments, then run to the end: nothing is lost.
    Every audit statement and every error is written, and each error's STATEMENT or DETAIL
    text is written with it, or (see below) is a dead letter.

    moto, unlike SQS, redelivers a FIFO group's messages out of order once several of them
    came back from an expired visibility timeout (a run killed with a receive in hand): a
    DETAIL may then come before its ERROR. Exact joining after a stop between receives is
    test_fifo_consumer_stopped_between_receives_loses_nothing.
    """
    rng = random.Random(20261130)
    events = _log(seed=31, count=150)
    url = aws.sqs.create_queue(QueueName=aws.unique("fifokill") + ".fifo",
                               Attributes={"FifoQueue": "true",
                                           "ContentBasedDeduplication": "true",
                                           "VisibilityTimeout": "2"})["QueueUrl"]
    _send(aws, url, [_seed_body("db1", i, ms, lines) for i, (ms, lines) in enumerate(events)])
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    argv = aws.argv("sqs", "--queue-url", url, "--wait-seconds", "0", "--format", "events",
                    "--output", str(out), "--errors", str(dead))
    kills = 0
    for _ in range(4):
        kills += run_and_kill(aws, argv, file_size(out), (5_000, 80_000), rng)
        time.sleep(2.5)  # what the killed run had in flight becomes visible again
    assert kills >= 2, "the runs should have been interrupted"
    result = aws.cli(*argv[3:-2])
    assert result.returncode == 0, result.stderr
    got = read_jsonl(out, torn=kills)
    dead_text = "\n".join(d["raw"] for d in read_jsonl(dead, torn=kills))
    expected = [json.loads(e) for e in _expected(events)]
    assert set(statements(got)) == set(statements(expected))
    written = [e for e in got if e["kind"] == "error"]
    for error in (e for e in expected if e["kind"] == "error"):
        # (without its STATEMENT, PostgreSQL's " at character N" stays in the message)
        mine = [e for e in written if e["message"] == error["message"]
                or e["message"].startswith(error["message"] + " at character ")]
        assert mine, error["message"]
        for key, label in (("statement", "STATEMENT"), ("detail", "DETAIL")):
            if error[key] is not None:
                first = error[key].split("\n")[0]
                assert (any(e[key] == error[key] for e in mine)
                        or f"{label}:  {first}" in dead_text), (error["message"], key)
    assert aws.queue_depth(url) == (0, 0)


def test_withdraw_gives_back_an_open_csvlog_record() -> None:
    """A csvlog record among the lines (csvlog in CloudWatch events) still open at the end
    of a receive is given back with its lines, not kept half-read nor rejected."""
    from pgaudit_parse.lines import Line
    from pgaudit_parse.parser import Parser

    head = ('2026-11-25 16:05:01.123 UTC,"alice","shop",4242,"10.0.1.25:50012",'
            '6740a1b2.1092,3,"SELECT",2026-11-25 16:05:00 UTC,3/7,0,LOG,00000,'
            '"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,""select 1')
    tail = ' from t"",<not logged>",,,,,,,,,"psql","client backend",,0'
    rejects: list[Any] = []
    parser = Parser(on_reject=rejects.append)
    assert parser.feed(Line(head, "q", 1, "db1", "m1")) == []
    done, lines = parser.withdraw()
    assert done == [] and [line.text for line in lines] == [head]
    assert parser.pending_lines() == [] and rejects == []
    events = parser.feed(Line(head, "q", 1, "db1", "m1"))
    events += parser.feed(Line(tail, "q", 2, "db1", "m2")) + parser.flush()
    assert [e.audit.statement for e in events] == ["select 1\n from t"]
    assert rejects == []
