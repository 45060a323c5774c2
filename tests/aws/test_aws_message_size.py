"""SQS's message size: 1 MiB since 2025 (it was 256 KiB), or less where a queue's
MaximumMessageSize says so.

moto (the emulator these tests use) enforces it the same way: a queue's default
MaximumMessageSize is 1,048,576, SendMessage refuses a body over the queue's attribute,
and SendMessageBatch refuses a call whose bodies add up to more than 1 MiB.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest
from aws_harness import Aws, drain_bodies, read_jsonl
from aws_logdata import BASE_MS, audit_line, error_lines, statements

from pgaudit_parse.aws.messages import (
    LEGACY_BODY_BYTES,
    MAX_BODY_BYTES,
    BodyError,
    decode_message,
)

GROUP = "/aws/rds/instance/db1/postgresql"


def _body_of(size: int, first: int = 0) -> tuple[str, int]:
    """A forwarder body of at most ``size`` bytes (and nearly that) of audit events;
    returns it and how many events it holds."""
    events: list[dict[str, object]] = []
    length = 100
    n = first
    while True:
        line = audit_line(BASE_MS + n, 4000 + n % 7, n) + " -- " + "p" * 400
        event = {"eventId": str(n), "timestamp": BASE_MS + n, "logStreamName": "db1",
                 "message": line}
        length += len(json.dumps(event)) + 2
        if length > size:
            break
        events.append(event)
        n += 1
    body = json.dumps({"v": 1, "logGroup": GROUP, "events": events})
    assert len(body) <= size
    return body, len(events)




def test_limits_are_sqs_own() -> None:
    assert MAX_BODY_BYTES == 1024 * 1024 and LEGACY_BODY_BYTES == 256 * 1024


def test_body_up_to_1_mib_is_read_and_over_it_is_a_dead_letter() -> None:
    body, count = _body_of(1000 * 1024)
    assert LEGACY_BODY_BYTES < len(body) <= MAX_BODY_BYTES
    assert len(decode_message(body).events) == count
    over = json.dumps({"v": 1, "logGroup": GROUP, "events": [
        {"eventId": "1", "timestamp": BASE_MS, "logStreamName": "db1",
         "message": "x" * MAX_BODY_BYTES}]})
    with pytest.raises(BodyError, match="larger than 1048576"):
        decode_message(over)


def test_sqs_consumes_bodies_over_256_kib(aws: Aws, tmp_path: Path) -> None:
    """Bodies of 300 KiB to 1 MiB (what SQS now takes) are read, not dead-lettered."""
    url = aws.queue(aws.unique("big1m"))
    sent = 0
    for size in (300 * 1024, 700 * 1024, MAX_BODY_BYTES - 2048):
        body, count = _body_of(size, first=sent)
        aws.sqs.send_message(QueueUrl=url, MessageBody=body)
        sent += count
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    run = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "0", "--format", "events",
                  "--output", str(out), "--errors", str(dead))
    assert run.returncode == 0, run.stderr
    assert read_jsonl(dead) == []
    assert statements(read_jsonl(out)) == {n: 1 for n in range(sent)}
    assert aws.queue_depth(url) == (0, 0)


def _log_group(aws: Aws) -> tuple[str, list[tuple[int, str]]]:
    """A group with ~1.2 MB of events: audit lines, and ERRORs whose STATEMENT lines are
    events of their own, padded with text that does not compress well."""
    group = aws.log_group(aws.unique("/aws/rds/instance/size") + "/postgresql", ["s"])
    rng = random.Random(5)
    events: list[tuple[int, str]] = []
    for n in range(1500):
        ms = BASE_MS + n * 10
        noise = "".join(rng.choice(string.ascii_letters) for _ in range(300))
        if n % 3:
            events.append((ms, audit_line(ms, 70 + n % 4, n) + f" -- {noise}"))
        else:
            error, statement, more = error_lines(ms, 70 + n % 4, n)
            events += [(ms, error), (ms, f"{statement} /* {noise} */\n{more}")]
    aws.put(group, "s", events)
    return group, events


def _read_back(aws: Aws, url: str, bodies: list[str], tmp_path: Path) -> list[dict]:
    for body in bodies:
        aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    run = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "0", "--format", "events",
                  "--output", str(out), "--errors", str(dead))
    assert run.returncode == 0, run.stderr
    assert read_jsonl(dead) == []
    return read_jsonl(out)


def _expected(events: list[tuple[int, str]], tmp_path: Path, aws: Aws) -> list[dict]:
    log = tmp_path / "file.log"
    log.write_text("".join(message + "\n" for _, message in events), encoding="utf-8")
    out = tmp_path / "file.jsonl"
    run = aws.file_mode("--format", "events", "--output", str(out), str(log))
    assert run.returncode == 0, run.stderr
    return read_jsonl(out)


def _same(got: list[dict], expected: list[dict]) -> None:
    def what(events: list[dict]) -> list[str]:
        return sorted(json.dumps({k: v for k, v in e.items()
                                  if k not in ("source", "line", "stream")}, sort_keys=True)
                      for e in events)

    assert what(got) == what(expected)


def test_forward_packs_bodies_up_to_1_mib(aws: Aws, tmp_path: Path) -> None:
    """A queue with SQS's default MaximumMessageSize (1 MiB): the forwarder fills bodies up
    to it (fewer, larger messages; nothing compressed or cut), and they read back as the
    file does."""
    group, events = _log_group(aws)
    url = aws.queue(aws.unique("fw1m"))
    run = aws.cli("forward", "--log-group", group, "--queue-url", url, "--from-beginning",
                  "--lag", "0")
    assert run.returncode == 0, run.stderr
    bodies = drain_bodies(aws, url)
    sizes = [len(body.encode("utf-8")) for body in bodies]
    assert max(sizes) > LEGACY_BODY_BYTES and all(s <= MAX_BODY_BYTES for s in sizes)
    assert not any('"encoding"' in body for body in bodies)
    _same(_read_back(aws, url, bodies, tmp_path), _expected(events, tmp_path, aws))


@pytest.mark.parametrize("attribute", [LEGACY_BODY_BYTES, 64 * 1024])
def test_forward_keeps_to_the_queue_maximum_message_size(aws: Aws, tmp_path: Path,
                                                         attribute: int) -> None:
    """A queue created with a smaller MaximumMessageSize (256 KiB, the old default that
    many queues set explicitly): the forwarder reads it and keeps every body within it."""
    group, events = _log_group(aws)
    url = aws.sqs.create_queue(QueueName=aws.unique("fwsmall"), Attributes={
        "MaximumMessageSize": str(attribute)})["QueueUrl"]
    parameter = aws.unique("cp")
    run = aws.cli("forward", "--log-group", group, "--queue-url", url, "--from-beginning",
                  "--lag", "0", "--checkpoint-parameter", parameter)
    assert run.returncode == 0, run.stderr
    bodies = drain_bodies(aws, url)
    assert all(len(body.encode("utf-8")) <= attribute for body in bodies)
    assert max(len(body.encode("utf-8")) for body in bodies) > attribute // 2
    _same(_read_back(aws, url, bodies, tmp_path), _expected(events, tmp_path, aws))


def test_max_message_bytes_over_the_queue_limit_is_one_line(aws: Aws) -> None:
    """--max-message-bytes above the queue's MaximumMessageSize: SQS refuses; one line that
    names the option, exit 2, and the checkpoint is not written."""
    group, _ = _log_group(aws)
    url = aws.sqs.create_queue(QueueName=aws.unique("fwrefuse"), Attributes={
        "MaximumMessageSize": str(LEGACY_BODY_BYTES)})["QueueUrl"]
    parameter = aws.unique("cp")
    run = aws.cli("forward", "--log-group", group, "--queue-url", url, "--from-beginning",
                  "--lag", "0", "--checkpoint-parameter", parameter,
                  "--max-message-bytes", str(MAX_BODY_BYTES))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "--max-message-bytes" in run.stderr
    try:  # (empty time before the events may be passed; no event is)
        stored = json.loads(aws.ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    except aws.ssm.exceptions.ParameterNotFound:
        return
    assert stored["time"] <= BASE_MS and stored["seen"] == []


@pytest.mark.parametrize("value", ["1023", str(MAX_BODY_BYTES + 1), "-5"])
def test_max_message_bytes_out_of_range(aws: Aws, value: str) -> None:
    run = aws.cli("forward", "--log-group", "/g", "--queue-url", "http://127.0.0.1:1/1/q",
                  "--max-message-bytes", value)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "1048576" in run.stderr


def test_max_message_bytes_honoured(aws: Aws) -> None:
    """An explicit limit below the queue's wins (the old --message-bytes still works)."""
    group, events = _log_group(aws)
    url = aws.queue(aws.unique("fwexplicit"))
    for option in ("--max-message-bytes", "--message-bytes"):
        run = aws.cli("forward", "--log-group", group, "--queue-url", url,
                      "--from-beginning", "--lag", "0", option, "100000")
        assert run.returncode == 0, run.stderr
        bodies = drain_bodies(aws, url)
        assert all(len(body.encode("utf-8")) <= 100_000 for body in bodies)
        assert sum(len(json.loads(b)["events"]) for b in bodies) == len(events)
