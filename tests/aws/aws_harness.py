"""Helpers of the AWS tests: the emulator's clients, the CLI runner, output readers.

(Named apart from ``conftest`` so that test modules import it unambiguously.)
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

#: Environment of every test and every CLI subprocess: dummy credentials, no profile, no
#: instance metadata lookups (which would leave loopback).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass
class Aws:
    """boto3 clients bound to the emulator, and helpers to run the real CLI against it."""

    endpoint: str
    logs: Any
    sqs: Any
    ssm: Any

    @staticmethod
    def unique(stem: str) -> str:
        """A name no other test uses."""
        return f"{stem}-{uuid.uuid4().hex[:10]}"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a CLI subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ENV)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env.update(extra)
        return env

    def cli(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
        """Run ``python -m pgaudit_parse ARGS --endpoint-url EMULATOR`` and wait for it."""
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, env=self.env(**extra), cwd=REPO)

    def file_mode(self, *args: str) -> subprocess.CompletedProcess:
        """Run ``python -m pgaudit_parse ARGS`` (the file mode: no AWS options)."""
        return subprocess.run([sys.executable, "-m", "pgaudit_parse", *args],
                              capture_output=True, text=True, timeout=120, env=self.env(),
                              cwd=REPO)

    def argv(self, *args: str) -> list[str]:
        """The command line of :meth:`cli` (for Popen)."""
        return [sys.executable, "-m", "pgaudit_parse", *args, "--endpoint-url", self.endpoint]

    def log_group(self, name: str, streams: Sequence[str]) -> str:
        """Create a log group with these streams; returns its name."""
        self.logs.create_log_group(logGroupName=name)
        for stream in streams:
            self.logs.create_log_stream(logGroupName=name, logStreamName=stream)
        return name

    def put(self, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None:
        """PutLogEvents in chronological chunks of at most 10,000 events."""
        ordered = sorted(events, key=lambda e: e[0])
        for i in range(0, len(ordered), 10_000):
            chunk = ordered[i:i + 10_000]
            self.logs.put_log_events(
                logGroupName=group, logStreamName=stream,
                logEvents=[{"timestamp": ts, "message": msg} for ts, msg in chunk])

    def queue(self, name: str, visibility_timeout: int = 30) -> str:
        """Create a standard queue; returns its URL."""
        return self.sqs.create_queue(
            QueueName=name,
            Attributes={"VisibilityTimeout": str(visibility_timeout)})["QueueUrl"]

    def send_forwarder_messages(self, url: str, group: str, stream: str,
                                events: Sequence[tuple[int, str]], per_message: int) -> int:
        """Send events as forwarder JSON messages of ``per_message`` events; returns the
        number of messages."""
        from pgaudit_parse.aws.forwarder import BatchSender
        from pgaudit_parse.aws.messages import MessagePacker

        sender = BatchSender(self.sqs, url)
        for i in range(0, len(events), per_message):
            packer = MessagePacker(group)
            for j, (ts, message) in enumerate(events[i:i + per_message]):
                sender.add(packer.add({"eventId": f"{i + j}", "timestamp": ts,
                                       "logStreamName": stream, "message": message}))
            sender.add(packer.close())
        sender.flush()
        return sender.sent

    def queue_depth(self, url: str) -> tuple[int, int]:
        """(visible, in flight) message counts."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                          "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (int(attrs["ApproximateNumberOfMessages"]),
                int(attrs["ApproximateNumberOfMessagesNotVisible"]))


def read_jsonl(path: Path, torn: int = 0) -> list[dict[str, Any]]:
    """The complete JSON lines of a file; a last line cut by a kill is ignored.

    A run killed mid-write leaves its last record torn; the next run (append mode) ends
    that line with a LF and writes the record again after it. ``torn`` is how many such
    lines may be found (one per kill at most); more is a failure.
    """
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] != "":
        lines.pop()  # written partly when the process was killed: not a record
    records = []
    broken = []
    for line in lines:
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            broken.append(line)
    assert len(broken) <= torn, f"{len(broken)} torn lines (at most {torn}): {broken[:2]}"
    return records


def drain_bodies(aws: Aws, url: str) -> list[str]:
    """Every body in the queue (received and deleted)."""
    bodies: list[str] = []
    while True:
        messages = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]
        aws.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


_DEDUP = re.compile(r'\A\{"dedupId":"[0-9a-f]{32}",')


def without_dedup_id(line: str) -> str:
    """A Firehose output line without its leading ``dedupId`` key (which each JSON line
    must have: the transformation gives every line it renders one), as file mode writes
    it. (Text that is not a JSON object, passed through as ready output, is kept.)"""
    if not line.startswith("{"):
        return line
    match = _DEDUP.match(line)
    assert match is not None, f"no dedupId: {line[:80]}"
    return "{" + line[match.end():]


def file_size(path: Path) -> Callable[[], int]:
    """How far a run has got, as the size of the file it appends to."""
    return lambda: path.stat().st_size if path.exists() else 0


def run_and_kill(aws: Aws, argv: list[str], progress: Callable[[], int],
                 between: tuple[int, int], rng: random.Random) -> bool:
    """Start the CLI and SIGKILL it once ``progress()`` has grown by a random amount in
    ``between`` (so the kill lands mid-run, wherever the process is: reading, writing,
    checkpointing or deleting), a random moment up to 50 ms after it saw the growth.
    True if it was killed, False if it finished first (with exit status 0).

    Growth, not time, decides the moment: a run on a fast machine cannot finish before
    the kill, and one on a loaded machine is not killed before it starts working.
    """
    proc = subprocess.Popen(argv, env=aws.env(), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    start, threshold = progress(), rng.randint(*between)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if progress() - start >= threshold:
            time.sleep(rng.uniform(0, 0.05))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
            return True
        time.sleep(0.005)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode(errors="replace")
    return False


class FailingCheckpoints:
    """A checkpoint file whose ``fail_at``-th save raises: a crash after the sink's
    durable write, before the checkpoint was saved (None: it never fails; ``saves``
    counts them)."""

    def __init__(self, path: Path, fail_at: int | None) -> None:
        from pgaudit_parse.aws.checkpoint import CheckpointFile

        self.file = CheckpointFile(path)
        self.fail_at = fail_at
        self.saves = 0

    def load(self) -> dict[str, Any]:
        return self.file.load()

    def save(self, checkpoints: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.fail_at:
            raise RuntimeError("injected: killed before the checkpoint was saved")
        self.file.save(checkpoints)
