"""Several DB instances in one consumer: log groups whose streams have the same name.

A central queue fed from several accounts or regions, or an instance group and a cluster
group, can carry equal log stream names (and the same pids: PostgreSQL numbers its
backends per server). Every per-stream state (the parser's assembly, sessions,
executions, idle clocks, reorder buffers, instance naming, held records) is keyed by log
group AND stream: the output of several instances read together is the output of each
one read alone. (Each test failed before its fix.)
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from aws_harness import Aws
from aws_logdata import BASE_MS, prefix

from pgaudit_parse.aws.forwarder import BatchSender
from pgaudit_parse.aws.messages import MessagePacker
from pgaudit_parse.aws.sqs import SqsSource
from pgaudit_parse.pump import Pump, parser_stages
from pgaudit_parse.sinks import OutputSink

RDS = "%t:%r:%u@%d:[%p]:"
ACCOUNT = "123456789012"
STREAM = "postgresql"  # the same stream name in every group


def instance_lines(start: int, tag: str, user: str, db: str, step: int = 10
                   ) -> list[tuple[int, str]]:
    """One instance's log: backend 41 (the same pid on every instance) runs executions
    with SESSION, OBJECT (``<previously logged>``) and duration lines, and ERRORs whose
    STATEMENT line is an event of its own; a line every ``step`` ms."""
    out: list[tuple[int, str]] = []
    ms = start

    def put(text: str) -> None:
        nonlocal ms
        ms += step
        out.append((ms, prefix(ms, 41, user, db) + text))

    put(f"LOG:  connection authorized: user={user} database={db}")
    for n in range(1, 4):
        sql = f"insert into t_{tag} values ({n})"
        put(f"LOG:  AUDIT: SESSION,{n},1,WRITE,INSERT,TABLE,public.t_{tag},{sql},<not logged>")
        put(f"LOG:  AUDIT: OBJECT,{n},1,WRITE,INSERT,TABLE,public.t_{tag},"
            "<previously logged>,<previously logged>")
        put(f"LOG:  duration: {n}.5 ms  statement: {sql}")
        put(f'ERROR:  relation "nope_{tag}{n}" does not exist at character 15')
        put(f"STATEMENT:  select * from nope_{tag}{n}")
    return out


def two_instances(aws: Aws, kinds: tuple[str, str] = ("instance", "instance")
                  ) -> dict[str, tuple[str, list[tuple[int, str]]]]:
    """instance name -> (its log group, its lines): two instances (of unique names) whose
    log streams are both named ``STREAM``, their lines 5 ms apart."""
    out = {}
    users = zip(kinds, ("alice", "bob"), ("shop", "billing"), strict=True)
    for n, (kind, user, db) in enumerate(users):
        name = aws.unique(f"db{n}")
        group = f"/aws/rds/{kind}/{name}/postgresql"
        # (a cluster group names its member instance in the stream: then the instance
        # is ``STREAM``)
        instance = name if kind == "instance" else STREAM
        out[f"{instance}#{n}"] = (group, instance_lines(BASE_MS + 5 * n, f"x{n}", user, db))
    return out


def file_output(aws: Aws, tmp_path: Path, instance: str, lines: list[tuple[int, str]],
                *args: str) -> Counter[str]:
    """What file mode writes for one instance's log."""
    log = tmp_path / f"{abs(hash(instance))}.log"
    log.write_text("".join(text + "\n" for _, text in lines), encoding="utf-8")
    done = aws.file_mode(str(log), "--account-id", ACCOUNT, "--instance",
                         instance.partition("#")[0], *args)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    return Counter(done.stdout.splitlines())


def comparable(lines: object) -> Counter[str]:
    """Output lines without what names the input (events' ``source``, ``stream`` and
    ``line``: a file, or a queue message and a log stream)."""
    out: Counter[str] = Counter()
    for line in lines:  # type: ignore[attr-defined]
        value = json.loads(line)
        for key in ("source", "stream", "line"):
            value.pop(key, None)
        out[json.dumps(value, sort_keys=True)] += 1
    return out


def expected(aws: Aws, tmp_path: Path, logs: dict[str, tuple[str, list[tuple[int, str]]]],
             fmt: str) -> Counter[str]:
    want: Counter[str] = Counter()
    for instance, (_, lines) in logs.items():
        want += file_output(aws, tmp_path, instance, lines, "--format", fmt)
    return comparable(want.elements())


def send_interleaved(aws: Aws, url: str, logs: dict[str, tuple[str, list[tuple[int, str]]]],
                     per_message: int = 1) -> None:
    """The instances' events as forwarder messages of ``per_message`` events of one
    group, sent in time order across the groups (one forwarder per group, one queue)."""
    sender = BatchSender(aws.sqs, url)
    chunks = []
    for group, lines in logs.values():
        for i in range(0, len(lines), per_message):
            chunks.append((lines[i][0], group, i, lines[i:i + per_message]))
    for _, group, i, chunk in sorted(chunks, key=lambda c: c[0]):
        packer = MessagePacker(group)
        for j, (ms, text) in enumerate(chunk):
            sender.add(packer.add({"eventId": f"{i + j:04d}{ms}", "timestamp": ms,
                                   "logStreamName": STREAM, "message": text}))
        sender.add(packer.close())
    sender.flush()


def consume(aws: Aws, url: str, fmt: str, batch_size: int = 10) -> tuple[list[str], str]:
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt=fmt, account_id=ACCOUNT)
    source = SqsSource(aws.sqs, url, visibility_timeout=30, wait_seconds=0,
                       batch_size=batch_size)
    Pump(sink, parser_stages(RDS, sink)).run(source)
    sink.close()
    return out.getvalue().splitlines(), dead.getvalue()


@pytest.mark.parametrize("kinds", [("instance", "instance"), ("instance", "cluster")])
@pytest.mark.parametrize("fmt", ["records", "events"])
@pytest.mark.parametrize("per_message", [1, 4])
def test_sqs_groups_with_the_same_stream_name_are_kept_apart(
        aws: Aws, tmp_path: Path, kinds: tuple[str, str], fmt: str, per_message: int) -> None:
    """Two instances' forwarder messages in one queue, interleaved, each group's stream
    named ``postgresql``, both with backend 41: each ERROR keeps its own STATEMENT, each
    execution its own lines, user, database and duration, and each record names its own
    instance (dbName, serverHostName), as when each log is read alone."""
    logs = two_instances(aws, kinds)
    url = aws.queue(aws.unique("central"))
    send_interleaved(aws, url, logs, per_message)
    got, dead = consume(aws, url, fmt)
    assert dead == ""
    assert comparable(got) == expected(aws, tmp_path, logs, fmt)
    assert aws.queue_depth(url) == (0, 0)


# -- cloudwatch --log-group A --log-group B ---------------------------------------------

def put_groups(aws: Aws, logs: dict[str, tuple[str, list[tuple[int, str]]]]) -> list[str]:
    groups = []
    for group, lines in logs.values():
        aws.log_group(group, [STREAM])
        aws.put(group, STREAM, lines)
        groups.append(group)
    return groups


@pytest.mark.parametrize("kinds", [("instance", "instance"), ("instance", "cluster")])
@pytest.mark.parametrize("fmt", ["records", "events"])
def test_cloudwatch_groups_with_the_same_stream_name_are_kept_apart(
        aws: Aws, tmp_path: Path, kinds: tuple[str, str], fmt: str) -> None:
    """``cloudwatch --log-group A --log-group B`` (page size 3, so that pages and the
    groups' reads cut executions): each group's records name their own instance, and no
    execution or session of one is joined to the other's."""
    logs = two_instances(aws, kinds)
    groups = put_groups(aws, logs)
    out = tmp_path / "out.jsonl"
    args = [arg for group in groups for arg in ("--log-group", group)]
    done = aws.cli("cloudwatch", *args, "--from-beginning", "--format", fmt, "--page-size",
                   "3", "--account-id", ACCOUNT, "--output", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert comparable(out.read_text().splitlines()) == expected(aws, tmp_path, logs, fmt)


def test_cloudwatch_events_show_the_stream_name(aws: Aws, tmp_path: Path) -> None:
    """Events name their log stream as CloudWatch does (not the key that tells two groups'
    streams apart), and their source names group and stream."""
    logs = two_instances(aws)
    groups = put_groups(aws, logs)
    out = tmp_path / "out.jsonl"
    done = aws.cli("cloudwatch", "--log-group", groups[0], "--log-group", groups[1],
                   "--from-beginning", "--format", "events", "--output", str(out), "-q")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["stream"] for e in events} == {STREAM}
    assert {e["source"].partition("#")[0] for e in events} == {f"{g}/{STREAM}" for g in groups}


# -- a file of several groups' forwarder messages ------------------------------------------

@pytest.mark.parametrize("fmt", ["records", "events"])
def test_file_of_forwarder_messages_of_two_groups(aws: Aws, tmp_path: Path, fmt: str) -> None:
    """A file holding a central queue's forwarder bodies (one per line, two groups whose
    streams have the same name, interleaved) reads as each group's log alone would."""
    logs = two_instances(aws)
    chunks = []
    for group, lines in logs.values():
        for i, (ms, text) in enumerate(lines):
            packer = MessagePacker(group)
            packer.add({"eventId": f"{i:04d}{ms}", "timestamp": ms, "logStreamName": STREAM,
                        "message": text})
            chunks.append((ms, packer.close()[0]))
    dump = tmp_path / "bodies.json"
    dump.write_text("".join(body + "\n" for _, body in sorted(chunks)), encoding="utf-8")
    done = aws.file_mode(str(dump), "--format", fmt, "--account-id", ACCOUNT,
                         "--instance", "central")
    assert done.returncode == 0, done.stderr
    want: Counter[str] = Counter()
    for instance, (_, lines) in logs.items():
        want += file_output(aws, tmp_path, "central#" + instance, lines, "--format", fmt)
    assert comparable(done.stdout.splitlines()) == comparable(want.elements())


@pytest.mark.parametrize("fmt", ["records", "events"])
def test_cloudwatch_follow_polls_cutting_both_groups_keep_them_apart(
        aws: Aws, tmp_path: Path, fmt: str) -> None:
    """Following two groups: each poll reads group A, then group B, up to the same time,
    which cuts both logs mid-execution and between an ERROR and its STATEMENT line
    (every cut point is tried): the records held over a poll are joined with nothing of
    the other group, and name their own instance."""
    from pgaudit_parse.aws.cloudwatch import CloudWatchReader

    logs = two_instances(aws, ("instance", "cluster"))
    groups = put_groups(aws, logs)
    want = expected(aws, tmp_path, logs, fmt)
    last = max(ms for _, lines in logs.values() for ms, _ in lines)
    for cut in range(BASE_MS + 12, last, 10):
        out, dead = io.StringIO(), io.StringIO()
        sink = OutputSink(out, dead, fmt=fmt, account_id=ACCOUNT)
        reader = CloudWatchReader(aws.logs, groups, sink, start_ms=BASE_MS)
        reader.poll(cut)
        reader.poll(last)
        reader.finish()
        sink.close()
        assert dead.getvalue() == "", cut - BASE_MS
        assert comparable(out.getvalue().splitlines()) == want, cut - BASE_MS
