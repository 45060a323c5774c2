"""``pgaudit-parse sqs`` against the emulator: competing consumers, seed bodies, dead
letters, visibility extension."""

from __future__ import annotations

import io
import subprocess
import threading
import time
from pathlib import Path

from aws_harness import REPO, Aws, read_jsonl
from aws_logdata import BASE_MS, audit_line, error_lines, errors, statements

from pgaudit_parse.aws.sqs import SqsConsumer
from pgaudit_parse.events import Event
from pgaudit_parse.sinks import OutputSink


def test_two_concurrent_consumers(aws: Aws, tmp_path: Path) -> None:
    """Two consumer processes drain one queue: every event comes out, none twice beyond
    one in-flight batch (10 messages of 5 events), and the queue ends empty."""
    url = aws.queue(aws.unique("pair"))
    total = 1500
    events = [(BASE_MS + n, audit_line(BASE_MS + n, 40 + n % 7, n)) for n in range(total)]
    assert aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1",
                                       events, 5) == total // 5
    outs = [tmp_path / f"consumer{i}.jsonl" for i in (1, 2)]
    procs = [subprocess.Popen(aws.argv("sqs", "--queue-url", url, "--wait-seconds", "1",
                                       "--format", "events", "--output", str(out)),
                              env=aws.env(), cwd=REPO, stderr=subprocess.PIPE, text=True)
             for out in outs]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    counts = [statements(read_jsonl(out)) for out in outs]
    assert all(sum(c.values()) > 0 for c in counts), "both consumers should get work"
    union = counts[0] + counts[1]
    assert set(union) == set(range(total))
    assert sum(union.values()) - total <= 10 * 5
    assert aws.queue_depth(url) == (0, 0)


def test_seed_lambda_bodies(aws: Aws, tmp_path: Path) -> None:
    """The seed Lambda's ``str(dict)`` bodies give the same records as reading the same
    bodies from a file."""
    url = aws.queue(aws.unique("seed"))
    bodies = (REPO / "fixtures" / "seed-sqs-bodies.txt").read_text().splitlines()
    for i in range(0, len(bodies), 10):
        aws.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": body} for j, body in enumerate(bodies[i:i + 10])])
    out = tmp_path / "sqs.jsonl"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--output", str(out),
                     "--instance", "db1")
    assert result.returncode == 0, result.stderr
    direct = tmp_path / "file.jsonl"
    result = aws.file_mode("fixtures/seed-sqs-bodies.txt", "--output", str(direct),
                           "--instance", "db1")
    assert result.returncode == 0, result.stderr
    expected = read_jsonl(direct)
    assert expected, "the fixture should hold records"
    key = sorted  # SQS does not keep order; compare as multisets of JSON lines
    assert key(map(repr, read_jsonl(out))) == key(map(repr, expected))


def test_unreadable_message_goes_to_errors_and_is_deleted(aws: Aws, tmp_path: Path) -> None:
    """A body that is neither JSON nor a seed body: one dead-letter entry, message deleted,
    the good messages beside it processed."""
    url = aws.queue(aws.unique("bad"))
    aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1",
                                [(BASE_MS, audit_line(BASE_MS, 5, 1))], 1)
    aws.sqs.send_message(QueueUrl=url, MessageBody="this is not a log message")
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                     "--output", str(out), "--errors", str(dead))
    assert result.returncode == 0, result.stderr
    assert statements(read_jsonl(out)) == {1: 1}
    rejects = read_jsonl(dead)
    assert [r["raw"] for r in rejects] == ["this is not a log message"]
    assert url in rejects[0]["source"]
    assert "1 rejected" in result.stderr
    assert aws.queue_depth(url) == (0, 0)


def test_errors_and_statements_travel_together(aws: Aws, tmp_path: Path) -> None:
    """Forwarder messages holding ERROR + STATEMENT + continuation lines as separate
    events: the consumer assembles them."""
    url = aws.queue(aws.unique("ml"))
    events = []
    for n in range(20):
        events += [(BASE_MS + n, line) for line in error_lines(BASE_MS + n, 60 + n, n)]
    aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1", events, 3)
    out = tmp_path / "out.jsonl"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                     "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert errors(read_jsonl(out)) == {f'relation "nope{n}" does not exist':
                                       f"select *\nfrom nope{n}" for n in range(20)}


class _SlowSink(OutputSink):
    """A real sink whose writes take time, like a slow disk or a busy downstream."""

    def write(self, event: Event, instance: str | None = None) -> None:
        time.sleep(0.5)
        super().write(event, instance)


def test_visibility_is_extended_for_slow_batches(aws: Aws) -> None:
    """A batch that takes 3 s on a queue with a 1 s visibility timeout stays invisible to
    other consumers (ChangeMessageVisibilityBatch), and is deleted once written."""
    url = aws.queue(aws.unique("slow"), visibility_timeout=1)
    aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1",
                                [(BASE_MS + n, audit_line(BASE_MS + n, 5, n)) for n in range(6)],
                                1)
    out = io.StringIO()
    consumer = SqsConsumer(aws.sqs, url, _SlowSink(out, fmt="events"), wait_seconds=1)
    assert consumer.visibility_timeout == 1
    batch: list[dict] = []
    deadline = time.monotonic() + 10
    while len(batch) < 6 and time.monotonic() < deadline:
        batch += consumer.receive()
    assert len(batch) == 6
    stolen: list[dict] = []

    def other_consumer() -> None:
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            stolen.extend(aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=0).get("Messages", []))
            time.sleep(0.2)

    thief = threading.Thread(target=other_consumer)
    thief.start()
    consumer.process(batch)
    thief.join()
    assert stolen == []
    assert out.getvalue().count("\n") == 6
    time.sleep(1.5)
    assert aws.queue_depth(url) == (0, 0)
