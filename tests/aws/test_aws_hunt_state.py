"""State across messages, slices and invocations: the AWS paths write what file mode
writes for the same lines, whatever boundaries fall between them (each test failed before
its fix).

What the parser and the record builder remember across a boundary: an ERROR waiting for
its STATEMENT line, a ``<previously logged>`` statement, and the lines of one statement
execution (pgAudit's SESSION and OBJECT lines, then its ``duration:`` line), which make
one Guardium record.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from aws_harness import Aws
from aws_logdata import BASE_MS, prefix

from pgaudit_parse.aws.sqs import SqsSource
from pgaudit_parse.pump import Pump, parser_stages
from pgaudit_parse.sinks import OutputSink

GROUP = "/aws/rds/instance/db1/postgresql"
RDS = "%t:%r:%u@%d:[%p]:"


def _session_lines(start: int, step: int = 7, pids: tuple[int, int] = (41, 42)
                   ) -> list[tuple[int, str]]:
    """Two interleaved sessions: executions with durations (one with SESSION and OBJECT
    lines, the OBJECT line ``<previously logged>``), an ERROR with its STATEMENT line;
    a line every ``step`` ms."""
    out: list[tuple[int, str]] = []
    ms = start
    first, second = pids

    def put(pid: int, text: str) -> None:
        nonlocal ms
        ms += step
        out.append((ms, prefix(ms, first if pid == 41 else second) + text))

    for n in range(1, 4):
        for pid in (41, 42):
            sql = f"insert into t values ({n}{pid})"
            put(pid, f"LOG:  AUDIT: SESSION,{n},1,WRITE,INSERT,TABLE,public.t,{sql},<not logged>")
            put(pid, f"LOG:  AUDIT: OBJECT,{n},1,WRITE,INSERT,TABLE,public.t,"
                     "<previously logged>,<previously logged>")
            put(pid, f"LOG:  duration: {n}.25{pid} ms  statement: {sql}")
        put(41, f'ERROR:  relation "nope{n}" does not exist at character 15')
        put(41, f"STATEMENT:  select * from nope{n}")
        put(42, f"LOG:  AUDIT: SESSION,{n + 10},1,READ,SELECT,TABLE,public.t,"
                f"select {n} from t,<not logged>")
        put(42, f"LOG:  duration: 0.{n}00 ms  statement: select {n} from t")
    return out


def _file_records(aws: Aws, tmp_path: Path, lines: list[tuple[int, str]],
                  *args: str) -> Counter[str]:
    log = tmp_path / "direct.log"
    log.write_text("".join(text + "\n" for _, text in lines), encoding="utf-8")
    done = aws.file_mode(str(log), "--instance", "db1", *args)
    assert done.returncode == 0, done.stderr
    return Counter(done.stdout.splitlines())


def _consume(aws: Aws, url: str, *, batch_size: int, fmt: str = "records"
             ) -> tuple[str, str]:
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt=fmt)
    source = SqsSource(aws.sqs, url, visibility_timeout=30, wait_seconds=0,
                       batch_size=batch_size)
    Pump(sink, parser_stages(RDS, sink)).run(source)
    sink.close()
    return out.getvalue(), dead.getvalue()


@pytest.mark.parametrize("batch_size", [1, 2, 10])
@pytest.mark.parametrize("fmt", ["records", "events"])
def test_sqs_one_event_per_message_gives_the_file_modes_output(
        aws: Aws, tmp_path: Path, batch_size: int, fmt: str) -> None:
    """Each CloudWatch event in its own SQS message, received one, two or ten at a time:
    an execution's pgAudit lines and its duration line arrive in different receives. The
    records are those of file mode (one per execution, with its executionTime), not a
    record without time plus a duration-only record."""
    lines = _session_lines(BASE_MS)
    url = aws.queue(aws.unique("split"))
    aws.send_forwarder_messages(url, GROUP, "db1", lines, 1)
    got, dead = _consume(aws, url, batch_size=batch_size, fmt=fmt)
    assert dead == ""
    want = _file_records(aws, tmp_path, lines, "--format", fmt)
    assert _comparable(got.splitlines()) == _comparable(want.elements())
    assert aws.queue_depth(url) == (0, 0)


def _comparable(lines: object) -> Counter[str]:
    """Output lines without what names the input (events' ``source`` and ``stream``: a
    file, or a queue message and a log stream)."""
    out: Counter[str] = Counter()
    for line in lines:  # type: ignore[attr-defined]
        value = json.loads(line)
        for key in ("source", "stream", "line"):
            value.pop(key, None)
        out[json.dumps(value, sort_keys=True)] += 1
    return out


def test_sqs_message_of_a_held_execution_stays_until_its_record_is_written(
        aws: Aws, tmp_path: Path) -> None:
    """A consumer that wrote nothing of an execution yet (its record waits for the
    duration line in the next message) must not delete the message with its pgAudit
    line: a consumer stopped there, and the next one, lose nothing and split nothing."""
    lines = _session_lines(BASE_MS)[:3]  # SESSION, OBJECT, duration of one execution
    url = aws.queue(aws.unique("held"), visibility_timeout=1)
    aws.send_forwarder_messages(url, GROUP, "db1", lines, 1)
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead)
    first = SqsSource(aws.sqs, url, visibility_timeout=1, wait_seconds=0, batch_size=1)
    pump = Pump(sink, parser_stages(RDS, sink))
    with first.heartbeat():
        pump.process(first.batch_of(first.receive()))
        pump.process(first.batch_of(first.receive()))
    assert out.getvalue() == ""  # the record waits for its duration line
    assert first.messages == 0  # ... so neither message is deleted
    # the consumer stops here (killed): once the visibility timeout has run out, the
    # next one reads every message again
    time.sleep(1.5)
    got, dead_text = _consume(aws, url, batch_size=1)
    assert dead.getvalue() == dead_text == ""
    assert Counter(got.splitlines()) == _file_records(aws, tmp_path, lines)
    assert aws.queue_depth(url) == (0, 0)


# -- CloudWatch: slices and checkpoints ------------------------------------------------

class _Store:
    """A checkpoint file whose ``fail_at``-th save raises: a crash after the sink's
    durable write, before the checkpoint was saved."""

    def __init__(self, path: Path, fail_at: int | None) -> None:
        from pgaudit_parse.aws.checkpoint import CheckpointFile

        self.file = CheckpointFile(path)
        self.fail_at = fail_at
        self.saves = 0

    def load(self) -> dict:
        return self.file.load()

    def save(self, checkpoints: dict) -> None:
        self.saves += 1
        if self.saves == self.fail_at:
            raise RuntimeError("injected: killed before the checkpoint was saved")
        self.file.save(checkpoints)


def _two_streams(aws: Aws) -> tuple[str, dict[str, list[tuple[int, str]]]]:
    """Two log streams, their sessions' lines interleaved in time, 50 s apart in each
    stream: slice edges (5 minutes at first) fall between every kind of neighbours."""
    name = aws.unique("slices")
    group = aws.log_group(f"/aws/rds/cluster/{name}/postgresql", ["a", "b"])
    streams = {"a": _session_lines(BASE_MS, 50_000),
               "b": _session_lines(BASE_MS + 25_000, 50_000, (51, 52))}
    for stream, lines in streams.items():
        aws.put(group, stream, lines)
    return group, streams


def _read(aws: Aws, group: str, store: object, fmt: str = "records") -> list[str]:
    from pgaudit_parse.aws.cloudwatch import CloudWatchReader

    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, fmt=fmt)
    try:
        reader = CloudWatchReader(aws.logs, [group], sink, start_ms=BASE_MS,
                                  store=store)  # type: ignore[arg-type]
        reader.poll(BASE_MS + 3600_000)
        reader.finish()
    except RuntimeError:
        pass  # the injected crash: what was written stays, what was held is gone
    assert dead.getvalue() == ""
    return out.getvalue().splitlines()


def _expected(aws: Aws, tmp_path: Path, streams: dict[str, list[tuple[int, str]]],
              fmt: str) -> Counter[str]:
    want: Counter[str] = Counter()
    for stream, lines in streams.items():
        (tmp_path / stream).mkdir()
        # (an Aurora cluster's group: each stream names its instance)
        want += _file_records(aws, tmp_path / stream, lines, "--format", fmt,
                              "--instance", stream)
    return want


@pytest.mark.parametrize("fmt", ["records", "events"])
def test_cloudwatch_execution_across_slice_edges_gives_the_file_modes_output(
        aws: Aws, tmp_path: Path, fmt: str) -> None:
    """An execution's pgAudit lines at the end of one slice and its duration line in
    the next: one record with its executionTime, as from the file."""
    group, streams = _two_streams(aws)
    got = _read(aws, group, None, fmt)
    assert _comparable(got) == _comparable(_expected(aws, tmp_path, streams, fmt).elements())


def test_cloudwatch_crash_before_each_checkpoint_save_loses_and_splits_nothing(
        aws: Aws, tmp_path: Path) -> None:
    """Killed after any slice's durable write, before its checkpoint was saved: the next
    run from the checkpoint writes every record of the file (some twice: at least
    once), and no execution comes out cut in two."""
    group, streams = _two_streams(aws)
    want = _expected(aws, tmp_path, streams, "records")
    count = _Store(tmp_path / "count.json", None)
    assert Counter(_read(aws, group, count)) == want
    assert count.saves > 4
    for fail_at in range(1, count.saves + 1):
        path = tmp_path / f"cp{fail_at}.json"
        first = _read(aws, group, _Store(path, fail_at))
        second = _read(aws, group, _Store(path, None))
        assert set(first + second) == set(want), fail_at
