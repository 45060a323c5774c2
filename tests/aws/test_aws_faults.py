"""Issue 9's faults, each reproduced against the emulator (they failed before the fix)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path

import pytest
from aws_harness import Aws, drain_bodies, read_jsonl
from aws_logdata import BASE_MS, audit_line, errors, prefix, statements

from pgaudit_parse.aws.cloudwatch import now_ms

GROUP = "/aws/rds/instance/db1/postgresql"


def _consume(aws: Aws, url: str, tmp_path: Path, *extra: str) -> tuple[list, list, str]:
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    result = aws.cli("sqs", "--queue-url", url, "--wait-seconds", "1", "--format", "events",
                     "--output", str(out), "--errors", str(dead), *extra)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return read_jsonl(out), read_jsonl(dead), result.stderr


# -- 1. poison messages ---------------------------------------------------------------

def _corrupt_gzip_body() -> str:
    raw = gzip.compress(b'{"events": [{"eventId": "1", "message": "x"}]}')
    broken = raw[:12] + bytes(b ^ 0x5A for b in raw[12:-8]) + raw[-8:]
    return json.dumps({"v": 1, "logGroup": GROUP, "encoding": "gzip+base64",
                       "data": base64.b64encode(broken).decode()})


def test_corrupt_deflate_body_is_a_dead_letter_and_the_batch_goes_on(
        aws: Aws, tmp_path: Path) -> None:
    url = aws.queue(aws.unique("poison"))
    aws.send_forwarder_messages(url, GROUP, "db1",
                                [(BASE_MS + n, audit_line(BASE_MS + n, 5, n)) for n in range(5)],
                                1)
    bad = _corrupt_gzip_body()
    with pytest.raises(zlib.error):  # the body really is corrupt deflate data
        gzip.decompress(base64.b64decode(json.loads(bad)["data"]))
    sent = aws.sqs.send_message(QueueUrl=url, MessageBody=bad)
    got, dead, _ = _consume(aws, url, tmp_path)
    assert statements(got) == {n: 1 for n in range(5)}
    assert len(dead) == 1
    assert dead[0]["raw"] == bad
    assert sent["MessageId"] in dead[0]["source"]
    assert "gzip" in dead[0]["reason"] or "compress" in dead[0]["reason"]
    assert aws.queue_depth(url) == (0, 0)


@pytest.mark.parametrize("body", [
    '{"v": 1, "logGroup": "/g", "encoding": "gzip+base64", "data": "%%%not base64"}',
    '{"v": 1, "logGroup": "/g", "events": [{"eventId": "1", "message": 5}]}',
    '{"v": 1, "logGroup": "/g", "events": "nope"}',
    '{"v": 1, "logGroup": "/g", "events": [{"eventId": "1", "timestamp": "x", '
    '"logStreamName": "s", "message": "m"}]}',
    "{'logStreamName': 'db1', 'message': 42}",
    '{"v": 1, "logGroup": "/g", "events": [',
])
def test_undecodable_bodies_are_one_dead_letter_each(aws: Aws, tmp_path: Path,
                                                     body: str) -> None:
    url = aws.queue(aws.unique("poison"))
    aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    aws.send_forwarder_messages(url, GROUP, "db1", [(BASE_MS, audit_line(BASE_MS, 5, 7))], 1)
    got, dead, _ = _consume(aws, url, tmp_path)
    assert statements(got) == {7: 1}
    assert [d["raw"] for d in dead] == [body]
    assert aws.queue_depth(url) == (0, 0)


# -- 2. checkpoint values -------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", '{"time": true}', "inf", "1e30", "nan", "-5",
                                   "garbage", '{"v": 1, "time": 0, "seen": []}'])
def test_bad_checkpoint_parameter_is_one_line_exit_2(aws: Aws, value: str) -> None:
    group = aws.log_group(aws.unique("/aws/rds/instance/cpv") + "/postgresql", ["s"])
    url = aws.queue(aws.unique("cpv"))
    name = aws.unique("LastExecutionTimestamp")
    aws.ssm.put_parameter(Name=name, Value=value, Type="String")
    result = aws.cli("forward", "--log-group", group, "--queue-url", url,
                     "--checkpoint-parameter", name)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "delete-parameter" in lines[0]
    assert aws.ssm.get_parameter(Name=name)["Parameter"]["Value"] == value  # untouched


def test_bad_checkpoint_file_is_one_line_exit_2(aws: Aws, tmp_path: Path) -> None:
    group = aws.log_group(aws.unique("/aws/rds/instance/cpf") + "/postgresql", ["s"])
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps({"v": 1, "groups": {group: {"time": 1e30, "seen": []}}}))
    result = aws.cli("cloudwatch", "--log-group", group, "--checkpoint", str(checkpoint))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(checkpoint) in result.stderr


def test_forwarder_checkpoint_moves_through_empty_slices(aws: Aws) -> None:
    """A run stopped early (deadline) over empty time still moves the checkpoint, so the
    next run does not start over from the same place."""
    from pgaudit_parse.aws.checkpoint import Checkpoint, ParameterCheckpoint
    from pgaudit_parse.aws.forwarder import Forwarder

    group = aws.log_group(aws.unique("/aws/rds/instance/empty") + "/postgresql", ["s"])
    url = aws.queue(aws.unique("empty"))
    name = aws.unique("cp")
    store = ParameterCheckpoint(aws.ssm, name)
    start = now_ms() - 10 * 24 * 3600 * 1000
    store.save(Checkpoint(start))
    aws.put(group, "s", [(now_ms() - 60_000, audit_line(now_ms() - 60_000, 1, 1))])
    calls = [0]

    def deadline() -> bool:
        calls[0] += 1
        return calls[0] > 3  # three slices per run

    forwarder = Forwarder(aws.logs, aws.sqs, group, url, store, deadline=deadline)
    total = forwarder.run(now_ms()).events
    moved = store.load()
    assert moved is not None and moved.time > start
    for _ in range(10):
        calls[0] = 0
        total += Forwarder(aws.logs, aws.sqs, group, url, store, deadline=deadline).run(
            now_ms()).events
    assert total == 1


# -- 3. the seed Lambda's bodies --------------------------------------------------------

def _seed_body(stream: str, ts: int, event_id: int, message: str) -> str:
    return str({"logStreamName": stream, "timestamp": ts, "message": message + "++",
                "ingestionTime": ts + 500, "eventId": f"{event_id:056d}"})


def test_seed_statement_in_its_own_message_joins_its_error(aws: Aws, tmp_path: Path) -> None:
    url = aws.queue(aws.unique("seedjoin"))
    ms = BASE_MS
    p = prefix(ms, 77)
    bodies = [
        _seed_body("db1", ms, 1, f'{p}ERROR:  relation "nope" does not exist at character 15'),
        _seed_body("db1", ms, 2, f"{p}DETAIL:  some detail"),
        _seed_body("db2", ms, 3, f"{prefix(ms, 78)}LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,"
                                 f'"select 1\n\tfrom t",<not logged>'),
        _seed_body("db1", ms, 4, f"{p}STATEMENT:  select *\n\tfrom nope"),
    ]
    for body in bodies:
        aws.sqs.send_message(QueueUrl=url, MessageBody=body)
    got, dead, _ = _consume(aws, url, tmp_path)
    assert dead == []
    assert errors(got) == {'relation "nope" does not exist': "select *\nfrom nope"}
    [error] = [e for e in got if e["kind"] == "error"]
    assert error["detail"] == "some detail"
    [audit] = [e for e in got if e["kind"] == "audit"]
    assert audit["audit"]["statement"] == "select 1\nfrom t"
    assert aws.queue_depth(url) == (0, 0)


# -- 4/5. across forwarder runs ----------------------------------------------------------

def test_error_and_statement_split_by_a_forwarder_run(aws: Aws, tmp_path: Path) -> None:
    group = aws.log_group(aws.unique("/aws/rds/instance/split") + "/postgresql", ["s"])
    url = aws.queue(aws.unique("split"))
    name = aws.unique("cp")
    t = now_ms() - 600_000
    p = prefix(t, 99)
    aws.put(group, "s", [
        (t - 5000, audit_line(t - 5000, 98, 1)),
        (t, f'{p}ERROR:  relation "gone" does not exist'),
        (t + 2000, f"{p}STATEMENT:  select * from gone"),
        (t + 3000, f"{p}LOG:  AUDIT: SESSION,5,1,READ,SELECT,,,select 5 from t,<not logged>"),
        (t + 4000, f"{p}LOG:  AUDIT: OBJECT,5,1,READ,SELECT,TABLE,public.t,<previously logged>,"
                   "<previously logged>"),
    ])
    from pgaudit_parse.aws.checkpoint import Checkpoint, ParameterCheckpoint
    from pgaudit_parse.aws.forwarder import Forwarder

    store = ParameterCheckpoint(aws.ssm, name)
    store.save(Checkpoint(t - 10_000))
    # Run boundaries between the ERROR and its STATEMENT, and between the statement's
    # first audit line and its <previously logged> line.
    for end in (t + 1000, t + 3500, t + 60_000):
        Forwarder(aws.logs, aws.sqs, group, url, store, lag_ms=0).run(end)
    # Each message read alone (competing consumers each get one) gives whole events.
    from pgaudit_parse import parse_lines
    from pgaudit_parse.aws.messages import decode_body
    from pgaudit_parse.sinks import event_to_json

    got = []
    for body in drain_bodies(aws, url):
        rejects: list = []
        _, lines = decode_body(body, "q")
        got += [event_to_json(e) for e in parse_lines(lines, on_reject=rejects.append)]
        assert rejects == []
    assert errors(got) == {'relation "gone" does not exist': "select * from gone"}
    audits = [e["audit"] for e in got if e["kind"] == "audit" and e["pid"] == 99]
    assert [a["statement"] for a in audits] == ["select 5 from t", "select 5 from t"]
    assert statements(got) == {1: 1, 5: 2}


# -- 6. subscription handler, oversize record ------------------------------------------

def test_subscription_records_queue_oversize_record(aws: Aws,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from test_aws_lambda import _subscription_event

    from pgaudit_parse.aws_lambda import subscription_handler

    # (a queue created with the old 256 KiB MaximumMessageSize: the handler reads it)
    records = aws.sqs.create_queue(QueueName=aws.unique("records"), Attributes={
        "MaximumMessageSize": str(256 * 1024)})["QueueUrl"]
    monkeypatch.setenv("RECORDS_QUEUE", records)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    big = "select " + ", ".join(f"'{n:07d}' as c{n}" for n in range(20_000)) + " from t"
    ms = BASE_MS
    events = [(str(n), ms + n, audit_line(ms + n, 3, n)) for n in range(3)]
    events.append(("big", ms + 5, f"{prefix(ms + 5, 3)}LOG:  AUDIT: SESSION,9,1,READ,SELECT,"
                                  f',,"{big}",<not logged>'))
    events.append(("after", ms + 6, audit_line(ms + 6, 3, 4)))
    event = _subscription_event(GROUP, "db1", events)
    result = subscription_handler(event, None)
    assert result["records"] == 5
    bodies = drain_bodies(aws, records)
    assert len(bodies) == 5
    assert all(len(b.encode()) <= 256 * 1024 for b in bodies)
    from pgaudit_parse.sinks import decode_record_body

    decoded = [decode_record_body(b) for b in bodies]
    sqls = sorted(r["data"]["originalSqlCommand"] for r in decoded)
    assert big in sqls
    # A retry of the same invocation sends nothing twice on a FIFO queue; on a standard
    # queue every body is checked before the first one is sent.


# -- 7. forward --debug ---------------------------------------------------------------

def test_forward_debug_shows_no_credentials_or_sql(aws: Aws) -> None:
    group = aws.log_group(aws.unique("/aws/rds/instance/dbg") + "/postgresql", ["s"])
    url = aws.queue(aws.unique("dbg"))
    t = now_ms() - 120_000
    aws.put(group, "s", [(t + n, audit_line(t + n, 1, 424242 + n)) for n in range(3)])
    token = "SECRET-SESSION-TOKEN-x9"
    result = aws.cli("forward", "--log-group", group, "--queue-url", url, "--start-time",
                     "2000-01-01T00:00:00Z", "--debug", AWS_SESSION_TOKEN=token)
    assert result.returncode == 0, result.stderr
    assert token not in result.stderr
    assert "testing" not in result.stderr  # the access key id / secret
    assert "424242" not in result.stderr  # statement text
    assert "slice" in result.stderr


# -- 8. one line instead of a traceback ---------------------------------------------------

@pytest.mark.parametrize("lag", ["inf", "nan", "-1"])
def test_lag_inf_nan(aws: Aws, lag: str) -> None:
    for command in (("forward", "--queue-url", "http://q"), ("cloudwatch",)):
        result = aws.cli(*command, "--log-group", "/g", "--lag", lag)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "--lag" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_profile_from_the_environment_is_named(aws: Aws) -> None:
    result = aws.cli("sqs", "--queue-url", "http://q", AWS_PROFILE="nosuchprofile")
    assert result.returncode == 2
    assert "nosuchprofile" in result.stderr and "None" not in result.stderr


def test_aws_error_message_is_not_cut_off() -> None:
    from botocore.exceptions import ClientError

    from pgaudit_parse.aws.errors import explain

    message = "Value at 'x' failed to satisfy constraint:\nMember must have length <= 10"
    exc = ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Op")
    text = explain(exc, "doing x")
    assert "Member must have length <= 10" in text and "\n" not in text
