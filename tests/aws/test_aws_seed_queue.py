"""The seed guide's existing queue reads as exactly as the file: a real server's log sent
as the seed Lambda's ``str(dict)`` bodies (one CloudWatch event per message; several
streams; multi-line statements with PostgreSQL's TAB after each newline; errors with
DETAIL/HINT/STATEMENT lines in messages of their own), shuffled within the reorder window
the way a standard queue delivers them, gives the same events as reading the log file."""

from __future__ import annotations

import random
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aws_harness import REPO, Aws, read_jsonl
from workload import RDS_PREFIX, run_config

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")
WINDOW_S = 3
#: What depends on where an event was read, not on what it is.
_WHERE = ("source", "line", "stream")


def _seed_bodies(log: Path, stream: str) -> list[tuple[int, str]]:
    """(timestamp, body) per PostgreSQL message of a stderr log, as the seed Lambda sent
    each CloudWatch event: ``str(event)`` with ``++`` after the message."""
    events: list[tuple[int, list[str]]] = []
    for line in log.read_bytes().decode("utf-8").split("\n"):
        match = _STAMP.match(line)
        if match:
            stamp = datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc)
            events.append((int(stamp.timestamp() * 1000), [line]))
        elif events and line:
            events[-1][1].append(line)
    return [(ts, str({"logStreamName": stream, "timestamp": ts,
                      "message": "\n".join(lines) + "++", "ingestionTime": ts + 700,
                      "eventId": f"{index + 1:056d}"}))
            for index, (ts, lines) in enumerate(events)]


def _what(events: list[dict[str, Any]]) -> list[str]:
    return sorted(repr({k: v for k, v in e.items() if k not in _WHERE}) for e in events)


@pytest.fixture(scope="module")
def live_rds_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workload run on a real server with the seed guide's RDS settings."""
    return run_config("rds", tmp_path_factory.mktemp("pg-seed")).stderr_log


def test_seed_queue_reads_like_the_file(aws: Aws, live_rds_log: Path, tmp_path: Path) -> None:
    logs = {"db-live": live_rds_log, "db-fixture": REPO / "fixtures" / "real-rds.log"}
    rng = random.Random(9)
    bodies: list[tuple[float, str, tuple[str, int, int]]] = []
    expected: list[dict[str, Any]] = []
    for stream, log in logs.items():
        # Each body is delayed by less than the window: a standard queue's reordering.
        bodies += [(ts + rng.uniform(0, WINDOW_S * 900), body, (stream, ts, n))
                   for n, (ts, body) in enumerate(_seed_bodies(log, stream))]
        out = tmp_path / f"{stream}.jsonl"
        result = aws.file_mode(str(log), "--format", "events", "--output", str(out))
        assert result.returncode == 0, result.stderr
        expected += read_jsonl(out)
    text = "\n".join(body for _, body, _ in bodies)
    assert "STATEMENT:" in text and "DETAIL:" in text and "HINT:" in text and "\\n\\t" in text
    bodies.sort(key=lambda item: item[0])
    order = [key for _, _, key in bodies]
    late = sum(1 for i, key in enumerate(order) if any(
        other[0] == key[0] and other[2] > key[2] for other in order[:i]))
    assert late > 10, "the shuffle should deliver many events after later ones"
    url = aws.queue(aws.unique("seedq"))
    for i in range(0, len(bodies), 10):
        aws.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": body} for j, (_, body, _) in enumerate(bodies[i:i + 10])])
    out, dead = tmp_path / "sqs.jsonl", tmp_path / "dead.jsonl"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                     "--reorder-window", str(WINDOW_S), "--output", str(out),
                     "--errors", str(dead), "--prefix", RDS_PREFIX)
    assert result.returncode == 0, result.stderr
    assert read_jsonl(dead) == []
    got = read_jsonl(out)
    assert len(got) == len(expected)
    assert _what(got) == _what(expected)
    assert aws.queue_depth(url) == (0, 0)
