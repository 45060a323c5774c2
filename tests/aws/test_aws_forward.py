"""``pgaudit-parse forward`` against the emulator: window edges, message format and size."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from aws_harness import Aws, drain_bodies, read_jsonl
from aws_logdata import BASE_MS, audit_line, error_lines, errors, prefix

from pgaudit_parse.aws.cloudwatch import now_ms
from pgaudit_parse.aws.messages import LEGACY_BODY_BYTES, EntryBoundary, decode_body
from pgaudit_parse.prefix import RDS_PREFIX


def _events_in(bodies: list[str]) -> list[dict]:
    out = []
    for body in bodies:
        data = json.loads(body)
        assert data["v"] == 1
        out += data["events"]
    return out


_N = re.compile(r"select (\d+) from t")


def _numbers(events: list[dict]) -> Counter[int]:
    return Counter(int(m.group(1)) for e in events for m in [_N.search(e["message"])] if m)


def _forward(aws: Aws, *args: str) -> int:
    result = aws.cli("forward", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return int(re.search(r"forward: (\d+) events", result.stderr).group(1))


def test_back_to_back_runs_over_window_edges(aws: Aws) -> None:
    """Runs one after the other, with events arriving between them at the very
    millisecond the previous run stopped at, and inside and outside the safety lag:
    every event is sent exactly once, and each run sends exactly what is new."""
    group = aws.log_group(aws.unique("/aws/rds/instance/fw") + "/postgresql", ["a", "b"])
    url = aws.queue(aws.unique("fw"))
    parameter = aws.unique("LastExecutionTimestamp")
    now = now_ms()
    edge = now - 100_000
    aws.put(group, "a", [(now - 200_000 + n * 1000, audit_line(now, 1, n)) for n in range(101)])
    aws.put(group, "b", [(edge, audit_line(now, 2, 200 + n)) for n in range(3)])
    aws.put(group, "b", [(now - 10_000, audit_line(now, 2, 300))])  # inside the lag
    common = ("--log-group", group, "--queue-url", url, "--checkpoint-parameter", parameter)
    assert _forward(aws, *common, "--from-beginning", "--lag", "60") == 104
    stored = json.loads(aws.ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    assert stored["v"] == 1 and stored["time"] == edge and len(stored["seen"]) == 4
    # Late events: at the edge millisecond, between the edge and the end of run 1's
    # window, and the one inside the lag becomes due.
    aws.put(group, "b", [(edge, audit_line(now, 2, 400 + n)) for n in range(2)])
    aws.put(group, "a", [(edge + 1, audit_line(now, 1, 500))])
    assert _forward(aws, *common, "--lag", "0") == 4
    assert _forward(aws, *common, "--lag", "0") == 0
    sent = _numbers(_events_in(drain_bodies(aws, url)))
    assert sent == {n: 1 for n in [*range(101), 200, 201, 202, 300, 400, 401, 500]}


def test_seed_checkpoint_value_is_a_start_time(aws: Aws) -> None:
    """The seed stored a bare timestamp in its parameter: forwarding starts there."""
    group = aws.log_group(aws.unique("/aws/rds/instance/seedcp") + "/postgresql", ["s"])
    url = aws.queue(aws.unique("seedcp"))
    parameter = aws.unique("LastExecutionTimestamp")
    aws.put(group, "s", [(BASE_MS + n * 1000, audit_line(BASE_MS, 3, n)) for n in range(10)])
    aws.ssm.put_parameter(Name=parameter, Value=str(BASE_MS + 5000), Type="String")
    assert _forward(aws, "--log-group", group, "--queue-url", url,
                    "--checkpoint-parameter", parameter, "--lag", "0") == 5
    assert _numbers(_events_in(drain_bodies(aws, url))) == {n: 1 for n in range(5, 10)}


def test_messages_fit_sqs_and_keep_entries_whole(aws: Aws, tmp_path: Path) -> None:
    """1.5 MB of errors whose STATEMENT lines are separate events: several messages, each
    within the queue's 256 KiB, none starting inside an entry; an event too large for one message
    even alone travels compressed. The consumer gets every error with its statement."""
    group = aws.log_group(aws.unique("/aws/rds/instance/big") + "/postgresql", ["s"])
    # A queue with the old 256 KiB limit as its MaximumMessageSize: the forwarder reads it.
    url = aws.sqs.create_queue(QueueName=aws.unique("big"), Attributes={
        "MaximumMessageSize": str(LEGACY_BODY_BYTES)})["QueueUrl"]
    events = []
    padding = "x" * 2000
    for n in range(600):
        ms = BASE_MS + n * 10
        err = error_lines(ms, 70, n)
        events += [(ms, err[0]), (ms, err[1] + f" /* {padding} */"), (ms, err[2])]
    huge = f"{prefix(BASE_MS + 7000, 71)}LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t," \
           f"\"select 9999 from t /* {'é' * 100_000} */\",<not logged>"
    events.append((BASE_MS + 7000, huge))
    aws.put(group, "s", events)
    assert _forward(aws, "--log-group", group, "--queue-url", url, "--from-beginning",
                    "--lag", "0") == len(events)
    bodies = drain_bodies(aws, url)
    assert len(bodies) >= 6
    starts = EntryBoundary(RDS_PREFIX)
    total = 0
    for body in bodies:
        assert len(body.encode("utf-8")) <= LEGACY_BODY_BYTES
        body_group, lines = decode_body(body, "test")
        assert body_group == group
        first = next(iter(lines))
        assert starts(first.text), first.text[:80]
        total += 1 + sum(1 for _ in lines)
    assert any('"encoding":"gzip+base64"' in body for body in bodies)
    out = tmp_path / "events.jsonl"
    for body in bodies:
        aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                     "--output", str(out))
    assert result.returncode == 0, result.stderr
    got = read_jsonl(out)
    found = errors(got)
    assert len(found) == 600
    assert found['relation "nope7" does not exist'] == f"select * /* {padding} */\nfrom nope7"
    [big] = [e for e in got if e["kind"] == "audit"]
    assert big["audit"]["statement"] == f"select 9999 from t /* {'é' * 100_000} */"
