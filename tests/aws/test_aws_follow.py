"""``--follow``: new events and messages come out while the command runs; SIGTERM ends it
cleanly (exit 0, checkpoint written)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from aws_harness import REPO, Aws, read_jsonl
from aws_logdata import BASE_MS, audit_line, statements

from pgaudit_parse.aws.checkpoint import CheckpointFile
from pgaudit_parse.aws.cloudwatch import now_ms


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _terminate(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    return stderr


def test_cloudwatch_follow(aws: Aws, tmp_path: Path) -> None:
    group = aws.log_group(aws.unique("/aws/rds/instance/follow") + "/postgresql", ["s"])
    out, checkpoint = tmp_path / "out.jsonl", tmp_path / "cp.json"
    proc = subprocess.Popen(
        aws.argv("cloudwatch", "--log-group", group, "--follow", "--poll-seconds", "0.3",
                 "--checkpoint", str(checkpoint), "--format", "events", "--output", str(out)),
        env=aws.env(), cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        now = now_ms()
        aws.put(group, "s", [(now - 1000 + n, audit_line(now, 1, n)) for n in range(5)])
        _wait_for(lambda: len(statements(read_jsonl(out))) == 5)
        now = now_ms()
        aws.put(group, "s", [(now + n, audit_line(now, 1, 10 + n)) for n in range(5)])
        _wait_for(lambda: len(statements(read_jsonl(out))) == 10)
    finally:
        stderr = _terminate(proc)
    assert statements(read_jsonl(out)) == {n: 1 for n in [*range(5), *range(10, 15)]}
    assert "10 CloudWatch events read" in stderr
    assert CheckpointFile(checkpoint).load()[group].time == now + 4


def test_sqs_follow(aws: Aws, tmp_path: Path) -> None:
    url = aws.queue(aws.unique("follow"))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        aws.argv("sqs", "--queue-url", url, "--follow", "--wait-seconds", "1", "--format",
                 "events", "--output", str(out)),
        env=aws.env(), cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        for k in range(3):
            aws.send_forwarder_messages(url, "/aws/rds/instance/db1/postgresql", "db1",
                                        [(BASE_MS + n, audit_line(BASE_MS, 2, k * 10 + n))
                                         for n in range(4)], 2)
            _wait_for(lambda k=k: len(statements(read_jsonl(out))) == (k + 1) * 4)
    finally:
        stderr = _terminate(proc)
    assert statements(read_jsonl(out)) == {k * 10 + n: 1 for k in range(3) for n in range(4)}
    assert "6 messages" in stderr
    assert aws.queue_depth(url) == (0, 0)
