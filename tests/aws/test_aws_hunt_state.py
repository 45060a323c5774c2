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
from aws_harness import Aws, FailingCheckpoints
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
    count = FailingCheckpoints(tmp_path / "count.json", None)
    assert Counter(_read(aws, group, count)) == want
    assert count.saves > 4
    for fail_at in range(1, count.saves + 1):
        path = tmp_path / f"cp{fail_at}.json"
        first = _read(aws, group, FailingCheckpoints(path, fail_at))
        second = _read(aws, group, FailingCheckpoints(path, None))
        assert set(first + second) == set(want), fail_at


# -- Firehose: at least once, with a stable id per line -----------------------------------

def _hose_payload(events: list[tuple[str, str]]) -> str:
    import base64
    import gzip

    document = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP,
                "logStream": "db1", "subscriptionFilters": ["pgaudit"],
                "logEvents": [{"id": event_id, "timestamp": BASE_MS, "message": text}
                              for event_id, text in events]}
    return base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()


def _hose_records(lines: list[tuple[int, str]], per_record: int) -> list[dict[str, str]]:
    events = [(f"3{BASE_MS}{n:06d}", text) for n, (_, text) in enumerate(lines)]
    return [{"recordId": f"r{i}", "data": _hose_payload(events[i:i + per_record])}
            for i in range(0, len(events), per_record)]


def _hose_lines(answers: list[dict[str, str]]) -> list[str]:
    import base64

    return [line for a in answers if a["result"] == "Ok"
            for line in base64.b64decode(a["data"]).decode("utf-8").splitlines()]


def _same_twice(start: int) -> list[tuple[int, str]]:
    """One session runs the same statement twice in one second: two executions whose
    records render the same text."""
    ms = start
    out = []
    for n in (1, 2):
        out += [(ms, prefix(ms, 7) + f"LOG:  AUDIT: SESSION,{n},1,READ,SELECT,TABLE,"
                                     "public.t,select 1 from t,<not logged>"),
                (ms, prefix(ms, 7) + "LOG:  duration: 0.100 ms  statement: select 1 from t")]
    return out


@pytest.mark.parametrize("fmt", ["records", "events", "ocsf", "ecs"])
def test_firehose_output_lines_carry_a_stable_unique_dedup_id(fmt: str) -> None:
    """Every output line starts with a ``dedupId``: the same when the same records are
    transformed again (a retried invocation), different for two lines, even two
    executions that render the same record."""
    from pgaudit_parse.aws.firehose import transform_records

    lines = _session_lines(BASE_MS) + _same_twice(BASE_MS + 10_000)
    records = _hose_records(lines, 3)
    first = _hose_lines(transform_records(records, fmt=fmt))
    again = _hose_lines(transform_records(records, fmt=fmt))
    assert first == again
    ids = [json.loads(line)["dedupId"] for line in first]
    assert len(set(ids)) == len(ids) == len(first) > 10
    assert all(line.startswith('{"dedupId":"') for line in first)


def test_firehose_retry_after_a_failed_reingest_dedups_to_exactly_the_output(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """PutRecordBatch keeps failing one record of the re-ingested output: the invocation
    fails (nothing is lost: Firehose retries it), after the other records went in.
    The retry re-ingests them again: at least once. De-duplicated by ``dedupId``, what
    is delivered is exactly the output of one clean transformation."""
    import base64
    import gzip

    import pgaudit_parse.aws_lambda as handler
    from pgaudit_parse.aws import firehose
    from pgaudit_parse.aws.firehose import transform_records

    lines = _session_lines(BASE_MS) + _same_twice(BASE_MS + 10_000)
    records = _hose_records(lines, 1)
    clean = _hose_lines(transform_records(records, fmt="events"))
    accepted: list[bytes] = []
    broken = [True]

    class Hose:
        """Takes every record, except the first of each call while ``broken``."""

        def put_record_batch(self, DeliveryStreamName: str,  # noqa: N803 - boto3's names
                             Records: list[dict]) -> dict:
            failed = Records[:1] if broken[0] else []
            accepted.extend(r["Data"] for r in Records[len(failed):])
            return {"FailedPutCount": len(failed),
                    "RequestResponses": [{"ErrorCode": "ServiceUnavailableException"}]
                    * len(failed) + [{"RecordId": "x"}] * (len(Records) - len(failed))}

    monkeypatch.setattr(handler, "make_client", lambda service, settings: Hose())
    monkeypatch.setattr(handler.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(firehose, "RESPONSE_LIMIT", 3_000)
    monkeypatch.setattr(firehose, "_PASS_CHUNK", 1_000)
    monkeypatch.setenv("OUTPUT_FORMAT", "events")
    event = {"invocationId": "i0", "records": records,
             "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/h"}
    with pytest.raises(RuntimeError):
        handler.firehose_handler(event, None)  # Firehose will retry the invocation
    assert accepted, "some re-ingested records went in before the failure"
    broken[0] = False
    delivered = _hose_lines(handler.firehose_handler(event, None)["records"])
    # the re-ingested records come back through later invocations, passed through
    passed = [{"recordId": f"p{i}", "data": base64.b64encode(gzip.compress(
        gzip.decompress(chunk))).decode()} for i, chunk in enumerate(accepted)]
    delivered += _hose_lines(transform_records(passed, fmt="events", limit=10**7))
    assert len(delivered) > len(clean)  # duplicates: at least once
    unique = {json.loads(line)["dedupId"]: line for line in delivered}
    assert sorted(unique.values()) == sorted(clean)


# -- subscription_handler: stateless, and what the events queue gives back ---------------

def _invoke(lines: list[tuple[int, str]], first_id: int) -> dict:
    import base64
    import gzip

    document = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP,
                "logStream": "db1", "subscriptionFilters": ["pgaudit"],
                "logEvents": [{"id": str(first_id + n), "timestamp": ms, "message": text}
                              for n, (ms, text) in enumerate(lines)]}
    return {"awslogs": {"data": base64.b64encode(
        gzip.compress(json.dumps(document).encode())).decode()}}


def test_subscription_invocations_cut_a_session_as_documented_and_sqs_joins_it(
        aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Two invocations, cut between an ERROR and its STATEMENT line, between an
    execution's pgAudit line and its duration line, and between a statement and its
    ``<previously logged>`` line. RECORDS_QUEUE (no state between invocations) gets what
    docs/aws.md says; the events on QUEUE_NAME, read by ``sqs``, give file mode's
    records."""
    from aws_harness import drain_bodies

    from pgaudit_parse.aws_lambda import subscription_handler
    from pgaudit_parse.sinks import decode_record_body

    ms = BASE_MS
    p = prefix(ms, 9)
    lines = [(ms, p + "LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,TABLE,public.t,"
                      "insert into t values (1),<not logged>"),
             (ms, p + 'ERROR:  relation "nope" does not exist at character 15'),
             # -- the next invocation --
             (ms + 1, p + "STATEMENT:  select * from nope"),
             (ms + 1, p + "LOG:  AUDIT: OBJECT,1,1,WRITE,INSERT,TABLE,public.t,"
                          "<previously logged>,<previously logged>"),
             (ms + 2, p + "LOG:  duration: 0.500 ms  statement: insert into t values (1)")]
    events_url = aws.queue(aws.unique("sub-ev"))
    records_url = aws.queue(aws.unique("sub-rec"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("QUEUE_NAME", events_url)
    monkeypatch.setenv("RECORDS_QUEUE", records_url)
    first = subscription_handler(_invoke(lines[:2], 100), None)
    second = subscription_handler(_invoke(lines[2:], 200), None)
    assert (first["records"], first["rejects"]) == (2, 0)
    assert (second["records"], second["rejects"]) == (2, 1)  # the STATEMENT line
    records = [decode_record_body(body) for body in drain_bodies(aws, records_url)]
    shown = sorted((r["data"]["originalSqlCommand"] if r["data"]
                    else "ERROR " + r["exception"]["sqlString"], r["executionTime"] or 0)
                   for r in records)
    assert shown == [("<previously logged>", 0), ("ERROR NA", 0),
                     ("insert into t values (1)", 0), ("insert into t values (1)", 500)]
    assert "kept <previously logged>" in caplog.text
    # The events queue: the consumer keeps state across messages.
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead, account_id="123456789012")
    source = SqsSource(aws.sqs, events_url, visibility_timeout=30, wait_seconds=0,
                       batch_size=1)
    Pump(sink, parser_stages(RDS, sink)).run(source)
    sink.close()
    assert dead.getvalue() == ""
    want = _file_records(aws, tmp_path, lines, "--account-id", "123456789012")
    assert Counter(out.getvalue().splitlines()) == want


# -- rds-logs: portions of DownloadDBLogFilePortion ---------------------------------------

def _rds_read(endpoint: str, store: object, lines: int,
              stop_after: int | None = None) -> list[str]:
    import boto3
    from aws_harness import AWS_ENV, REGION

    from pgaudit_parse.aws.rds_logs import RdsLogReader

    rds = boto3.session.Session(
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION).client("rds", endpoint_url=endpoint)
    out = io.StringIO()
    sink = OutputSink(out)
    pages = [0]

    def on_page(name: str, count: int) -> None:
        pages[0] += 1

    reader = RdsLogReader(rds, "db1", sink, RDS, store=store,  # type: ignore[arg-type]
                          lines_per_page=lines, on_page=on_page)
    reader.poll(lambda: stop_after is not None and pages[0] >= stop_after)
    sink.close()
    return out.getvalue().splitlines()


@pytest.mark.parametrize("per_page", [2, 5])
def test_rds_logs_portion_edges_do_not_cut_an_execution(
        aws: Aws, tmp_path: Path, per_page: int) -> None:
    """An execution's pgAudit line in one DownloadDBLogFilePortion and its duration
    line in the next: one record, as from the file; and a run stopped after any
    portion, resumed from its checkpoint, writes every record (none cut in two)."""
    from rds_stub import RdsStub, StubFile, serve

    from pgaudit_parse.aws.rds_logs import RdsCheckpointFile

    lines = _session_lines(BASE_MS)
    want = _file_records(aws, tmp_path, lines)
    state = RdsStub()
    server, _thread = serve(state)
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        state.files["db1"] = {"error/postgresql.log.2026-11-25-16": StubFile(
            [text + "\n" for _, text in lines], 1)}
        assert Counter(_rds_read(endpoint, None, per_page)) == want
        for stop_after in range(1, len(lines) // per_page + 1):
            store = RdsCheckpointFile(tmp_path / f"rds{per_page}-{stop_after}.json")
            first = _rds_read(endpoint, store, per_page, stop_after)
            second = _rds_read(endpoint, store, per_page)
            assert set(first + second) == set(want), stop_after
            assert len(first) + len(second) >= len(want)
    finally:
        server.shutdown()
        server.server_close()


def test_sqs_message_held_for_its_record_is_not_redelivered_to_another_consumer(
        aws: Aws, tmp_path: Path) -> None:
    """A message kept in flight because the sink holds its execution's record stays
    hidden past the visibility timeout (the heartbeat extends it): a second consumer
    polling meanwhile gets only the other message; then the first writes the record
    whole once its duration line comes, and deletes both."""
    lines = _session_lines(BASE_MS)[:3]
    url = aws.queue(aws.unique("hb"), visibility_timeout=1)
    aws.send_forwarder_messages(url, GROUP, "db1", lines[:2], 2)  # SESSION + OBJECT
    out, dead = io.StringIO(), io.StringIO()
    sink = OutputSink(out, dead)
    first = SqsSource(aws.sqs, url, visibility_timeout=1, wait_seconds=0, batch_size=1)
    pump = Pump(sink, parser_stages(RDS, sink))
    with first.heartbeat():
        pump.process(first.batch_of(first.receive()))
        assert out.getvalue() == "" and first.messages == 0
        time.sleep(2.5)  # over twice the visibility timeout
        other = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0).get("Messages", [])
        assert other == []  # still hidden: the heartbeat kept it
        aws.send_forwarder_messages(url, GROUP, "db1", lines[2:], 1)  # its duration line
        pump.process(first.batch_of(first.receive()))
        pump.process(first.batch_of([], everything=True))
    sink.close()
    assert dead.getvalue() == ""
    assert Counter(out.getvalue().splitlines()) == _file_records(aws, tmp_path, lines)
    assert first.messages == 2
    assert aws.queue_depth(url) == (0, 0)
