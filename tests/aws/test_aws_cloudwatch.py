"""``pgaudit-parse cloudwatch`` against the emulator: streams, pages, multi-line, late events."""

from __future__ import annotations

import json
from pathlib import Path

from aws_harness import Aws, read_jsonl
from aws_logdata import BASE_MS, audit_line, error_lines, errors, statements

from pgaudit_parse.aws.checkpoint import CheckpointFile
from pgaudit_parse.cli.aws import parse_start_time  # noqa: F401 - import check

START = ["--start-time", "1970-01-01T00:00:00Z"]


def _cloudwatch(aws: Aws, group: str, out: Path, *extra: str) -> None:
    result = aws.cli("cloudwatch", "--log-group", group, "--format", "events",
                     "--output", str(out), *extra)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_streams_pages_and_cluster_instances(aws: Aws, tmp_path: Path) -> None:
    """Three member streams of an Aurora cluster, more events than one page (page size
    forced to 70 so that pages end inside the streams); every event exactly once, each
    record named after its stream's instance."""
    cluster = aws.unique("shop")
    group = aws.log_group(f"/aws/rds/cluster/{cluster}/postgresql",
                          [f"{cluster}-instance-{i}" for i in (1, 2, 3)])
    expected = {}
    for i in (1, 2, 3):
        events = [(BASE_MS + n * 7, audit_line(BASE_MS + n * 7, 100 + i, n))
                  for n in range(i * 1000, i * 1000 + 150)]
        aws.put(group, f"{cluster}-instance-{i}", events)
        expected.update({n: f"{cluster}-instance-{i}" for n in range(i * 1000, i * 1000 + 150)})
    out = tmp_path / "events.jsonl"
    _cloudwatch(aws, group, out, "--from-beginning", "--page-size", "70")
    found = statements(read_jsonl(out))
    assert found == {n: 1 for n in expected}
    records = tmp_path / "records.jsonl"
    result = aws.cli("cloudwatch", "--log-group", group, "--from-beginning",
                     "--account-id", "123456789012", "--output", str(records))
    assert result.returncode == 0, result.stderr
    by_statement = {r["data"]["originalSqlCommand"]: r for r in read_jsonl(records)}
    assert len(by_statement) == len(expected)
    for n, instance in expected.items():
        record = by_statement[f"select {n} from t"]
        assert record["dbName"] == f"123456789012:{instance}:shop"


def test_more_than_one_default_page(aws: Aws, tmp_path: Path) -> None:
    """10,050 events: FilterLogEvents (limit 10,000 per page) needs a nextToken."""
    group = aws.log_group(aws.unique("/aws/rds/instance/big") + "/postgresql", ["big"])
    aws.put(group, "big", [(BASE_MS + n, audit_line(BASE_MS + n, 7, n)) for n in range(10_050)])
    out = tmp_path / "events.jsonl"
    _cloudwatch(aws, group, out, *START, "--quiet")
    assert statements(read_jsonl(out)) == {n: 1 for n in range(10_050)}


def test_multiline_messages_split_across_events(aws: Aws, tmp_path: Path) -> None:
    """An ERROR, its STATEMENT and the statement's TAB continuation in three events, in
    two events, and in one multi-line event: the same error every time, and the same as
    reading the lines from a file."""
    group = aws.log_group(aws.unique("/aws/rds/instance/ml") + "/postgresql", ["ml"])
    lines: list[str] = []
    events: list[tuple[int, str]] = []
    for n in range(30):
        ms = BASE_MS + n * 1000
        err = error_lines(ms, 300 + n, n)
        audit = audit_line(ms + 1, 300 + n, n)
        lines.extend(err + [audit])
        if n % 3 == 0:
            events += [(ms, err[0]), (ms, err[1]), (ms, err[2])]
        elif n % 3 == 1:
            events += [(ms, err[0]), (ms, err[1] + "\n" + err[2])]
        else:
            events += [(ms, "\n".join(err))]
        events.append((ms + 1, audit))
    aws.put(group, "ml", events)
    out = tmp_path / "events.jsonl"
    _cloudwatch(aws, group, out, *START)
    got = read_jsonl(out)
    assert errors(got) == {f'relation "nope{n}" does not exist': f"select *\nfrom nope{n}"
                           for n in range(30)}
    assert statements(got) == {n: 1 for n in range(30)}
    log = tmp_path / "same.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    direct = tmp_path / "direct.jsonl"
    result = aws.file_mode("--format", "events", "--output", str(direct), str(log))
    assert result.returncode == 0, result.stderr

    def strip(items: list[dict]) -> list[dict]:
        return [{k: v for k, v in e.items() if k not in ("source", "line", "stream")}
                for e in items]

    assert strip(got) == strip(read_jsonl(direct))


def test_checkpoint_and_late_events(aws: Aws, tmp_path: Path) -> None:
    """A second run emits only what arrived after the first, including late events with
    the very millisecond the first run ended on; a third run emits nothing."""
    group = aws.log_group(aws.unique("/aws/rds/instance/late") + "/postgresql", ["a", "b"])
    edge = BASE_MS + 50_000
    aws.put(group, "a", [(BASE_MS + n * 1000, audit_line(BASE_MS + n * 1000, 1, n))
                         for n in range(51)])  # the last one is at `edge`
    checkpoint = tmp_path / "cp.json"
    out1, out2, out3 = (tmp_path / f"run{i}.jsonl" for i in (1, 2, 3))
    _cloudwatch(aws, group, out1, *START, "--checkpoint", str(checkpoint))
    assert statements(read_jsonl(out1)) == {n: 1 for n in range(51)}
    saved = CheckpointFile(checkpoint).load()[group]
    assert saved.time == edge and len(saved.seen) == 1  # the newest event, done
    # Late: same millisecond as the edge in another stream, and later ones in both.
    aws.put(group, "b", [(edge, audit_line(edge, 2, 1000)), (edge + 5, audit_line(edge, 2, 1001))])
    aws.put(group, "a", [(edge + 10, audit_line(edge, 1, 1002))])
    _cloudwatch(aws, group, out2, "--checkpoint", str(checkpoint))
    assert statements(read_jsonl(out2)) == {1000: 1, 1001: 1, 1002: 1}
    _cloudwatch(aws, group, out3, "--checkpoint", str(checkpoint))
    assert statements(read_jsonl(out3)) == {}
    data = json.loads(checkpoint.read_text())
    assert data["v"] == 1 and group in data["groups"]


def test_lag_keeps_the_last_seconds_for_later(aws: Aws, tmp_path: Path) -> None:
    """With --lag, events newer than now-lag wait for the next run, so an event that
    CloudWatch ingests late (older than the newest one already there) is not lost."""
    from pgaudit_parse.aws.cloudwatch import now_ms

    group = aws.log_group(aws.unique("/aws/rds/instance/lag") + "/postgresql", ["a", "b"])
    now = now_ms()
    aws.put(group, "a", [(now - 120_000, audit_line(now - 120_000, 1, 1)),
                         (now - 2_000, audit_line(now - 2_000, 1, 2))])
    checkpoint = tmp_path / "cp.json"
    out1, out2 = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    _cloudwatch(aws, group, out1, "--checkpoint", str(checkpoint), "--lag", "60")
    assert statements(read_jsonl(out1)) == {1: 1}
    # Ingested late, with a timestamp before the first run's end of reading.
    aws.put(group, "b", [(now - 90_000, audit_line(now - 90_000, 2, 3))])
    assert statements(read_jsonl(out1)) == {1: 1}
    _cloudwatch(aws, group, out2, "--checkpoint", str(checkpoint), "--lag", "0")
    assert statements(read_jsonl(out2)) == {2: 1, 3: 1}


def test_filter_pattern_and_group_prefix(aws: Aws, tmp_path: Path) -> None:
    """--filter-pattern goes to CloudWatch; --log-group-prefix finds every group."""
    stem = aws.unique("/aws/rds/instance/pfx")
    groups = [aws.log_group(f"{stem}{i}/postgresql", ["s"]) for i in (1, 2)]
    for i, group in enumerate(groups):
        aws.put(group, "s", [(BASE_MS + n, audit_line(BASE_MS + n, 9, i * 100 + n))
                             for n in range(20)])
    out = tmp_path / "all.jsonl"
    result = aws.cli("cloudwatch", "--log-group-prefix", stem, "--from-beginning",
                     "--format", "events", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert statements(read_jsonl(out)) == {n: 1 for n in [*range(20), *range(100, 120)]}
    filtered = tmp_path / "filtered.jsonl"
    result = aws.cli("cloudwatch", "--log-group", groups[0], "--from-beginning",
                     "--filter-pattern", '"select 7 from t"', "--format", "events",
                     "--output", str(filtered))
    assert result.returncode == 0, result.stderr
    assert statements(read_jsonl(filtered)) == {7: 1}


def test_setup_errors_are_one_line(aws: Aws, tmp_path: Path) -> None:
    """Unknown log group, missing credentials, unreachable endpoint: exit 2, one line that
    says what to check, no traceback."""
    result = aws.cli("cloudwatch", "--log-group", "/aws/rds/instance/none/postgresql",
                     "--from-beginning")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "not found" in result.stderr and "/aws/rds/instance/none/postgresql" in result.stderr

    no_creds = aws.env()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        no_creds.pop(name)
    import subprocess

    result = subprocess.run(aws.argv("sqs", "--queue-url", f"{aws.endpoint}/123/q"),
                            capture_output=True, text=True, env=no_creds, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "credentials" in result.stderr and "get-caller-identity" in result.stderr

    result = subprocess.run(
        [*aws.argv("forward", "--log-group", "g", "--queue-url", "http://127.0.0.1:9/1/q",
                  "--quiet")[:-2],
         "--endpoint-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, env=aws.env(AWS_MAX_ATTEMPTS="2"), timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot reach" in result.stderr and "127.0.0.1:9" in result.stderr
