"""Crash safety: consumers killed with SIGKILL at random moments, then restarted.

After the last (uninterrupted) run, the output file the runs appended to holds every
event; what was written twice is bounded by what one run had in flight when it died.
The kill moments come from a seeded generator, so a failure can be replayed.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from aws_harness import Aws, drain_bodies, file_size, read_jsonl, run_and_kill
from aws_logdata import BASE_MS, audit_line, error_lines, errors, statements

from pgaudit_parse.aws.cloudwatch import INITIAL_SPAN_MS

KILLS = 4
PER_STREAM = 3000


def test_cloudwatch_killed_and_restarted(aws: Aws, tmp_path: Path) -> None:
    """``cloudwatch --checkpoint`` killed mid-run again and again."""
    rng = random.Random(20261125)
    group = aws.log_group(aws.unique("/aws/rds/instance/crash") + "/postgresql", ["a", "b"])
    step = 1000  # ms between events: 300 events per stream and 5-minute slice
    audits, errs = {}, {}
    for stream, pid in (("a", 11), ("b", 12)):
        events = []
        for k in range(PER_STREAM):
            n = k * 2 + (stream == "b")
            ms = BASE_MS + k * step
            if k % 10 == 5:  # an ERROR whose STATEMENT lines are separate events
                events += [(ms, line) for line in error_lines(ms, pid, n)]
                errs[n] = True
            else:
                events.append((ms, audit_line(ms, pid, n)))
                audits[n] = True
        aws.put(group, stream, events)
    out, checkpoint = tmp_path / "out.jsonl", tmp_path / "cp.json"
    argv = aws.argv("cloudwatch", "--log-group", group, "--from-beginning", "--format",
                    "events", "--checkpoint", str(checkpoint), "--output", str(out))
    kills = sum(run_and_kill(aws, argv, file_size(out), (20_000, 300_000), rng)
                for _ in range(KILLS))
    assert kills >= 3, "the runs should have been interrupted"
    started = time.monotonic()
    result = aws.cli(*argv[3:-2])
    print(f"cloudwatch: last run {time.monotonic() - started:.1f}s")
    assert result.returncode == 0, result.stderr
    got = read_jsonl(out, torn=kills)
    found = statements(got)
    assert set(found) == set(audits)
    found_errors = errors(got)
    assert len(found_errors) == len(errs)
    assert all(s.startswith("select *\nfrom nope") for s in found_errors.values())
    per_slice = 2 * (INITIAL_SPAN_MS // step)  # audit statements in one slice, 2 streams
    duplicates = sum(found.values()) - len(found)
    print(f"cloudwatch: {kills} kills, {duplicates} duplicates")
    # At most the slice being read when killed (plus entries held over from the slice
    # before it: the parser's window of 64 lines per stream).
    assert duplicates <= kills * (per_slice + 2 * 64), (kills, duplicates)
    # Nothing new: a further run writes nothing.
    before = out.stat().st_size
    result = aws.cli(*argv[3:-2])
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size == before


def test_sqs_consumer_killed_and_restarted(aws: Aws, tmp_path: Path) -> None:
    """``sqs`` killed mid-batch again and again; unacknowledged messages come back after
    the visibility timeout and are written by a later run."""
    rng = random.Random(1125)
    url = aws.queue(aws.unique("crash"), visibility_timeout=2)
    per_message, total = 3, 1200
    events = [(BASE_MS + n, audit_line(BASE_MS + n, 30 + n % 5, n)) for n in range(total)]
    aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1", events,
                                per_message)
    out = tmp_path / "out.jsonl"
    argv = aws.argv("sqs", "--queue-url", url, "--wait-seconds", "3", "--format", "events",
                    "--output", str(out))
    kills = sum(run_and_kill(aws, argv, file_size(out), (20_000, 300_000), rng)
                for _ in range(KILLS))
    assert kills >= 3, "the runs should have been interrupted"
    time.sleep(2)  # the killed runs' batches become visible again
    result = aws.cli(*argv[3:-2])
    assert result.returncode == 0, result.stderr
    found = statements(read_jsonl(out, torn=kills))
    assert set(found) == set(range(total))
    duplicates = sum(found.values()) - total
    print(f"sqs: {kills} kills, {duplicates} duplicates")
    assert duplicates <= kills * 10 * per_message, (kills, duplicates)
    assert aws.queue_depth(url) == (0, 0)


def _drain_events(aws: Aws, url: str) -> list[dict]:
    from pgaudit_parse import parse_lines
    from pgaudit_parse.aws.messages import decode_body
    from pgaudit_parse.sinks import event_to_json

    events: list[dict] = []
    for body in drain_bodies(aws, url):
        _, lines = decode_body(body, "q")
        rejects: list = []
        events += [event_to_json(e) for e in parse_lines(lines, on_reject=rejects.append)]
        assert rejects == [], rejects  # each message holds whole PostgreSQL messages
    return events


def test_forward_killed_and_restarted(aws: Aws) -> None:
    """``forward`` (the pump with a CloudWatch source and an SQS sink, checkpointed in
    SSM) killed mid-run again and again: every event reaches the queue, whole; what is
    sent twice is bounded by the slices in flight when it died."""
    rng = random.Random(4242)
    group = aws.log_group(aws.unique("/aws/rds/instance/fwcrash") + "/postgresql", ["a", "b"])
    url = aws.queue(aws.unique("fwcrash"))
    parameter = aws.unique("cp")
    step = 1000
    audits, errs = set(), set()
    for stream, pid in (("a", 21), ("b", 22)):
        events = []
        for k in range(PER_STREAM // 2):
            n = k * 2 + (stream == "b")
            ms = BASE_MS + k * step
            if k % 10 == 5:
                events += [(ms, line) for line in error_lines(ms, pid, n)]
                errs.add(n)
            else:
                events.append((ms, audit_line(ms, pid, n)))
                audits.add(n)
        aws.put(group, stream, events)
    argv = aws.argv("forward", "--log-group", group, "--queue-url", url, "--from-beginning",
                    "--lag", "0", "--checkpoint-parameter", parameter, "--page-size", "200")
    # The whole log goes out in about ten messages: each run is killed once one to three
    # more have reached the queue, so at least three of the four runs die mid-run.
    def sent() -> int:
        return sum(aws.queue_depth(url))

    kills = sum(run_and_kill(aws, argv, sent, (1, 3), rng) for _ in range(KILLS))
    assert kills >= 3, "the runs should have been interrupted"
    result = aws.cli(*argv[3:-2])
    assert result.returncode == 0, result.stderr
    got = _drain_events(aws, url)
    found = statements(got)
    assert set(found) == audits
    found_errors = errors(got)
    assert len(found_errors) == len(errs)
    assert all(s.startswith("select *\nfrom nope") for s in found_errors.values())
    duplicates = sum(found.values()) - len(found)
    per_slice = 2 * (INITIAL_SPAN_MS // step)
    print(f"forward: {kills} kills, {duplicates} duplicates")
    assert duplicates <= kills * per_slice, (kills, duplicates)


def test_sqs_seed_bodies_killed_and_restarted(aws: Aws, tmp_path: Path) -> None:
    """``sqs`` over seed Lambda bodies (held in the reorder buffer and the parser across
    receives, their messages kept in flight) killed again and again: nothing lost."""
    rng = random.Random(77)
    url = aws.queue(aws.unique("seedcrash"), visibility_timeout=2)
    total = 600
    bodies = []
    for n in range(total):
        ms = BASE_MS + n * 10
        bodies.append(str({"logStreamName": f"db{n % 3}", "timestamp": ms,
                           "message": audit_line(ms, 50 + n % 3, n) + "++",
                           "eventId": f"{n:056d}"}))
    for i in range(0, total, 10):
        aws.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])])
    out = tmp_path / "out.jsonl"
    argv = aws.argv("sqs", "--queue-url", url, "--wait-seconds", "2", "--format", "events",
                    "--reorder-window", "0.05", "--output", str(out))
    kills = sum(run_and_kill(aws, argv, file_size(out), (20_000, 300_000), rng)
                for _ in range(KILLS))
    assert kills >= 2, "the runs should have been interrupted"
    time.sleep(2.5)
    result = aws.cli(*argv[3:-2])
    assert result.returncode == 0, result.stderr
    found = statements(read_jsonl(out))
    assert set(found) == set(range(total))
    assert aws.queue_depth(url) == (0, 0)
