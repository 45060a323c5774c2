"""End to end: a real PostgreSQL 15 + pgAudit log -> emulated CloudWatch -> forward -> SQS
-> consume, and CloudWatch -> cloudwatch command: the same records as the file itself.

Each PostgreSQL message (a prefixed line and its TAB continuation lines) becomes one
CloudWatch event, as RDS publishes them; event timestamps keep the log's own spacing,
moved to the last hour (CloudWatch only takes events from the last 14 days).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aws_harness import REPO, Aws, read_jsonl
from workload import RDS_PREFIX, RICH_PREFIX, run_config

from pgaudit_parse.aws.cloudwatch import now_ms

ACCOUNT = "123456789012"
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")


def _events_of(log: Path) -> list[tuple[int, str]]:
    """(timestamp, message) per PostgreSQL message of a stderr log."""
    messages: list[tuple[float, list[str]]] = []
    for line in log.read_bytes().decode("utf-8").split("\n"):  # LF only: keep bare CRs
        match = _STAMP.match(line)
        if match:
            stamp = datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc)
            messages.append((stamp.timestamp(), [line]))
        elif messages and line:
            messages[-1][1].append(line)
        else:
            assert not line, f"line before any message: {line!r}"
    last = messages[-1][0]
    now = now_ms() - 60_000
    return [(now - int((last - ts) * 1000), "\n".join(lines)) for ts, lines in messages]


@pytest.fixture(scope="module")
def live_rds_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workload run on a real server with the seed guide's RDS settings."""
    return run_config("rds", tmp_path_factory.mktemp("pg-rds")).stderr_log


def _records(aws: Aws, log: Path, log_prefix: str, tmp_path: Path,
             message_bytes: int = 256 * 1024) -> None:
    instance = aws.unique("e2e")
    group = aws.log_group(f"/aws/rds/instance/{instance}/postgresql", [instance])
    events = _events_of(log)
    assert len(events) > 20
    aws.put(group, instance, events)
    url = aws.queue(aws.unique("e2e"))
    result = aws.cli("forward", "--log-group", group, "--queue-url", url, "--from-beginning",
                     "--lag", "0", "--prefix", log_prefix, "--message-bytes", str(message_bytes),
                     "--checkpoint-parameter", aws.unique("cp"))
    assert result.returncode == 0, result.stderr
    assert f"forward: {len(events)} events" in result.stderr

    expected_path = tmp_path / "file.jsonl"
    result = aws.file_mode(str(log), "--prefix", log_prefix, "--account-id", ACCOUNT,
                           "--instance", instance, "--output", str(expected_path))
    assert result.returncode == 0, result.stderr
    expected = sorted(map(repr, read_jsonl(expected_path)))
    assert len(expected) > 10

    via_sqs = tmp_path / "sqs.jsonl"
    # Small messages are consumed one at a time: each must hold whole entries.
    batch = "10" if message_bytes > 100_000 else "1"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--prefix", log_prefix,
                     "--account-id", ACCOUNT, "--output", str(via_sqs), "--batch-size", batch)
    assert result.returncode == 0, result.stderr
    assert " 0 rejected" in result.stderr
    assert sorted(map(repr, read_jsonl(via_sqs))) == expected

    via_cloudwatch = tmp_path / "cloudwatch.jsonl"
    result = aws.cli("cloudwatch", "--log-group", group, "--from-beginning", "--prefix",
                     log_prefix, "--account-id", ACCOUNT, "--output", str(via_cloudwatch))
    assert result.returncode == 0, result.stderr
    assert sorted(map(repr, read_jsonl(via_cloudwatch))) == expected


@pytest.mark.parametrize("message_bytes", [256 * 1024, 4096])
def test_live_server_log(aws: Aws, live_rds_log: Path, tmp_path: Path,
                         message_bytes: int) -> None:
    """The hard workload on a live server (RDS settings), in one message and in many
    small ones (many SQS batches: entries must not be cut apart)."""
    _records(aws, live_rds_log, RDS_PREFIX, tmp_path, message_bytes)


@pytest.mark.parametrize("name, log_prefix", [("real-rds.log", RDS_PREFIX),
                                              ("real-rich.log", RICH_PREFIX)])
@pytest.mark.parametrize("message_bytes", [256 * 1024, 4096])
def test_recorded_server_logs(aws: Aws, tmp_path: Path, name: str, log_prefix: str,
                              message_bytes: int) -> None:
    """Logs a real server wrote, kept in fixtures/ (RDS settings; and milliseconds,
    statements logged once, parameters, rows and durations)."""
    _records(aws, REPO / "fixtures" / name, log_prefix, tmp_path, message_bytes)
